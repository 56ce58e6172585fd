/**
 * StateManager: safe shared state for a scaled Deployment. One Lease elects a
 * leader among the replicas; only the leader writes the buckets; followers
 * read from their watch-fed caches.
 *
 * Guarantees:
 * - Only the leader mutates: a write on a follower (or while a new leader is
 *   still raising its epoch) rejects with NotLeaderError naming the leader,
 *   without a request.
 * - Fencing (see fencing.ts): a new leader raises every bucket's epoch to its
 *   Lease term with a CAS write before its onLeader handlers run; a leader's
 *   write lands only on a state carrying exactly its epoch. No write from a
 *   deposed leader lands after the new leader's first write, and epochs
 *   never go back (also across a recreated bucket or Lease).
 * - A fenced leader recovers: it ends its leader work, resigns (releases the
 *   Lease with the next term lifted above the bucket's epoch) and contends
 *   again; whoever acquires next raises a valid epoch. Nothing stays stuck.
 * - Graceful handover (KEP-5366's order): close() aborts the onLeader
 *   signal, then waits for the onLeader handlers to return, at most
 *   `shutdownGraceMs`, while still renewing the Lease (their final writes
 *   are allowed and fenced as ever). Then it refuses writes, waits for the
 *   commit in flight and only then releases the Lease. The next leader's
 *   work can overlap a handler only if it outlives the grace; a handler's
 *   bucket writes never can (they are refused from then on).
 * - Stepping down (resign(), handoff()) follows close()'s order: leader
 *   work ends first, while the Lease is still held and renewed, then the
 *   Lease is released. Fencing is unchanged by it: a write of the
 *   leadership period that ended is refused from then on (NotLeaderError
 *   from the guard; a CAS that raced the next leader's epoch raise fails),
 *   and the replica carries on as a follower.
 * - start() rejects, leaving nothing behind, with an error no retry can fix
 *   (ForbiddenError when RBAC does not grant the Lease or the buckets, an
 *   InvalidOptionError before any request), or AbortedError on `signal`.
 *
 * Non-guarantees: leader handlers that act outside the buckets are not fenced
 * (use `epoch`); a follower's reads lag the leader by its watch delay.
 */
