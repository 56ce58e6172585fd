/**
 * MemoryStateManager: the StateManager of kubekv in memory, for unit
 * tests of leader work. Same public surface ({@link StateManagerApi}), the
 * same leadership life cycle, and tests decide who leads.
 *
 * What is the same as StateManager (the code below mirrors it step by
 * step): a new leader raises every bucket's epoch to its term through the
 * store's write path before its onLeader handlers run; onFollower handlers
 * run once the last leader handlers have returned; writes are guarded the
 * same way (NotLeaderError naming the leader on a follower or a deposed
 * leader, FencedError once another leader has raised the epoch, ClosedError
 * after close); a fenced leader aborts its handlers (reason FencedError) and
 * resigns; close() aborts leader work, waits for the handlers at most
 * `shutdownGraceMs` on the injected clock, then refuses writes, closes the
 * buckets and releases the Lease. Options are validated the same way (the
 * timing options by the real LeaseElector's constructor).
 *
 * What differs: there is no election. A replica leads only when the test
 * says so ({@link MemoryStateManager.elect}, or at start while nobody holds
 * the Lease) and stops when the test says so
 * ({@link MemoryStateManager.depose}, {@link MemoryStateManager.fence}, or
 * another replica's elect()); renewals always succeed; a fenced replica
 * does not contend again by itself. start() resolves once this replica leads
 * (epochs raised, handlers about to run) or follows. `handleSignals` is
 * accepted but installs no process signal handlers.
 *
 * @module
 */
import { sleep, systemClock, type Clock, type TimerHandle } from '../clock.js';
import { LeaseElector } from '../election/lease-elector.js';
import { AbortedError, ClosedError, FencedError, InvalidOptionError, NotLeaderError } from '../errors.js';
import { validateName } from '../kube/config.js';
import { silentLogger, type Logger } from '../logger.js';
import type { FollowerContext, LeaderContext, StateManagerOptions, StateStatus } from '../state/state-manager.js';
import { checkEpoch } from '../state/fencing.js';
import { parseBucket, type BucketState } from '../store/bucket-state.js';
import type { WriteOp } from '../store/commit.js';
import type { StoreStatus } from '../store/types.js';
import { Backoff } from '../kube/backoff.js';
import { MemoryCluster, clusterState } from './memory-cluster.js';
import { MemoryElector } from './memory-elector.js';
import { MemoryLeaseLock } from './memory-lease-lock.js';
import { DEFAULT_NAMESPACE, MemoryStore, memoryStoreInternals } from './memory-store.js';
import { raiseEpochAs } from './memory-writes.js';
import type { StateManagerApi } from '../state/state-manager-api.js';

/** Options of {@link MemoryStateManager.start}: those of StateManager.start, the cluster, and whether to lead at once. */
export interface MemoryStateManagerOptions extends StateManagerOptions {
  /**
   * Where the Lease and the buckets live; give every replica of a test the
   * same one. kubeConfig is ignored.
   * @default a new MemoryCluster of this replica's own
   */
  cluster?: MemoryCluster | undefined;
  /**
   * Become leader during start() if no replica holds the Lease (as a lone
   * replica would). false: start as a follower until {@link MemoryStateManager.elect}.
   * @default true
   */
  elect?: boolean | undefined;
}

/** Options of {@link MemoryStateManager.elect}. */
export interface ElectOptions {
  /**
   * Whether the replica that led until now (a MemoryStateManager on the same
   * cluster) sees the new holder at once and stops leading (true), or does
   * not (false: a paused process), so it keeps acting as leader until its
   * next bucket write fails with FencedError.
   * @default true
   */
  notifyPrevious?: boolean | undefined;
}

/** Options of {@link MemoryStateManager.depose}. */
export interface DeposeOptions {
  /** Who holds the Lease now (named by NotLeaderError and `leader`); undefined when the Lease merely lapsed. */
  leader?: string | undefined;
}

/** Options of {@link MemoryStateManager.fence}. */
export interface FenceOptions {
  /** Identity of the replica (outside the test) that takes over. @default "another-replica" */
  leader?: string | undefined;
}

type Phase = 'follower' | 'raising' | 'leader' | 'fenced' | 'closed';

