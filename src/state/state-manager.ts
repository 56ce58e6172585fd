/**
 * StateManager: safe shared state for a scaled Deployment. One Lease elects a
 * leader among the replicas; only the leader writes the buckets; followers
 * read from their watch-fed caches.
 *
 * Guarantees:
 * - Only the leader mutates: a write on a follower (or while a new leader is
 *   still raising its epoch) rejects with NotLeaderError naming the leader,
 *   without a request.
 * - Fencing (see fencing.ts): a new leader raises every bucket's epoch with a
 *   CAS write before its onLeader handlers run; a deposed leader's writes
 *   reject with FencedError and it stops its leader work. No write from a
 *   deposed leader lands after the new leader's first write.
 * - close() stops new writes, waits for writes in flight, aborts onLeader
 *   work and releases the Lease, so a follower takes over at once.
 *
 * Non-guarantees: leader handlers that act outside the buckets are not fenced
 * (use `epoch`); a follower's reads lag the leader by its watch delay.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { sleep, systemClock, type Clock } from '../clock.js';
import type { CompressionOptions } from '../codec/index.js';
import { EPOCH_ANNOTATION } from '../codec/index.js';
import { LeaseElector } from '../election/index.js';
import { ClosedError, FencedError, InvalidOptionError, NotLeaderError } from '../errors.js';
import { loadKubeConfig, resolveNamespace, validateName } from '../kube/config.js';
import { silentLogger, type Logger } from '../logger.js';
import { ConfigMapStore, storeInternals } from '../store/configmap-store.js';
import type { ReadableStore, Store, StoreStatus } from '../store/types.js';
import { Backoff } from '../watch/backoff.js';
import { checkEpoch, raiseEpoch } from './fencing.js';

/** Options of {@link StateManager.start}. */
export interface StateManagerOptions {
  /** App name: the Lease is `<name>-leader` and the default bucket `<name>-state` unless set below. */
  name: string;
  /** Namespace; default: NAMESPACE env, the service-account namespace, the kubeconfig context, "default". */
  namespace?: string;
  /** Cluster access; default: in-cluster, else KUBECONFIG, else ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** This replica's identity; default POD_NAME, else hostname + random suffix. Must be unique per replica. */
  identity?: string;
  /** Bucket names; the first is `store`. Default [`<name>-state`]. */
  buckets?: string[];
  /** Lease name. Default `<name>-leader`. */
  leaseName?: string;
  /** Create missing buckets. Default true. */
  create?: boolean;
  /** See LeaseElectorOptions.leaseDurationMs. @default 15000 */
  leaseDurationMs?: number;
  /** See LeaseElectorOptions.renewDeadlineMs. @default 10000 */
  renewDeadlineMs?: number;
  /** See LeaseElectorOptions.retryPeriodMs. @default 2000 */
  retryPeriodMs?: number;
  /** Value compression of the buckets. */
  compression?: CompressionOptions | boolean;
  /** pino-compatible logger; keys and values are never logged. */
  logger?: Logger;
  /** Time source. */
  clock?: Clock;
  /**
   * Install SIGTERM/SIGINT handlers that close() (releasing the Lease) and
   * then let the signal take its default course. Keep terminationGracePeriodSeconds
   * above the time your leader work needs to stop. @default false
   */
  handleSignals?: boolean;
}

/** What an onLeader handler gets. */
export interface LeaderContext {
  /** Aborts the moment leadership is lost (or on close): stop leader work then. */
  readonly signal: AbortSignal;
  /** The first bucket, writable. */
  readonly store: Store;
  /** A bucket by name. */
  bucket(name: string): Store;
  /** The epoch this leadership holds on the first bucket (grows with each leader). */
  readonly epoch: number;
}

