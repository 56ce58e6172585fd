/**
 * MemoryStateManager: the real StateManager on a {@link MemoryCluster}; its
 * controls write the Lease (and, for fence, the buckets) as another replica
 * would, and the real election, fencing and handover do the rest.
 *
 * @module
 */
import { bucketForm } from '../codec/bucket-kind.js';
import { EPOCH_ANNOTATION } from '../codec/index.js';
import { ClosedError, InvalidOptionError } from '../errors.js';
import { KubeLeaseLock } from '../election/lease-lock.js';
import { StateManager, type FollowerContext, type LeaderContext, type StateManagerOptions, type StateStatus, type StepDownOptions } from '../state/state-manager.js';
import type { LeaderInfo, ReleaseOutcome } from '../election/lease-elector.js';
import type { StateManagerApi } from '../state/state-manager-api.js';
import { ConfigMapStore, storeInternals } from '../store/configmap-store.js';
import { HttpStatusError } from '../kube/errors.js';
import type { Parsed } from './fake-cluster.js';
import { openReplica, until, type MemoryCluster, type Replica } from './memory-cluster.js';
import { MemoryStore } from './memory-store.js';

/** Options of {@link MemoryStateManager.start}: StateManager.start's (`kubeConfig`, `api` ignored), the cluster, and whether to contend. */
export interface MemoryStateManagerOptions extends StateManagerOptions {
  /** Where the Lease and the buckets live; give every replica of a test the same one. @default a new MemoryCluster */
  cluster?: MemoryCluster | undefined;
  /** Contend from the start, as a real replica does; false: lose every race for the Lease until elect(). @default true */
  elect?: boolean | undefined;
}

/** Options of {@link MemoryStateManager.elect}. */
export interface ElectOptions {
  /** False: the replica that led is a paused process, blind to the Lease until its next Lease request (a renewal). @default true */
  notifyPrevious?: boolean | undefined;
}

/** Options of {@link MemoryStateManager.depose}. */
export interface DeposeOptions {
  /** Who takes the Lease; undefined: it is released, as when it lapsed. */
  leader?: string | undefined;
}

/** Options of {@link MemoryStateManager.fence}. */
export interface FenceOptions {
  /** Who (outside the test) takes over. @default "another-replica" */
  leader?: string | undefined;
}

/**
 * A replica of a StateManager app on a {@link MemoryCluster}: the real
 * StateManager, leadership changed by the test. Start one per replica.
 *
 * @example
 * ```ts
 * await using state = await MemoryStateManager.start({ name: 'my-app' }); // leads
 * await state.depose({ leader: 'pod-b' }); // leader work aborted, onFollower runs
 * ```
 */
export class MemoryStateManager implements StateManagerApi {
  /** The cluster holding the Lease and the buckets. */
  readonly cluster: MemoryCluster;
  #manager!: StateManager;
  readonly #replica: Replica;
  readonly #leaseName: string;
  readonly #retryMs: number;
  readonly #stores = new Map<string, MemoryStore>();
  #followed = 0;
  /** While true, this replica's creates and updates of the Lease are answered 409, as if another replica always won the race. */
  #losing: boolean;
  /** Ends the hold on this replica's Lease watch (a paused process), if one is laid. */
  #wake: (() => void) | undefined;
  readonly #unreact: () => void;