/** Highest bucket epoch a Lease term can exceed (leaseTransitions is an int32). */
const MAX_EPOCH = 2 ** 31 - 3;
/** Longest timer Node accepts. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A replica of a StateManager app, in memory: the StateManager's API and
 * write guarding, leadership decided by the test. Start one per simulated
 * replica with {@link MemoryStateManager.start}; give replicas one
 * {@link MemoryCluster} to make them share the Lease and the buckets.
 *
 * @example
 * ```ts
 * import { MemoryStateManager } from 'kubekv/testing';
 * await using state = await MemoryStateManager.start({ name: 'my-app' }); // leads
 * state.onLeader(({ store, signal }) => runLeaderLoop(store, signal));
 * await state.depose({ leader: 'pod-b' });        // leader work aborted, onFollower runs
 * await state.store.put('k', 'v');                // rejects: NotLeaderError (leader 'pod-b')
 * ```
 */
export class MemoryStateManager implements StateManagerApi {
  /** This replica's identity: the holder name it writes into the Lease. */
  readonly identity: string;
  /** Namespace of the Lease and the buckets. */
  readonly namespace: string;
  /** The cluster holding the Lease and the buckets. */
  readonly cluster: MemoryCluster;
  readonly #stores: Map<string, MemoryStore>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #graceMs: number;
  readonly #elector: MemoryElector;
  readonly #leaderHandlers: Array<(ctx: LeaderContext) => unknown> = [];
  readonly #followerHandlers: Array<(ctx: FollowerContext) => unknown> = [];
  #phase: Phase = 'follower';
  #epoch: number | undefined;
  #leaderWork: AbortController | undefined;
  readonly #leaderRuns = new Set<Promise<void>>();
  #leaderEnded: Promise<void> = Promise.resolve();
  #followerWork: AbortController | undefined;
  #lastError: Error | undefined;
  #closeRequested = false;
  #closing: Promise<void> | undefined;