/** What an onFollower handler gets. */
export interface FollowerContext {
  /** Aborts when this replica becomes leader or closes. */
  readonly signal: AbortSignal;
  /** The leader's identity when this follower period began (see `manager.leader` for the live value). */
  readonly leader: string | undefined;
  /** The first bucket, read-only. */
  readonly store: ReadableStore;
  /** A bucket by name, read-only. */
  bucket(name: string): ReadableStore;
}

/** Health of a replica. */
export interface StateStatus {
  identity: string;
  isLeader: boolean;
  /** Current leader identity as last observed. */
  leader: string | undefined;
  /** Epoch held on the first bucket while leading. */
  epoch: number | undefined;
  /** Wall-clock ms of the last successful Lease renewal by this replica. */
  lastRenewAt: number | undefined;
  /** Every bucket's cache health. */
  buckets: Record<string, StoreStatus>;
  /** The last leadership error (e.g. a FencedError), if any. */
  lastError: Error | undefined;
}

type Phase = 'follower' | 'raising' | 'leader' | 'fenced' | 'closed';

/** Elector + buckets + fencing + hooks. Start one per replica with {@link StateManager.start}. */
export class StateManager implements AsyncDisposable {
  readonly identity: string;
  readonly namespace: string;
  readonly #stores: Map<string, ConfigMapStore>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #elector: LeaseElector;
  readonly #leaderHandlers: Array<(ctx: LeaderContext) => unknown> = [];
  readonly #followerHandlers: Array<(ctx: FollowerContext) => unknown> = [];
  #phase: Phase = 'follower';
  #epochs = new Map<string, number>();
  #leaderWork: AbortController | undefined;
  #followerWork: AbortController | undefined;
  #lastError: Error | undefined;
  #closing: Promise<void> | undefined;
  #signalHandlers: Array<[NodeJS.Signals, () => void]> = [];