import type { EtcdBudgetOptions } from '../store/etcd-budget.js';
import type { KubeConfig } from '../kube/types.js';
import { keepingProcessAlive, systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { BucketKind, CompressionOptions } from '../codec/index.js';
import { LeaseElector, type CoordinatedOptions, type LeaderInfo, type LeaseElectorOptions, type ReleaseOutcome } from '../election/index.js';
import { checkElectorOptions, checkOtherIdentity } from '../election/lease-elector.js';
import { AbortedError, ClosedError, FencedError, InvalidOptionError, NotLeaderError } from '../errors.js';
import { EventRecorder, STATE_MANAGER_CONTROLLER, becameLeader, fenced, resolveEvents, stoppedLeading, type LeaseReference } from '../events/index.js';
import { validateName, type KubeConfigSource } from '../kube/config.js';
import { resolveAccess, type KubeApi } from '../kube/api.js';
import { silentLogger, type Logger } from '../logger.js';
import type { MetricsOptions } from '../metrics/metrics.js';
import type { BucketState } from '../store/bucket-state.js';
import type { WriteOp } from '../store/commit.js';
import { ConfigMapStore, storeInternals } from '../store/configmap-store.js';
import { resolveKind } from '../store/inputs.js';
import type { OpenStoreOptions, ReadableStore, Store, StoreStatus } from '../store/types.js';
import { Backoff, retryWithBackoff } from '../kube/backoff.js';
import { checkEpoch } from './fencing.js';

/** Options of {@link StateManager.start}. */
export interface StateManagerOptions {
  /** App name: the Lease is `<name>-leader` and the default bucket `<name>-state` unless set below. */
  name: string;
  /** Namespace; default: NAMESPACE env, the service-account namespace, the kubeconfig context, "default". */
  namespace?: string;
  /**
   * Cluster access: a client-node KubeConfig, or where to find one (a
   * kubeconfig path, or `{ path?, context? }`, as kubectl's `--kubeconfig`
   * and `--context`); default: in-cluster, else KUBECONFIG, else ~/.kube/config.
   */
  kubeConfig?: KubeConfig | KubeConfigSource;
  /**
   * The port to Kubernetes (src/kube/api.ts) every request goes through.
   * Default: the HTTP api of `kubeConfig`. kubekv/testing's FakeCluster
   * gives an in-memory one, so the same code runs in unit tests.
   */
  api?: KubeApi;
  /** This replica's identity; default POD_NAME, else hostname + random suffix. Must be unique per replica. */
  identity?: string;
  /**
   * This replica's address (e.g. `http://${POD_IP}:8080`), recorded with its
   * leadership so that followers can forward requests to the leader (see
   * {@link StateManager.onLeaderChange}, `status().leaderAddress`, `kubekv
   * leader`). See LeaseElectorOptions.advertise. Default: none.
   */
  advertise?: string;
  /**
   * Coordinated leader election: the API server picks the leader among the
   * replicas by version (LeaseCandidate, KEP-4355; beta, off by default
   * through 1.36). See LeaseElectorOptions.coordinated. Fencing is the same
   * (every leadership period is a new term). Default: off.
   */
  coordinated?: CoordinatedOptions;
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
  /**
   * The kind of object every bucket of this manager is stored in:
   * 'ConfigMap' or 'Secret' (see OpenStoreOptions.kind: encryption at rest,
   * RBAC of its own). The Lease is a Lease either way. @default 'ConfigMap'
   */
  kind?: BucketKind;
  /** What each bucket's store may make etcd store over time (OpenStoreOptions.etcdBudget). Default: 8% of etcd's default quota per 5 minutes. */
  etcdBudget?: EtcdBudgetOptions | boolean;
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
  /**
   * How long, in ms, close() (and a fenced leader's resignation) waits for
   * the onLeader handlers to return after aborting their signal, before it
   * releases the Lease anyway. The Lease is renewed meanwhile, so the next
   * leader cannot start before the handlers end or this passes. Keep it
   * below terminationGracePeriodSeconds. @default leaseDurationMs
   */
  shutdownGraceMs?: number;
  /** Gives up start(): it rejects with AbortedError and leaves nothing running or held. */
  signal?: AbortSignal;
  /**
   * Prometheus metrics, registered in the given prom-client Registry:
   * client-go's `leader_election_master_status{name}` and
   * `leader_election_slowpath_total{name}` for the Lease, and every
   * bucket's store and lock metrics. Needs prom-client installed (an
   * optional peer dependency; InvalidOptionError if it is missing). Default:
   * none, and nothing is registered. See docs/observability.md.
   */
  metrics?: MetricsOptions;
  /**
   * Record Kubernetes Events (events.k8s.io/v1) regarding the Lease, as
   * client-go's leader election does: `LeaderElection` "<identity> became
   * leader" / "<identity> stopped leading", and Warnings `Fenced` (this
   * replica was fenced) and, for the buckets' locks, `LockLost`. Best
   * effort: rate limited, never delays or fails a write or an election
   * step; needs `create` on events.k8s.io events (deploy/rbac.yaml grants
   * it), and without it they are dropped (logged at debug). Default true;
   * false turns them off.
   */
  events?: boolean;
}

/** What an onLeader handler gets. */
export interface LeaderContext {
  /** Aborts the moment leadership is lost (or on close): stop leader work then. */
  readonly signal: AbortSignal;
  /** The first bucket, writable. */
  readonly store: Store;
  /** A bucket by name. */
  bucket(name: string): Store;
  /** The epoch this leadership holds on every bucket: its Lease term, greater than every earlier leader's. A fencing token for other systems. */
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

/** Options of {@link StateManager.resign} and {@link StateManager.handoff}. */
export interface StepDownOptions {
  /** How long, in ms, this replica does not contend after the release (see ResignOptions.coolDownMs). @default leaseDurationMs */
  coolDownMs?: number;
  /**
   * Stops waiting: the promise rejects with AbortedError. The step down
   * itself goes on (leader work already aborted cannot be resumed); its
   * end shows in `isLeader` and the onFollower handlers.
   */
  signal?: AbortSignal;
}

/** Health of a replica. */
export interface StateStatus {
  /** This replica's identity (the Lease holder name it writes). */
  identity: string;
  /** True while this replica leads and holds the buckets' epochs (writes allowed); see {@link StateManager.isLeader}. */
  isLeader: boolean;
  /** Current leader identity as last observed. */
  leader: string | undefined;
  /** The leader's advertised address (its `advertise` option), when it gave one. */
  leaderAddress: string | undefined;
  /** The leader's term (the Lease's leaseTransitions) as last observed; its bucket epoch once it has raised them. */
  leaderTerm: number | undefined;
  /** Epoch held while leading. */
  epoch: number | undefined;
  /** Wall-clock ms (the manager's clock) of the last successful Lease renewal by this replica. */
  lastRenewAt: number | undefined;
  /** True while the elector holds leadership, including while the epoch is being raised or after a fence, before it resigns. */
  holdsLease: boolean;
  /** The Lease duration in ms, for liveness judgements. */
  leaseDurationMs: number;
  /** Every bucket's cache health. */
  buckets: Record<string, StoreStatus>;
  /** The last leadership error (e.g. a FencedError), if any. */
  lastError: Error | undefined;
}

type Phase = 'follower' | 'raising' | 'leader' | 'fenced' | 'closed';

/** Highest bucket epoch a Lease term can exceed (leaseTransitions is an int32). */
const MAX_EPOCH = 2 ** 31 - 3;

/** Longest timer Node accepts. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Elector + buckets + fencing + hooks. Start one per replica with {@link StateManager.start}. */
export class StateManager implements AsyncDisposable {
  /** This replica's identity: the holder name it writes into the Lease. */
  readonly identity: string;
  /** Namespace of the Lease and the buckets. */
  readonly namespace: string;
  readonly #stores: Map<string, ConfigMapStore>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #elector: LeaseElector;
  readonly #leaseMs: number;
  readonly #graceMs: number;
  readonly #leaderHandlers: Array<(ctx: LeaderContext) => unknown> = [];
  readonly #followerHandlers: Array<(ctx: FollowerContext) => unknown> = [];
  readonly #leaderChangeHandlers: Array<(leader: LeaderInfo | undefined) => unknown> = [];
  #phase: Phase = 'follower';
  /** While leading: the Lease term, which is every bucket's epoch. */
  #epoch: number | undefined;
  #leaderWork: AbortController | undefined;
  /** onLeader handlers still running (of this leadership period or the last). */
  readonly #leaderRuns = new Set<Promise<void>>();
  /** Settles when the last leadership period's handlers have returned (or their grace passed): the next period waits for it. */
  #leaderEnded: Promise<void> = Promise.resolve();
  #followerWork: AbortController | undefined;
  #lastError: Error | undefined;
  #closeRequested = false;
  #closing: Promise<void> | undefined;
  #signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  /** Records LeaderElection and Fenced Events regarding the Lease; undefined with `events: false`. */
  #events: EventRecorder | undefined;
  #leaseName = '';

  /** @internal Use {@link StateManager.start}; protected so that a subclass (kubekv/testing's MemoryStateManager) is made by its inherited `start`. */
  protected constructor(stores: Map<string, ConfigMapStore>, namespace: string, elector: LeaseElector, options: StateManagerOptions, graceMs: number) {
    this.#stores = stores;
    this.namespace = namespace;
    this.#elector = elector;
    this.#log = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    this.#leaseMs = options.leaseDurationMs ?? 15_000;
    this.#graceMs = graceMs;
    this.identity = elector.identity;
    for (const store of stores.values()) {
      store[storeInternals].setWriteHooks({
        // Each write is bound to the epoch it was made under (undefined: not leading then).
        epochOf: () => (this.#phase === 'leader' ? this.#epoch : undefined),
        guard: (base, ops, epoch) => this.#guard(base, ops, epoch),
      });
    }
  }

  /**
   * Validates the options (before any request), opens the buckets, starts
   * contending for the Lease and resolves once this replica knows whether it
   * leads (handlers registered afterwards run at once if their role is
   * current). On any failure nothing is left running or held.
   */
  static async start(options: StateManagerOptions): Promise<StateManager> {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object with at least `name`');
    validateName('name', options.name);
    const bucketNames = options.buckets ?? [`${options.name}-state`];
    if (!Array.isArray(bucketNames) || bucketNames.length === 0) throw new InvalidOptionError('buckets', bucketNames, 'a non-empty array of bucket names');
    bucketNames.forEach((b, i) => validateName(`buckets[${i}]`, b));
    if (new Set(bucketNames).size !== bucketNames.length) throw new InvalidOptionError('buckets', bucketNames, 'bucket names must be distinct');
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', signal, 'an AbortSignal');
    const events = resolveEvents(options.events);
    const kind = resolveKind(options.kind);
    let manager: StateManager | undefined;
    const electorOptions: LeaseElectorOptions = {
      name: options.leaseName ?? `${options.name}-leader`,
      identity: options.identity,
      advertise: options.advertise,
      coordinated: options.coordinated,
      leaseDurationMs: options.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
      clock: options.clock,
      logger: options.logger,
      metrics: options.metrics,
      onStartedLeading: (leadership) => (manager ? manager.#becomeLeader(leadership) : undefined),
      onStoppedLeading: () => (manager ? manager.#becomeFollower() : undefined),
      // A step-down asked for through the Lease ends the leader work as resign() does.
      beforeStepDown: () => (manager ? manager.#endLeaderWork() : undefined),
      onLeaderChange: (leader) => (manager ? manager.#leaderChanged(leader) : undefined),
    };
    // Checked before the kubeconfig is loaded: a bad option is refused as that option, anywhere.
    checkElectorOptions(electorOptions);
    const { api, namespace } = resolveAccess(options);
    // Made first: nothing is created before the elector exists.
    const elector = new LeaseElector({ ...electorOptions, namespace, api });
    // After the elector, which has validated leaseDurationMs (the default grace).
    const graceMs = options.shutdownGraceMs ?? options.leaseDurationMs ?? 15_000;
    if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs < 0 || graceMs > MAX_TIMER_MS) {
      throw new InvalidOptionError('shutdownGraceMs', graceMs, `a number of milliseconds from 0 to ${MAX_TIMER_MS}`);
    }
    if (signal?.aborted) throw new AbortedError('start of the state manager', { cause: signal.reason });
    const stores = new Map<string, ConfigMapStore>();
    try {
      for (const name of bucketNames) {
        stores.set(name, await this.openBucket({
          name,
          namespace,
          api,
          create: options.create ?? true,
          kind,
          // Only the leader sweeps (turned on once its epochs are raised).
          sweep: false,
          app: options.name.slice(0, 63),
          ...(options.compression === undefined ? {} : { compression: options.compression }),
          ...(options.etcdBudget === undefined ? {} : { etcdBudget: options.etcdBudget }),
          ...(options.logger ? { logger: options.logger } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
          ...(signal ? { signal } : {}),
          ...(options.metrics ? { metrics: options.metrics } : {}),
          events,
        }));
      }
      // `this`: called on a subclass, start makes an instance of it.
      manager = new this(stores, namespace, elector, options, graceMs);
      manager.#leaseName = options.leaseName ?? `${options.name}-leader`;
      if (events) manager.#events = new EventRecorder({ api, namespace, reportingController: STATE_MANAGER_CONTROLLER, logger: options.logger, clock: options.clock });
      await elector.start({ signal });
      if (manager.#phase === 'follower' && !manager.#followerWork) manager.#startFollowing();
      if (options.handleSignals) manager.#installSignalHandlers();
      return manager;
    } catch (err) {
      if (manager) manager.#closeRequested = true;
      await elector.close();
      for (const store of stores.values()) await store.close();
      if (manager) await manager.#events?.close();
      throw err;
    }
  }

  /**
   * Opens one of the buckets for {@link StateManager.start}:
   * ConfigMapStore.open. A subclass may open a subclass of ConfigMapStore
   * (kubekv/testing's MemoryStateManager opens MemoryStores, so that their
   * test controls act on the manager's own writes).
   */
  protected static openBucket(options: OpenStoreOptions): Promise<ConfigMapStore> {
    return ConfigMapStore.open(options);
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closeRequested;
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

  /** The epoch this replica holds on every bucket while leading (its Lease term). */
  get epoch(): number | undefined {
    return this.isLeader ? this.#epoch : undefined;
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

  /**
   * Runs `handler` with the leader's identity, address and term each time
   * one of them changes as this replica observes the Lease (at once with the
   * current one), and with undefined while nobody holds it. For followers
   * that forward requests to the leader: see examples/forward-to-leader.
   * A throw is logged.
   */
  onLeaderChange(handler: (leader: LeaderInfo | undefined) => unknown): this {
    this.#leaderChangeHandlers.push(handler);
    if (!this.#closeRequested) void this.#invoke('onLeaderChange', () => handler(this.#elector.leaderInfo));
    return this;
  }

  /**
   * Steps down without closing, in close()'s order: aborts the onLeader
   * signal and waits for the handlers to return (at most shutdownGraceMs,
   * still renewing the Lease; their last writes are fenced as ever), then
   * refuses writes, releases the Lease and carries on as a follower, not
   * contending for `coolDownMs`. Not leading, it only starts the cool-down.
   * Resolves with how the release ended: 'released' (done), 'not-held'
   * (nothing held, nothing written), 'unconfirmed' (outcome unknown: the
   * Lease is released or expires within its duration).
   *
   * @throws ClosedError after close(); InvalidOptionError for bad options; AbortedError when `signal` aborts (see {@link StepDownOptions.signal})
   */
  resign(options: StepDownOptions = {}): Promise<ReleaseOutcome> {
    return this.#stepDown(undefined, options);
  }

  /**
   * Hands leadership to the replica `identity`: steps down as resign()
   * does, releasing the Lease with `identity` as its preferred holder. The
   * others wait for it at most one lease duration; resolves once the
   * release is written ('released'), or 'unconfirmed' when its answer was
   * lost. Whether `identity` then leads shows in `status().leader`.
   *
   * @throws InvalidOptionError when `identity` is empty or this replica's own; NotLeaderError when this replica does not hold the Lease (nothing is done); ClosedError after close(); AbortedError on `signal`
   */
  async handoff(identity: string, options: StepDownOptions = {}): Promise<ReleaseOutcome> {
    checkOtherIdentity('identity', identity, this.identity);
    return this.#stepDown(identity, options);
  }

  #stepDown(to: string | undefined, options: StepDownOptions): Promise<ReleaseOutcome> {
    if (this.#closeRequested) return Promise.reject(new ClosedError('state manager'));
    if (typeof options !== 'object' || options === null) return Promise.reject(new InvalidOptionError('options', options, 'an object'));
    const { coolDownMs, signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) return Promise.reject(new InvalidOptionError('signal', signal, 'an AbortSignal'));
    if (coolDownMs !== undefined && (typeof coolDownMs !== 'number' || !Number.isFinite(coolDownMs) || coolDownMs < 0 || coolDownMs > MAX_TIMER_MS)) {
      return Promise.reject(new InvalidOptionError('coolDownMs', coolDownMs, `a number of milliseconds from 0 to ${MAX_TIMER_MS}`));
    }
    if (to !== undefined && !this.#elector.isLeader) return Promise.reject(new NotLeaderError(this.leader));
    if (signal?.aborted) return Promise.reject(new AbortedError(to === undefined ? 'resign' : 'handoff', { cause: signal.reason }));
    const run = (async () => {
      // KEP-5366's order, as in close(): leader work ends while the Lease is
      // still held and renewed; only then does the elector let it go.
      if (this.#elector.isLeader) {
        this.#log.info({ identity: this.identity, to }, to === undefined ? 'resigning: stopping leader work' : 'handing over: stopping leader work');
        await this.#endLeaderWork();
      }
      return to === undefined ? this.#elector.resign({ coolDownMs }) : this.#elector.handoff(to, { coolDownMs });
    })();
    if (!signal) return run;
    return new Promise<ReleaseOutcome>((resolve, reject) => {
      const abort = () => reject(new AbortedError(to === undefined ? 'resign' : 'handoff', { cause: signal.reason }));
      signal.addEventListener('abort', abort, { once: true });
      run.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
    });
  }

  #leaderChanged(leader: LeaderInfo | undefined): void {
    for (const handler of this.#leaderChangeHandlers) void this.#invoke('onLeaderChange', () => handler(leader));
  }

  /** Leadership and cache health, for probes and dashboards. */
  status(): StateStatus {
    const buckets: Record<string, StoreStatus> = {};
    for (const [name, store] of this.#stores) buckets[name] = store.status();
    const info = this.#elector.leaderInfo;
    const leader = this.leader;
    return {
      identity: this.identity,
      isLeader: this.isLeader,
      leader,
      leaderAddress: leader === undefined ? undefined : info?.address,
      leaderTerm: leader === undefined ? undefined : info?.term,
      epoch: this.epoch,
      lastRenewAt: this.#elector.lastRenewAt,
      holdsLease: this.#elector.isLeader,
      leaseDurationMs: this.#leaseMs,
      buckets,
      lastError: this.#lastError,
    };
  }

  /**
   * Liveness as client-go's leader-election health adaptor judges it: false
   * after close(), and when this replica believes it holds the Lease but has
   * not renewed it for longer than leaseDurationMs + `toleranceMs` (its
   * renewals are stuck, so others have taken over while it still acts as
   * leader: restart it). Judged by the monotonic clock from the moment the
   * elector saw its last renewal land (LeaseElector.isLive), never by wall
   * time: a clock step must neither fail a healthy leader nor hide a stuck
   * one. Followers are always live. @param toleranceMs - @default 20000, client-go's usual timeout
   */
  isLive(toleranceMs = 20_000): boolean {
    return !this.#closeRequested && this.#elector.isLive(toleranceMs);
  }

  /**
   * Hands over gracefully: aborts onLeader work and waits for the handlers
   * to return (at most shutdownGraceMs, still renewing the Lease), refuses
   * further writes, waits for the commit in flight, then releases the Lease
   * so a follower takes over at once. Idempotent.
   */
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
    this.#closeRequested = true;
    for (const [signal, handler] of this.#signalHandlers) process.off(signal, handler);
    this.#followerWork?.abort(new ClosedError('state manager'));
    // KEP-5366's order: the work guarded by leadership ends first, while the
    // Lease is still held and renewed, so the next leader cannot overlap it.
    await this.#drainLeaderWork(new ClosedError('state manager'));
    this.#phase = 'closed';
    this.#epoch = undefined;
    // Store close rejects queued writes and waits for the commit in flight;
    // only then may the Lease go, so the next leader never overlaps our writes.
    for (const store of this.#stores.values()) await store.close();
    await this.#elector.close();
    // After the release: a follower takes over meanwhile; this only lets the last Events (stopped leading) get out.
    await this.#events?.close();
    this.#log.info({ identity: this.identity }, 'state manager closed');
  }

  async #becomeLeader(leadership: AbortSignal): Promise<void> {
    // The term of THIS leadership period, read before any await.
    const term = this.#elector.term;
    this.#events?.record(becameLeader(this.#lease(), this.identity));
    await this.#leaderEnded;
    if (this.#closeRequested || leadership.aborted || term === undefined) return;
    this.#followerWork?.abort(new NotLeaderError(this.identity));
    this.#followerWork = undefined;
    this.#phase = 'raising';
    this.#epoch = term;
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
    for (const [name, store] of this.#stores) {
      try {
        // One write of the store's pipeline each attempt; withdrawn when leadership ends.
        await retryWithBackoff(() => store[storeInternals].raiseEpoch(term, this.identity, leadership), {
          clock: this.#clock,
          backoff,
          signal: leadership,
          shouldRetry: (err) => !(err instanceof FencedError) && !leadership.aborted && this.#phase === 'raising',
          onRetry: (err) => {
            this.#lastError = err;
            this.#log.warn({ bucket: name, code: (err as { code?: string }).code }, 'raising the leader epoch failed; retrying');
          },
        });
      } catch (err) {
        if (leadership.aborted || this.#phase !== 'raising') return;
        if (err instanceof FencedError) return this.#fenced(err);
        // Not retried only when refused above: unreachable, but never a silent leader.
        throw err;
      }
    }
    if (leadership.aborted || this.#phase !== 'raising' || this.#closeRequested) return;
    this.#phase = 'leader';
    const work = new AbortController();
    leadership.addEventListener('abort', () => work.abort(leadership.reason), { once: true });
    this.#leaderWork = work;
    this.#log.info({ identity: this.identity, epoch: term }, 'leading: epochs raised, starting leader work');
    // The leader deletes expired keys; every replica's store has been timing them all along.
    for (const store of this.#stores.values()) store[storeInternals].setSweeping(true);
    for (const handler of this.#leaderHandlers) this.#runLeader(handler, work.signal);
  }

  /**
   * Before a step-down (resign(), handoff(), or one the Lease asks for):
   * the leader work ends while the Lease is still held and renewed, its
   * handlers' last writes allowed, and only then are writes refused. One
   * already in flight is fenced as ever (its CAS fails once the next leader
   * has raised the epoch).
   */
  async #endLeaderWork(): Promise<void> {
    await this.#drainLeaderWork(new NotLeaderError(undefined));
    if (this.#phase === 'leader' || this.#phase === 'raising') {
      this.#phase = 'follower';
      this.#epoch = undefined;
    }
  }

  /** The elector stopped leading (lost, resigned or closing): no more writes; follower work starts once the leader handlers have returned. */
  async #becomeFollower(): Promise<void> {
    this.#events?.record(stoppedLeading(this.#lease(), this.identity));
    if (this.#phase !== 'closed') this.#phase = 'follower';
    this.#epoch = undefined;
    for (const store of this.#stores.values()) store[storeInternals].setSweeping(false);
    const ended = this.#drainLeaderWork(new NotLeaderError(this.leader));
    this.#leaderEnded = ended;
    await ended;
    if (this.#closeRequested || this.#phase !== 'follower' || this.#followerWork) return;
    this.#startFollowing();
  }

  /**
   * Aborts the leader work and waits for its handlers to return, at most
   * shutdownGraceMs (a timer on the injected clock; an interval keeps the
   * process alive meanwhile, or it could exit with close() unsettled).
   */
  async #drainLeaderWork(reason: Error): Promise<void> {
    this.#leaderWork?.abort(reason);
    this.#leaderWork = undefined;
    if (this.#leaderRuns.size === 0) return;
    let timer: TimerHandle | undefined;
    await keepingProcessAlive(async () => {
      const expired = new Promise<boolean>((resolve) => {
        timer = this.#clock.setTimer(() => resolve(true), this.#graceMs);
      });
      const runs = [...this.#leaderRuns];
      const returned = Promise.allSettled(runs).then(() => false);
      if (await Promise.race([returned, expired])) {
        this.#log.warn({ identity: this.identity, graceMs: this.#graceMs, running: runs.length }, 'onLeader handlers still running after shutdownGraceMs; going on without them');
        // Waited for once: a later drain (close() after a fence, the
        // elector's onStoppedLeading after close()) does not wait again.
        for (const run of runs) this.#leaderRuns.delete(run);
      }
    }).finally(() => timer?.cancel());
  }

  /** The Lease, as Events refer to it (with its uid as last observed, so `kubectl describe lease` lists them). */
  #lease(): LeaseReference {
    return { name: this.#leaseName, namespace: this.namespace, uid: this.#elector.leaseUid };
  }

  #startFollowing(): void {
    const work = new AbortController();
    this.#followerWork = work;
    for (const handler of this.#followerHandlers) this.#runFollower(handler, work.signal);
  }

  /** Refuses a write unless this replica leads under the epoch the write was made under, and the state carries exactly that epoch. */
  #guard(base: BucketState, ops: readonly WriteOp[], epoch: number | undefined): void {
    if (this.#phase === 'closed') throw new ClosedError('state manager');
    if (ops.some((op) => op.kind === 'epoch')) {
      // The raise itself checks the bucket's epoch against its term.
      if (this.#phase !== 'raising') throw new NotLeaderError(this.leader);
      return;
    }
    if (this.#phase === 'fenced' && this.#lastError instanceof FencedError) {
      throw new FencedError(this.#lastError.heldEpoch, this.#lastError.currentEpoch);
    }
    if (this.#phase !== 'leader' || this.#epoch === undefined) throw new NotLeaderError(this.leader);
    // Made in an earlier term (or while not leading): a write outliving its
    // term is never sent under the next one, even by the same replica.
    if (epoch !== this.#epoch) throw new NotLeaderError(this.leader);
    try {
      checkEpoch(base, this.#epoch, this.identity);
    } catch (err) {
      if (err instanceof FencedError) this.#fenced(err);
      throw err;
    }
  }

  /**
   * The bucket's epoch is not ours: stop leader work now, then resign, with
   * the Lease's next term lifted above the bucket's epoch, so whoever leads
   * next (this replica included) can raise a valid one.
   */
  #fenced(err: FencedError): void {
    if (this.#phase !== 'leader' && this.#phase !== 'raising') return;
    this.#lastError = err;
    this.#phase = 'fenced';
    this.#events?.record(fenced(this.#lease(), this.identity, err.heldEpoch, err.currentEpoch));
    this.#log.warn({ identity: this.identity, held: err.heldEpoch, current: err.currentEpoch }, 'fenced: the bucket carries another leader epoch; stopping leader work and resigning');
    const floor = err.currentEpoch <= MAX_EPOCH ? err.currentEpoch : undefined;
    if (floor === undefined) {
      this.#log.error({ identity: this.identity, current: err.currentEpoch }, `a bucket epoch is above any possible Lease term (${MAX_EPOCH + 1}): set its kubekv.dev/epoch annotation back by hand`);
    }
    void (async () => {
      await this.#drainLeaderWork(err);
      if (this.#closeRequested) return;
      await this.#elector.resign({ nextTermAbove: floor, coolDownMs: 0 });
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

  /** Runs a handler; never rejects (a failure is logged). */
  #invoke(what: string, fn: () => unknown): Promise<void> {
    try {
      return Promise.resolve(fn()).then(() => undefined, (err: unknown) => this.#handlerFailed(what, err));
    } catch (err) {
      this.#handlerFailed(what, err);
      return Promise.resolve();
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