  private constructor(cluster: MemoryCluster, stores: Map<string, MemoryStore>, namespace: string, identity: string, leaseName: string, options: MemoryStateManagerOptions, graceMs: number) {
    this.cluster = cluster;
    this.#stores = stores;
    this.namespace = namespace;
    this.identity = identity;
    this.#log = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    this.#leaseMs = options.leaseDurationMs ?? 15_000;
    this.#graceMs = graceMs;
    this.#elector = new MemoryElector({
      identity,
      lease: clusterState(cluster).leaderLease(namespace, leaseName),
      clock: this.#clock,
      logger: this.#log,
      onStartedLeading: (leadership) => this.#becomeLeader(leadership),
      onStoppedLeading: () => this.#becomeFollower(),
    });
    for (const store of stores.values()) {
      store[memoryStoreInternals].setWriteHooks({
        epochOf: () => (this.#phase === 'leader' ? this.#epoch : undefined),
        guard: (base, ops, epoch) => this.#guard(base, ops, epoch),
      });
    }
  }

  /**
   * Validates the options as StateManager.start does, opens (by default
   * creates) the buckets in the cluster and, unless `elect: false` or
   * another replica holds the Lease, becomes leader: resolves once this
   * replica leads (every epoch raised) or follows.
   */
  static async start(options: MemoryStateManagerOptions): Promise<MemoryStateManager> {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object with at least `name`');
    validateName('name', options.name);
    const bucketNames = options.buckets ?? [`${options.name}-state`];
    if (!Array.isArray(bucketNames) || bucketNames.length === 0) throw new InvalidOptionError('buckets', bucketNames, 'a non-empty array of bucket names');
    bucketNames.forEach((b, i) => validateName(`buckets[${i}]`, b));
    if (new Set(bucketNames).size !== bucketNames.length) throw new InvalidOptionError('buckets', bucketNames, 'bucket names must be distinct');
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', signal, 'an AbortSignal');
    const cluster = options.cluster ?? new MemoryCluster();
    if (!(cluster instanceof MemoryCluster)) throw new InvalidOptionError('cluster', cluster, 'a MemoryCluster');
    if (options.elect !== undefined && typeof options.elect !== 'boolean') throw new InvalidOptionError('elect', options.elect, 'a boolean');
    const namespace = options.namespace === undefined ? DEFAULT_NAMESPACE : validateName('namespace', options.namespace);
    const leaseName = options.leaseName ?? `${options.name}-leader`;
    const server = clusterState(cluster);
    // The real elector's constructor checks the Lease name, identity and
    // timing rules (and picks the default identity); it is never started.
    const elector = new LeaseElector({
      name: leaseName,
      namespace,
      identity: options.identity,
      leaseDurationMs: options.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
      clock: options.clock,
      logger: options.logger,
      lock: new MemoryLeaseLock(server, namespace, leaseName),
    });
    const graceMs = options.shutdownGraceMs ?? options.leaseDurationMs ?? 15_000;
    if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs < 0 || graceMs > MAX_TIMER_MS) {
      throw new InvalidOptionError('shutdownGraceMs', graceMs, `a number of milliseconds from 0 to ${MAX_TIMER_MS}`);
    }
    if (signal?.aborted) throw new AbortedError('start of the state manager', { cause: signal.reason });
    const stores = new Map<string, MemoryStore>();
    try {
      for (const name of bucketNames) {
        stores.set(name, await MemoryStore.open({
          name,
          namespace,
          cluster,
          create: options.create ?? true,
          app: options.name.slice(0, 63),
          ...(options.compression === undefined ? {} : { compression: options.compression }),
          ...(options.logger ? { logger: options.logger } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
          ...(signal ? { signal } : {}),
        }));
      }
    } catch (err) {
      for (const store of stores.values()) await store.close();
      throw err;
    }
    const manager = new MemoryStateManager(cluster, stores, namespace, elector.identity, leaseName, options, graceMs);
    if (options.elect !== false && manager.#elector.leader === undefined) await manager.#elector.acquire(true);
    if (manager.#phase === 'follower' && !manager.#followerWork) manager.#startFollowing();
    return manager;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closeRequested;
  }

  /** True while this replica leads and holds the buckets' epochs (writes allowed). */
  get isLeader(): boolean {
    return this.#phase === 'leader';
  }

  /** The leader's identity as last observed; this replica's own only while it leads. */
  get leader(): string | undefined {
    const observed = this.#elector.leader;
    return observed === this.identity && !this.isLeader ? undefined : observed;
  }

  /** The epoch this replica holds on every bucket while leading (its Lease term). */
  get epoch(): number | undefined {
    return this.isLeader ? this.#epoch : undefined;
  }

  /** The first bucket. Writes reject with NotLeaderError unless this replica leads. */
  get store(): MemoryStore {
    return this.bucket(this.#stores.keys().next().value!);
  }

  /** A bucket by name (one of `buckets`); its test controls (loseNextAnswer...) apply to this replica's writes. */
  bucket(name: string): MemoryStore {
    const store = this.#stores.get(name);
    if (!store) throw new InvalidOptionError('bucket', name, `one of ${[...this.#stores.keys()].join(', ')}`);
    return store;
  }

  /** Runs `handler` each time this replica becomes leader (at once if it leads now). close() waits for it to return (see shutdownGraceMs). */
  onLeader(handler: (ctx: LeaderContext) => unknown): this {
    this.#leaderHandlers.push(handler);
    if (this.#phase === 'leader' && this.#leaderWork && !this.#closeRequested) this.#runLeader(handler, this.#leaderWork.signal);
    return this;
  }

  /** Runs `handler` each time this replica becomes a follower (at once if it follows now). */
  onFollower(handler: (ctx: FollowerContext) => unknown): this {
    this.#followerHandlers.push(handler);
    if (this.#followerWork && !this.#followerWork.signal.aborted) this.#runFollower(handler, this.#followerWork.signal);
    return this;
  }

  /** Leadership and cache health. Renewals always succeed in the double: `lastRenewAt` is the clock's now while the Lease is held. */
  status(): StateStatus {
    const buckets: Record<string, StoreStatus> = {};
    for (const [name, store] of this.#stores) buckets[name] = store.status();
    return {
      identity: this.identity,
      isLeader: this.isLeader,
      leader: this.leader,
      epoch: this.epoch,
      lastRenewAt: this.#elector.lastRenewAt,
      holdsLease: this.#elector.isLeader,
      leaseDurationMs: this.#leaseMs,
      buckets,
      lastError: this.#lastError,
    };
  }

  /** Liveness as StateManager.isLive judges it; renewals never stall in the double, so false only after close(). */
  isLive(toleranceMs = 20_000): boolean {
    if (this.#closeRequested) return false;
    const renewedAt = this.#elector.lastRenewAt;
    if (!this.#elector.isLeader || renewedAt === undefined) return true;
    return this.#clock.now() - renewedAt <= this.#leaseMs + toleranceMs;
  }

  /** Hands over as StateManager.close() does (see the module doc). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Makes this replica take the Lease with the next term, as an election
   * win would: a replica on the same cluster that led stops leading (unless
   * `notifyPrevious: false`), this one raises every bucket's epoch to its
   * term, then runs its onLeader handlers. Resolves once it leads (or, if a
   * bucket holds a higher epoch, once it was fenced and resigned). Does
   * nothing more while this replica already holds the Lease. Rejects with
   * ClosedError after close().
   */
  async elect(options: ElectOptions = {}): Promise<void> {
    if (this.#closeRequested) throw new ClosedError('state manager');
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object: { notifyPrevious? }');
    if (options.notifyPrevious !== undefined && typeof options.notifyPrevious !== 'boolean') {
      throw new InvalidOptionError('notifyPrevious', options.notifyPrevious, 'a boolean');
    }
    return this.#elector.acquire(options.notifyPrevious ?? true);
  }

  /**
   * Ends this replica's leadership as losing the Lease does (another holder
   * seen, or renewals failed): the onLeader signal aborts with
   * NotLeaderError, writes reject with NotLeaderError naming `leader`, and
   * once the handlers have returned (at most shutdownGraceMs) the onFollower
   * handlers run. Resolves then. Does nothing while not leading.
   */
  async depose(options: DeposeOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object: { leader? }');
    const leader = checkIdentity('leader', options.leader, true);
    if (leader === this.identity) throw new InvalidOptionError('leader', leader, `another replica's identity than this one's (${this.identity})`);
    await this.#elector.lose(leader);
  }

  /**
   * Another replica (outside the test) takes the Lease with the next term
   * and raises every bucket's epoch to it, while this replica does not
   * notice (a paused process): it keeps `isLeader` and its handlers keep
   * running until its next bucket write, which rejects with FencedError (and
   * so does every later one); it then aborts its onLeader signal (reason:
   * the FencedError), resigns and becomes a follower, as StateManager does.
   * Replicas on the same cluster that follow see the new leader. Resolves
   * once the epochs are raised.
   */
  async fence(options: FenceOptions = {}): Promise<void> {
    if (this.#closeRequested) throw new ClosedError('state manager');
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object: { leader? }');
    const leader = checkIdentity('leader', options.leader ?? 'another-replica', false)!;
    if (leader === this.identity) throw new InvalidOptionError('leader', leader, `another replica's identity than this one's (${this.identity})`);
    const server = clusterState(this.cluster);
    // Its term is above the Lease's and every bucket's epoch, so its raises land.
    let term = (this.#elector.transitions ?? -1) + 1;
    for (const name of this.#stores.keys()) {
      const object = server.getConfigMap(this.namespace, name);
      if (object) term = Math.max(term, parseBucket(object).epoch + 1);
    }
    this.#elector.supersede(leader, term);
    for (const name of this.#stores.keys()) raiseEpochAs(server, this.namespace, name, term, leader);
    await Promise.resolve();
  }

  async #shutdown(): Promise<void> {
    this.#closeRequested = true;
    this.#followerWork?.abort(new ClosedError('state manager'));
    await this.#drainLeaderWork(new ClosedError('state manager'));
    this.#phase = 'closed';
    this.#epoch = undefined;
    for (const store of this.#stores.values()) await store.close();
    await this.#elector.close();
    this.#log.info({ identity: this.identity }, 'state manager closed');
  }

  async #becomeLeader(leadership: AbortSignal): Promise<void> {
    // The term of THIS leadership period, read before any await.
    const term = this.#elector.term;
    await this.#leaderEnded;
    if (this.#closeRequested || leadership.aborted || term === undefined) return;
    this.#followerWork?.abort(new NotLeaderError(this.identity));
    this.#followerWork = undefined;
    this.#phase = 'raising';
    this.#epoch = term;
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
    for (const [name, store] of this.#stores) {
      for (;;) {
        try {
          await store[memoryStoreInternals].raiseEpoch(term, this.identity, leadership);
          break;
        } catch (err) {
          if (leadership.aborted || this.#phase !== 'raising') return;
          if (err instanceof FencedError) return this.#fenced(err);
          this.#lastError = err as Error;
          this.#log.warn({ bucket: name, code: (err as { code?: string }).code }, 'raising the leader epoch failed; retrying');
          await sleep(this.#clock, backoff.next(), leadership).catch(() => {});
          if (leadership.aborted) return;
        }
      }
    }
    if (leadership.aborted || this.#phase !== 'raising' || this.#closeRequested) return;
    this.#phase = 'leader';
    const work = new AbortController();
    leadership.addEventListener('abort', () => work.abort(leadership.reason), { once: true });
    this.#leaderWork = work;
    this.#log.info({ identity: this.identity, epoch: term }, 'leading: epochs raised, starting leader work');
    for (const handler of this.#leaderHandlers) this.#runLeader(handler, work.signal);
  }

  async #becomeFollower(): Promise<void> {
    if (this.#phase !== 'closed') this.#phase = 'follower';
    this.#epoch = undefined;
    const ended = this.#drainLeaderWork(new NotLeaderError(this.leader));
    this.#leaderEnded = ended;
    await ended;
    if (this.#closeRequested || this.#phase !== 'follower' || this.#followerWork) return;
    this.#startFollowing();
  }

  async #drainLeaderWork(reason: Error): Promise<void> {
    this.#leaderWork?.abort(reason);
    this.#leaderWork = undefined;
    if (this.#leaderRuns.size === 0) return;
    let timer: TimerHandle | undefined;
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      const expired = new Promise<boolean>((resolve) => {
        timer = this.#clock.setTimer(() => resolve(true), this.#graceMs);
      });
      const runs = [...this.#leaderRuns];
      const returned = Promise.allSettled(runs).then(() => false);
      if (await Promise.race([returned, expired])) {
        this.#log.warn({ identity: this.identity, graceMs: this.#graceMs, running: runs.length }, 'onLeader handlers still running after shutdownGraceMs; going on without them');
        for (const run of runs) this.#leaderRuns.delete(run);
      }
    } finally {
      timer?.cancel();
      clearInterval(keepAlive);
    }
  }

  #startFollowing(): void {
    const work = new AbortController();
    this.#followerWork = work;
    for (const handler of this.#followerHandlers) this.#runFollower(handler, work.signal);
  }

  /** StateManager's guard: leading, under the epoch the write was made under, on a state carrying exactly that epoch. */
  #guard(base: BucketState, ops: readonly WriteOp[], epoch: number | undefined): void {
    if (this.#phase === 'closed') throw new ClosedError('state manager');
    if (ops.some((op) => op.kind === 'epoch')) {
      if (this.#phase !== 'raising') throw new NotLeaderError(this.leader);
      return;
    }
    if (this.#phase === 'fenced' && this.#lastError instanceof FencedError) {
      throw new FencedError(this.#lastError.heldEpoch, this.#lastError.currentEpoch);
    }
    if (this.#phase !== 'leader' || this.#epoch === undefined) throw new NotLeaderError(this.leader);
    if (epoch !== this.#epoch) throw new NotLeaderError(this.leader);
    try {
      checkEpoch(base, this.#epoch, this.identity);
    } catch (err) {
      if (err instanceof FencedError) this.#fenced(err);
      throw err;
    }
  }

  /** The bucket's epoch is not ours: stop leader work now, then resign with the next term lifted above it. */
  #fenced(err: FencedError): void {
    if (this.#phase !== 'leader' && this.#phase !== 'raising') return;
    this.#lastError = err;
    this.#phase = 'fenced';
    this.#log.warn({ identity: this.identity, held: err.heldEpoch, current: err.currentEpoch }, 'fenced: the bucket carries another leader epoch; stopping leader work and resigning');
    const floor = err.currentEpoch <= MAX_EPOCH ? err.currentEpoch : undefined;
    void (async () => {
      await this.#drainLeaderWork(err);
      if (this.#closeRequested) return;
      await this.#elector.resign({ nextTermAbove: floor });
    })().catch((failure: unknown) => this.#log.error({ code: (failure as { code?: unknown }).code }, 'resigning after a fence failed'));
  }

  #runLeader(handler: (ctx: LeaderContext) => unknown, signal: AbortSignal): void {
    const ctx: LeaderContext = {
      signal,
      store: this.store,
      bucket: (name) => this.bucket(name),
      epoch: this.#epoch ?? 0,
    };
    const run = this.#invoke('onLeader', () => handler(ctx));
    this.#leaderRuns.add(run);
    void run.finally(() => this.#leaderRuns.delete(run));
  }

  #runFollower(handler: (ctx: FollowerContext) => unknown, signal: AbortSignal): void {
    const ctx: FollowerContext = { signal, leader: this.leader, store: this.store, bucket: (name) => this.bucket(name) };
    void this.#invoke('onFollower', () => handler(ctx));
  }

  #invoke(what: string, fn: () => unknown): Promise<void> {
    try {
      return Promise.resolve(fn()).then(() => undefined, (err: unknown) => this.#handlerFailed(what, err));
    } catch (err) {
      this.#handlerFailed(what, err);
      return Promise.resolve();
    }
  }

  #handlerFailed(what: string, err: unknown): void {
    if (err instanceof NotLeaderError || err instanceof FencedError || err instanceof ClosedError) return;
    const code = (err as { code?: unknown } | null)?.code;
    this.#log.error({ identity: this.identity, error: err instanceof Error ? err.name : typeof err, code }, `${what} handler failed`);
  }
}

function checkIdentity(option: string, value: unknown, optional: boolean): string | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(option, value, 'a non-empty replica identity');
  return value;
}