  private constructor(replica: Replica, options: MemoryStateManagerOptions) {
    if (options.elect !== undefined && typeof options.elect !== 'boolean') throw new InvalidOptionError('elect', options.elect, 'a boolean');
    [this.#replica, this.cluster, this.#losing] = [replica, replica.cluster, options.elect === false];
    this.#leaseName = options.leaseName ?? `${options.name}-leader`;
    this.#retryMs = options.retryPeriodMs ?? 2_000;
    this.#unreact = replica.cluster.fake.react((request) => this.#isLease(request), (send, request) => {
      // A paused process that makes a request again is awake: it sees what it missed.
      this.#wakeUp();
      return this.#losing && request.verb !== 'get' && request.verb !== 'list' ? Promise.reject(new HttpStatusError(409, '{"message":"another replica won"}')) : send();
    });
  }

  /** StateManager.start on the cluster (`handleSignals` installs nothing); resolves once this replica leads (every epoch raised) or follows. */
  static async start(options: MemoryStateManagerOptions): Promise<MemoryStateManager> {
    const state = new MemoryStateManager(openReplica(options), options);
    const manager = await StateManager.start({ ...options, kubeConfig: undefined, api: state.#replica.api, clock: state.#replica.clock, handleSignals: false }).catch((err: unknown) => {
      state.#unreact();
      throw err;
    });
    // Registered first, so it runs before the app's handlers: depose() waits for it.
    state.#manager = manager.onFollower(() => void state.#followed++);
    state.cluster.replicas.add(state);
    await until(() => !manager.status().holdsLease || manager.isLeader);
    return state;
  }

  get identity(): string { return this.#manager.identity; }
  get namespace(): string { return this.#manager.namespace; }
  get closed(): boolean { return this.#manager.closed; }
  get isLeader(): boolean { return this.#manager.isLeader; }
  get leader(): string | undefined { return this.#manager.leader; }
  get epoch(): number | undefined { return this.#manager.epoch; }
  get store(): MemoryStore { return this.bucket(this.#manager.store.name); }
  /** A bucket by name (one of `buckets`); its test controls (loseNextAnswer...) apply to this replica's requests. */
  bucket(name: string): MemoryStore {
    const store = this.#manager.bucket(name) as ConfigMapStore;
    if (!this.#stores.has(name)) this.#stores.set(name, new MemoryStore(store, this.#replica));
    return this.#stores.get(name)!;
  }
  /** StateManager.onLeader; the handler's buckets are this replica's MemoryStores (so their controls apply to its writes). */
  onLeader(handler: (ctx: LeaderContext) => unknown): this {
    this.#manager.onLeader((ctx) => handler({ ...ctx, store: this.store, bucket: (name) => this.bucket(name) }));
    return this;
  }
  /** StateManager.onFollower; the handler's buckets are this replica's MemoryStores. */
  onFollower(handler: (ctx: FollowerContext) => unknown): this {
    this.#manager.onFollower((ctx) => handler({ ...ctx, store: this.store, bucket: (name) => this.bucket(name) }));
    return this;
  }
  /** StateManager.onLeaderChange. */
  onLeaderChange(handler: (leader: LeaderInfo | undefined) => unknown): this {
    this.#manager.onLeaderChange(handler);
    return this;
  }
  /** StateManager.resign(): leader work ends, the Lease is released, this replica sits out the cool-down on the cluster's clock. */
  resign(options?: StepDownOptions): Promise<ReleaseOutcome> { return this.#manager.resign(options); }
  /** StateManager.handoff(). */
  handoff(identity: string, options?: StepDownOptions): Promise<ReleaseOutcome> { return this.#manager.handoff(identity, options); }
  status(): StateStatus { return this.#manager.status(); }
  isLive(toleranceMs?: number): boolean { return this.#manager.isLive(toleranceMs); }
  /** Same as close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> { return this.close(); }

  /** StateManager.close(): hands over (see StateManager). Idempotent. */
  async close(): Promise<void> {
    this.cluster.replicas.delete(this);
    this.#wakeUp();
    await this.#manager.close();
    this.#unreact();
  }

  /** Makes this replica leader with the next term: the Lease is written naming it (or, with none yet, its clock leaps to its next attempt); resolves once it leads or was fenced. */
  async elect(options: ElectOptions = {}): Promise<void> {
    if (this.closed) throw new ClosedError('state manager');
    const notify = options?.notifyPrevious;
    if (notify !== undefined && typeof notify !== 'boolean') throw new InvalidOptionError('notifyPrevious', notify, 'a boolean');
    if (this.status().holdsLease) return until(() => this.isLeader);
    this.#losing = false;
    if (notify === false) for (const other of this.cluster.replicas) if (other.isLeader) other.#pause();
    // Leading, its onLeader handlers have started (the StateManager runs them as it takes the lead).
    const lastError = this.status().lastError;
    const done = () => this.isLeader || this.status().lastError !== lastError;
    if (this.cluster.fake.object('leases', this.namespace, this.#leaseName)) await this.#writeLease(this.identity, (term) => term);
    else await this.#replica.clock.leap(2.2 * this.#retryMs, done);
    await until(done);
  }

  /** Writes the Lease naming `leader` (or released): leadership ends as on losing it; resolves once onFollower ran. This replica then loses every race until elect(). */
  async depose(options: DeposeOptions = {}): Promise<void> {
    const leader = checkLeader(options?.leader, this.identity, undefined);
    if (!this.status().holdsLease) return;
    this.#losing = true;
    const followed = this.#followed;
    await this.#writeLease(leader ?? '', (term) => term + (leader ? 1 : 0));
    await until(() => this.#followed > followed);
  }

  /** Another leader takes the Lease and raises every bucket's epoch while this replica is paused: its next write rejects with FencedError. Resolves once raised. */
  async fence(options: FenceOptions = {}): Promise<void> {
    if (this.closed) throw new ClosedError('state manager');
    const leader = checkLeader(options?.leader, this.identity, 'another-replica')!;
    this.#pause();
    const buckets = Object.keys(this.status().buckets).map((name) => this.#manager.bucket(name) as ConfigMapStore);
    const epochs = buckets.map((b) => Number(this.cluster.fake.object(bucketForm(b.kind).resource, this.namespace, b.name)?.metadata?.annotations?.[EPOCH_ANNOTATION] ?? 0));
    // Above the Lease's term and every bucket's epoch, so the raises land.
    const term = await this.#writeLease(leader, (transitions) => Math.max(transitions, ...epochs) + 1);
    for (const { name, kind } of buckets) {
      const other = await ConfigMapStore.open({ name, kind, namespace: this.namespace, api: this.cluster.fake.api, events: false });
      await other[storeInternals].raiseEpoch(term, leader, new AbortController().signal).finally(() => other.close());
    }
  }

  /** Holds this replica's Lease watch back, as a paused process's, until its next Lease request. */
  #pause(): void {
    this.#wake ??= this.cluster.fake.hold((watch) => this.#isLease(watch));
  }

  #wakeUp(): void {
    this.#wake?.();
    this.#wake = undefined;
  }

  /** Whether `request` is this replica's and about its Lease. */
  #isLease(request: Parsed): boolean {
    return request.port === this.#replica.api && request.resource === 'leases' && request.about === this.#leaseName;
  }

  /** Writes the Lease as another replica would: held by `holder` ('': released), at leaseTransitions `term(current)`, which it returns. */
  async #writeLease(holder: string, term: (transitions: number) => number): Promise<number> {
    const lock = new KubeLeaseLock({ api: this.cluster.fake.api, namespace: this.namespace, name: this.#leaseName });
    for (;;) {
      const current = await lock.get();
      const now = new Date(this.#replica.clock.now());
      const leaseDurationSeconds = holder ? this.status().leaseDurationMs / 1000 : 1;
      const record = { holderIdentity: holder, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: term(current?.record.leaseTransitions ?? 0) };
      const result = current ? await lock.update(record, current.resourceVersion) : await lock.create(record);
      if (result.ok) return record.leaseTransitions;
    }
  }
}

function checkLeader(value: unknown, self: string, fallback: string | undefined): string | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError('leader', value, 'a non-empty replica identity');
  if (value === self) throw new InvalidOptionError('leader', value, `another replica's identity than this one's (${self})`);
  return value;
}
