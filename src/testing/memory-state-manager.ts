/**
 * MemoryStateManager: the real StateManager on a {@link MemoryCluster}; its
 * controls write the Lease (and, for fence, the buckets) as another replica
 * would, and the real election, fencing and handover do the rest.
 *
 * @module
 */
import { bucketForm } from '../codec/bucket-kind.js';
import { EPOCH_ANNOTATION } from '../codec/index.js';
import { ClosedError, ConflictError, InvalidOptionError, UnavailableError } from '../errors.js';
import { KubeLeaseLock } from '../election/lease-lock.js';
import { checkOtherIdentity, type LeaseElector } from '../election/lease-elector.js';
import { StateManager, type StateManagerOptions } from '../state/state-manager.js';
import { ConfigMapStore, storeInternals } from '../store/configmap-store.js';
import type { OpenStoreOptions } from '../store/types.js';
import { HttpStatusError } from '../kube/errors.js';
import type { Parsed } from './fake-cluster.js';
import { MemoryStore, openReplica, until, type MemoryCluster, type Replica } from './memory-store.js';

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
 * StateManager (this class extends it), leadership changed by the test. Start one per replica.
 *
 * @example
 * ```ts
 * await using state = await MemoryStateManager.start({ name: 'my-app' }); // leads
 * await state.depose({ leader: 'pod-b' }); // leader work aborted, onFollower runs
 * ```
 */
export class MemoryStateManager extends StateManager {
  readonly #replica: Replica;
  readonly #leaseName: string;
  readonly #retryMs: number;
  /** The replicas that are not closed, of every cluster. */
  static readonly #live = new Set<MemoryStateManager>();
  #followed = 0;
  /** While true, this replica's creates and updates of the Lease are answered 409, as if another replica always won the race. */
  #losing: boolean;
  /** Ends the hold on this replica's Lease watch (a paused process), if one is laid. */
  #wake: (() => void) | undefined;
  readonly #unreact: () => void;