  private constructor(stores: Map<string, ConfigMapStore>, namespace: string, options: StateManagerOptions, kc: KubeConfig) {
    this.#stores = stores;
    this.namespace = namespace;
    this.#log = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    this.#elector = new LeaseElector({
      name: options.leaseName ?? `${options.name}-leader`,
      namespace,
      kubeConfig: kc,
      identity: options.identity,
      leaseDurationMs: options.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
      clock: options.clock,
      logger: options.logger,
      onStartedLeading: (signal) => this.#becomeLeader(signal),
      onStoppedLeading: () => this.#becomeFollower(),
    });
    this.identity = this.#elector.identity;
    for (const [name, store] of stores) {
      store[storeInternals].setWriteHooks({
        guard: (base) => this.#guard(name, base),
        annotations: () => ({ [EPOCH_ANNOTATION]: String(this.#epochs.get(name) ?? 0) }),
      });
    }
  }

  /**
   * Opens the buckets, starts contending for the Lease and resolves once this
   * replica knows whether it leads (handlers registered afterwards run at once
   * if their role is current).
   */
  static async start(options: StateManagerOptions): Promise<StateManager> {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object with at least `name`');
    validateName('name', options.name);
    const bucketNames = options.buckets ?? [`${options.name}-state`];
    if (!Array.isArray(bucketNames) || bucketNames.length === 0) throw new InvalidOptionError('buckets', bucketNames, 'a non-empty array of bucket names');
    bucketNames.forEach((b, i) => validateName(`buckets[${i}]`, b));
    if (new Set(bucketNames).size !== bucketNames.length) throw new InvalidOptionError('buckets', bucketNames, 'bucket names must be distinct');
    const kc = loadKubeConfig(options.kubeConfig);
    const namespace = resolveNamespace(kc, options.namespace);
    const stores = new Map<string, ConfigMapStore>();
    try {
      for (const name of bucketNames) {
        stores.set(name, await ConfigMapStore.open({
          name,
          namespace,
          kubeConfig: kc,
          create: options.create ?? true,
          app: options.name.slice(0, 63),
          ...(options.compression === undefined ? {} : { compression: options.compression }),
          ...(options.logger ? { logger: options.logger } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
        }));
      }
      const manager = new StateManager(stores, namespace, options, kc);
      await manager.#elector.start();
      if (manager.#phase === 'follower' && !manager.#followerWork) manager.#startFollowing();
      if (options.handleSignals) manager.#installSignalHandlers();
      return manager;
    } catch (err) {
      for (const store of stores.values()) await store.close();
      throw err;
    }
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#phase === 'closed';
  }

  /** True while this replica leads and holds the buckets' epochs (writes allowed). */
  get isLeader(): boolean {
    return this.#phase === 'leader';
  }

  /**
   * The leader's identity as last observed; this replica's own identity only
   * while it leads (a replica that lost leadership without seeing its
   * successor does not name itself).
   */
  get leader(): string | undefined {
    const observed = this.#elector.leader;
    return observed === this.identity && !this.isLeader ? undefined : observed;
  }

  /** The epoch held on the first bucket while leading. */
  get epoch(): number | undefined {
    return this.isLeader ? this.#epochs.get(this.#firstBucket) : undefined;
  }

  /** The first bucket. Writes reject with NotLeaderError unless this replica leads. */
  get store(): Store {
    return this.bucket(this.#firstBucket);
  }

  /** A bucket by name (one of `buckets`). */
  bucket(name: string): Store {
    const store = this.#stores.get(name);
    if (!store) throw new InvalidOptionError('bucket', name, `one of ${[...this.#stores.keys()].join(', ')}`);
    return store;
  }

  /** Runs `handler` each time this replica becomes leader (at once if it leads now). */
  onLeader(handler: (ctx: LeaderContext) => unknown): this {
    this.#leaderHandlers.push(handler);
    if (this.#phase === 'leader' && this.#leaderWork) this.#runLeader(handler, this.#leaderWork.signal);
    return this;
  }

  /** Runs `handler` each time this replica becomes a follower (at once if it follows now). */
  onFollower(handler: (ctx: FollowerContext) => unknown): this {
    this.#followerHandlers.push(handler);
    if (this.#followerWork && !this.#followerWork.signal.aborted) this.#runFollower(handler, this.#followerWork.signal);
    return this;
  }

  /** Leadership and cache health, for probes and dashboards. */
  status(): StateStatus {
    const buckets: Record<string, StoreStatus> = {};
    for (const [name, store] of this.#stores) buckets[name] = store.status();
    return {
      identity: this.identity,
      isLeader: this.isLeader,
      leader: this.leader,
      epoch: this.epoch,
      lastRenewAt: this.#elector.lastRenewAt,
      buckets,
      lastError: this.#lastError,
    };
  }

  /** Stops new writes, waits for writes in flight, aborts leader work and releases the Lease. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get #firstBucket(): string {
    return this.#stores.keys().next().value!;
  }

  async #shutdown(): Promise<void> {
    this.#phase = 'closed';
    for (const [signal, handler] of this.#signalHandlers) process.off(signal, handler);
    // Store close rejects queued writes and waits for the commit in flight;
    // only then may the Lease go, so the next leader never overlaps our writes.
    for (const store of this.#stores.values()) await store.close();
    await this.#elector.close();
    this.#followerWork?.abort(new ClosedError('state manager'));
    this.#log.info({ identity: this.identity }, 'state manager closed');
  }

  async #becomeLeader(electorSignal: AbortSignal): Promise<void> {
    if (this.#phase === 'closed') return;
    this.#followerWork?.abort(new NotLeaderError(this.identity));
    this.#followerWork = undefined;
    this.#phase = 'raising';
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
    const epochs = new Map<string, number>();
    for (const [name, store] of this.#stores) {
      for (;;) {
        try {
          epochs.set(name, await raiseEpoch(store[storeInternals], this.identity, electorSignal));
          break;
        } catch (err) {
          if (electorSignal.aborted || this.#phase !== 'raising') return;
          this.#lastError = err as Error;
          this.#log.warn({ bucket: name, code: (err as { code?: string }).code }, 'raising the leader epoch failed; retrying');
          await sleep(this.#clock, backoff.next(), electorSignal).catch(() => {});
          if (electorSignal.aborted) return;
        }
      }
    }
    if (electorSignal.aborted || this.#phase !== 'raising') return;
    this.#epochs = epochs;
    this.#phase = 'leader';
    const work = new AbortController();
    electorSignal.addEventListener('abort', () => work.abort(electorSignal.reason), { once: true });
    this.#leaderWork = work;
    this.#log.info({ identity: this.identity, epoch: epochs.get(this.#firstBucket) }, 'leading: epochs raised, starting leader work');
    for (const handler of this.#leaderHandlers) this.#runLeader(handler, work.signal);
  }

  #becomeFollower(): void {
    this.#leaderWork?.abort(new NotLeaderError(this.leader));
    this.#leaderWork = undefined;
    this.#epochs = new Map();
    if (this.#phase === 'closed') return;
    this.#phase = 'follower';
    this.#startFollowing();
  }

  #startFollowing(): void {
    const work = new AbortController();
    this.#followerWork = work;
    for (const handler of this.#followerHandlers) this.#runFollower(handler, work.signal);
  }

  #guard(bucket: string, base: Parameters<typeof checkEpoch>[0]): void {
    if (this.#phase === 'closed') throw new ClosedError('state manager');
    if (this.#phase !== 'leader') throw new NotLeaderError(this.leader);
    try {
      checkEpoch(base, this.#epochs.get(bucket) ?? 0);
    } catch (err) {
      if (err instanceof FencedError) this.#fenced(err);
      throw err;
    }
  }

  /** A newer leader wrote: stop leader work now; the elector will find out on its own and step down. */
  #fenced(err: FencedError): void {
    if (this.#phase !== 'leader') return;
    this.#lastError = err;
    this.#phase = 'fenced';
    this.#log.warn({ identity: this.identity, held: err.heldEpoch, current: err.currentEpoch }, 'fenced: a newer leader has written; stopping leader work');
    this.#leaderWork?.abort(err);
  }

  #runLeader(handler: (ctx: LeaderContext) => unknown, signal: AbortSignal): void {
    const ctx: LeaderContext = {
      signal,
      store: this.store,
      bucket: (name) => this.bucket(name),
      epoch: this.#epochs.get(this.#firstBucket) ?? 0,
    };
    this.#invoke('onLeader', () => handler(ctx));
  }

  #runFollower(handler: (ctx: FollowerContext) => unknown, signal: AbortSignal): void {
    const ctx: FollowerContext = { signal, leader: this.leader, store: this.store, bucket: (name) => this.bucket(name) };
    this.#invoke('onFollower', () => handler(ctx));
  }

  #invoke(what: string, fn: () => unknown): void {
    try {
      Promise.resolve(fn()).catch((err: unknown) => this.#handlerFailed(what, err));
    } catch (err) {
      this.#handlerFailed(what, err);
    }
  }

  #handlerFailed(what: string, err: unknown): void {
    // Work aborted because leadership ended is the normal way out.
    if (err instanceof NotLeaderError || err instanceof FencedError || err instanceof ClosedError) return;
    // Code and class only: a message may name a key, and keys are not logged.
    const code = (err as { code?: unknown } | null)?.code;
    this.#log.error({ identity: this.identity, error: err instanceof Error ? err.name : typeof err, code }, `${what} handler failed`);
  }

  #installSignalHandlers(): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const handler = () => {
        this.#log.info({ signal }, 'signal received: closing (releasing the Lease)');
        void this.close().finally(() => {
          process.off(signal, handler);
          process.kill(process.pid, signal);
        });
      };
      process.on(signal, handler);
      this.#signalHandlers.push([signal, handler]);
    }
  }
}