  /** @internal Made by StateManager.start, as MemoryStateManager.start calls it. */
  protected constructor(stores: Map<string, ConfigMapStore>, namespace: string, elector: LeaseElector, options: MemoryStateManagerOptions, graceMs: number) {
    super(stores, namespace, elector, options, graceMs);
    this.#replica = openReplica(options);
    this.#losing = options.elect === false;
    this.#leaseName = options.leaseName ?? `${options.name}-leader`;
    this.#retryMs = options.retryPeriodMs ?? 2_000;
    this.#unreact = this.cluster.fake.react((request) => this.#isLease(request), (send, request) => {
      // A paused process that makes a request again is awake: it sees what it missed.
      this.#wakeUp();
      return this.#losing && request.verb !== 'get' && request.verb !== 'list' ? Promise.reject(new HttpStatusError(409, '{"message":"another replica won"}')) : send();
    });
    // Registered first, so it runs before the app's handlers: depose() waits for it.
    this.onFollower(() => void this.#followed++);
    MemoryStateManager.#live.add(this);
  }

  /** StateManager.start on the cluster (`handleSignals` installs nothing); resolves once this replica leads (every epoch raised) or follows. */
  static override async start(options: MemoryStateManagerOptions): Promise<MemoryStateManager> {
    const replica = openReplica(options);
    if (options.elect !== undefined && typeof options.elect !== 'boolean') throw new InvalidOptionError('elect', options.elect, 'a boolean');
    const state = await super.start({ ...options, kubeConfig: undefined, api: replica.api, clock: replica.clock, handleSignals: false }).catch((err: unknown) => {
      // Made, then failed to start: its reactor goes with it.
      for (const other of MemoryStateManager.#live) if (other.#replica === replica) other.#detach();
      throw err;
    }) as MemoryStateManager;
    await until(() => !state.status().holdsLease || state.isLeader);
    return state;
  }

  /** @internal Opens the buckets as MemoryStores on this replica's port. */
  protected static override openBucket(options: OpenStoreOptions): Promise<ConfigMapStore> {
    return MemoryStore.open(options);
  }

  /** The cluster holding the Lease and the buckets. */
  get cluster(): MemoryCluster {
    return this.#replica.cluster;
  }

  /** The first bucket, as a MemoryStore: its test controls apply to this replica's requests. */
  override get store(): MemoryStore {
    return super.store as MemoryStore;
  }

  /** A bucket by name (one of `buckets`), as a MemoryStore: its test controls apply to this replica's requests. */
  override bucket(name: string): MemoryStore {
    return super.bucket(name) as MemoryStore;
  }

  /** StateManager.close(): hands over (see StateManager). Idempotent. */
  override async close(): Promise<void> {
    MemoryStateManager.#live.delete(this);
    this.#wakeUp();
    await super.close();
    this.#unreact();
  }

  /** Makes this replica leader with the next term: the Lease is written naming it (or, with none yet, its clock leaps to its next attempt); resolves once it leads or was fenced; rejects with ConflictError if another replica took the Lease first, UnavailableError if this one does not see it. */
  async elect(options: ElectOptions = {}): Promise<void> {
    if (this.closed) throw new ClosedError('state manager');
    const notify = options?.notifyPrevious;
    if (notify !== undefined && typeof notify !== 'boolean') throw new InvalidOptionError('notifyPrevious', notify, 'a boolean');
    if (this.status().holdsLease) {
      await until(() => this.isLeader);
      return;
    }
    this.#losing = false;
    if (notify === false) for (const other of MemoryStateManager.#live) if (other.cluster === this.cluster && other.isLeader) other.#pause();
    // Leading, its onLeader handlers have started (the StateManager runs them as it takes the lead).
    const lastError = this.status().lastError;
    const done = () => this.isLeader || this.status().lastError !== lastError;
    if (this.cluster.fake.object('leases', this.namespace, this.#leaseName)) await this.#writeLease(this.identity, (term) => term);
    else await this.#replica.clock.leap(2.2 * this.#retryMs, done);
    if (await until(done)) return;
    const holder = (this.cluster.fake.object('leases', this.namespace, this.#leaseName) as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity;
    if (holder !== this.identity) throw new ConflictError(`elect(): ${holder ?? 'another replica'} took the Lease before ${this.identity} led (was elect() called for two at once?)`);
    throw new UnavailableError(`elect(): the Lease names ${this.identity}, which has not seen it (are its watches paused?)`);
  }

  /** Writes the Lease naming `leader` (or released): leadership ends as on losing it; resolves once onFollower ran. This replica then loses every race until elect(). */
  async depose(options: DeposeOptions = {}): Promise<void> {
    const leader = options?.leader === undefined ? undefined : checkOtherIdentity('leader', options.leader, this.identity);
    this.#losing = true;
    if (!this.status().holdsLease) return;
    const followed = this.#followed;
    await this.#writeLease(leader ?? '', (term) => term + (leader ? 1 : 0));
    await until(() => this.#followed > followed);
  }

  /** Another leader takes the Lease and raises every bucket's epoch while this replica is paused: its next write rejects with FencedError. Resolves once raised. */
  async fence(options: FenceOptions = {}): Promise<void> {
    if (this.closed) throw new ClosedError('state manager');
    const leader = options?.leader === undefined ? 'another-replica' : checkOtherIdentity('leader', options.leader, this.identity);
    this.#pause();
    const buckets = Object.keys(this.status().buckets).map((name) => this.bucket(name));
    const epochs = buckets.map((b) => Number(this.cluster.fake.object(bucketForm(b.kind).resource, this.namespace, b.name)?.metadata?.annotations?.[EPOCH_ANNOTATION] ?? 0));
    // Above the Lease's term and every bucket's epoch, so the raises land.
    const term = await this.#writeLease(leader, (transitions) => Math.max(transitions, ...epochs) + 1);
    for (const { name, kind } of buckets) {
      const other = await ConfigMapStore.open({ name, kind, namespace: this.namespace, api: this.cluster.fake.controls, events: false });
      await other[storeInternals].raiseEpoch(term, leader, new AbortController().signal).finally(() => other.close());
    }
  }

  /** Holds this replica's Lease watch back, as a paused process's, until its next Lease request. */
  #pause(): void {
    this.#wake ??= this.cluster.fake.hold((watch) => this.#isLease(watch));
  }

  #detach(): void {
    MemoryStateManager.#live.delete(this);
    this.#unreact();
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
    const lock = new KubeLeaseLock({ api: this.cluster.fake.controls, namespace: this.namespace, name: this.#leaseName });
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
