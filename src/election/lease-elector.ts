/**
 * Leader election over a Lease, compatible with client-go's
 * tools/leaderelection: kubekv and Go electors can contend for one Lease.
 *
 * Non-guarantees first:
 * - This is NOT fencing. A leader that pauses (GC, SIGSTOP) longer than the
 *   margin between renewDeadlineMs and leaseDurationMs may still believe it
 *   leads after another took over. Guard writes with the store's leader epoch
 *   (see `term`), not with `isLeader` alone.
 * - Expiry is judged by the LOCAL monotonic time at which this elector last
 *   saw the record change, plus the record's leaseDurationSeconds; record
 *   timestamps are never compared with the local clock. Wall-clock skew is
 *   harmless; a clock-RATE difference beyond leaseDuration / renewDeadline
 *   (1.5 with the defaults) is not.
 * - Identities must be unique; two electors with one identity both lead.
 *
 * Guarantees:
 * - Every write is a CAS on the Lease's resourceVersion.
 * - A leader stops leading (aborts the signal given to onStartedLeading, then
 *   calls onStoppedLeading) when no renewal succeeded for renewDeadlineMs, or
 *   at once when it sees another holder; every onStartedLeading is followed by
 *   exactly one onStoppedLeading, also on close().
 * - Followers do not poll: they watch the Lease and keep ONE timer for the
 *   moment the observed lease would expire, and act on a release at once.
 * - Each leadership period has its own `term` (leaseTransitions when it was
 *   acquired), above every term this elector saw, unless the Lease is deleted.
 *
 * Stepping down and handing over (client-go has neither outside its
 * coordinated mode): resign() ends the leadership period and releases the
 * Lease, then sits out a cool-down; handoff(x) releases it naming x as
 * preferred holder. Every kubekv contender honours a preferred holder it
 * sees (spec.preferredHolder, or kubekv's annotation where the API server
 * drops that field): a holder named away stops leading and releases; other
 * contenders than the preferred one wait, from the last change of the
 * record, the longer of its leaseDurationSeconds and their own
 * leaseDurationMs before they take it: the bound on how long a handoff to a
 * replica that never comes leaves the Lease empty. Whoever acquires clears
 * the preference. None of this lets two hold the Lease at once: it only
 * makes contenders wait longer or release sooner.
 *
 * Differences from client-go, all in the safe direction: a record naming our
 * identity that this process does not hold (a restart, a renewal that landed
 * after we gave up) is taken over as a new term, not resumed; close() awaits
 * onStoppedLeading before releasing; a leader stops at once if the Lease is
 * deleted.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '../kube/types.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { AbortedError, ClosedError, InvalidOptionError, KubekvError, NotLeaderError } from '../errors.js';
import { certainlyNotApplied } from '../kube/errors.js';
import { validateName, type KubeConfigSource } from '../kube/config.js';
import { resolveAccess, type KubeApi } from '../kube/api.js';
import { silentLogger, type Logger } from '../logger.js';
import { checkCoordinated, LeaseCandidate, type CoordinatedOptions } from './lease-candidate.js';
import { resolveMetrics, type MetricsOptions } from '../metrics/metrics.js';
import type { ElectionObserver } from '../metrics/observer.js';
import {
  compareResourceVersions,
  KubeLeaseLock,
  type LeaseLock,
  type LeaseRecord,
  type LeaseSnapshot,
  type LeaseWatch,
  type LeaseWriteResult,
} from './lease-lock.js';

/** leaseTransitions is an int32: terms stay below this. */
const MAX_TERM = 2 ** 31 - 1;

/** client-go's JitterFactor: a failed attempt is retried after retryPeriod × [1, 2.2]. */
const jitterFactor = 1.2;

/** Longest timer Node accepts, in ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Longest `advertise` accepted, in characters (it is written into an annotation with every acquisition). */
const MAX_ADVERTISE_LENGTH = 1024;

/**
 * How a release ended, as resign() and handoff() report it:
 * - 'released': done; this replica wrote the released record (for a
 *   handoff, naming the preferred holder).
 * - 'not-held': definitely nothing to release; the Lease was not held by
 *   this replica (never led, or another took it first) and nothing was
 *   written.
 * - 'unconfirmed': outcome unknown; the release failed or its answer was
 *   lost. The Lease is released or expires within its duration; this
 *   replica does not lead either way.
 */
export type ReleaseOutcome = 'released' | 'not-held' | 'unconfirmed';

/** Who leads, as a contender last observed the Lease. */
export interface LeaderInfo {
  /** The holder's identity (possibly one whose lease has expired, until someone takes it over). */
  readonly identity: string;
  /** The holder's `advertise` address; undefined when it gave none (or is not a kubekv replica). */
  readonly address: string | undefined;
  /** The Lease's leaseTransitions: grows with every change of hands; the holder's fencing epoch under a StateManager. */
  readonly term: number;
}

/** Options of {@link LeaseElector.resign}. */
export interface ResignOptions {
  /**
   * How long, in ms, after the release this replica does not contend: the
   * others take over meanwhile. With no other contender the Lease stays
   * empty that long. 0 contends again at once (the others, which see the
   * release first, still usually win). @default leaseDurationMs
   */
  coolDownMs?: number | undefined;
  /**
   * The release record's leaseTransitions is raised to at least this, so
   * whoever acquires next gets a greater term. For the StateManager, when a
   * bucket carries an epoch above the Lease's term.
   *
   * @internal
   */
  nextTermAbove?: number | undefined;
}

/** Options of {@link LeaseElector.handoff}. */
export interface HandoffOptions {
  /** As {@link ResignOptions.coolDownMs}; this replica also waits for the preferred one as every other contender does. @default leaseDurationMs */
  coolDownMs?: number | undefined;
}

/** Options of {@link LeaseElector}; each is validated by the constructor. */
export interface LeaseElectorOptions {
  /** Name of the Lease (a DNS-1123 subdomain). */
  name: string;
  /** Namespace of the Lease. Default: NAMESPACE env, the Pod's namespace, the kubeconfig context's, else "default". */
  namespace?: string | undefined;
  /**
   * Cluster access: a client-node KubeConfig, or where to find one (a
   * kubeconfig path, or `{ path?, context? }`). Default: in-cluster config,
   * else KUBECONFIG, else ~/.kube/config.
   */
  kubeConfig?: KubeConfig | KubeConfigSource | undefined;
  /** The port to Kubernetes (src/kube/api.ts). Default: the HTTP api of `kubeConfig`. */
  api?: KubeApi | undefined;
  /**
   * This replica's identity in the Lease; must be unique among contenders.
   * Default: POD_NAME env (from the Downward API), else host name + 6 random hex.
   */
  identity?: string | undefined;
  /**
   * How long, in ms, followers wait after last seeing the record change before
   * taking over; whole seconds (the Lease records seconds). Longer tolerates
   * slow API servers and clock-rate differences; shorter fails over sooner.
   * @default 15000
   */
  leaseDurationMs?: number | undefined;
  /**
   * How long, in ms, the leader keeps trying to renew before it stops leading.
   * Must be less than leaseDurationMs: the gap is the safety margin against
   * pauses and clock-rate differences. @default 10000
   */
  renewDeadlineMs?: number | undefined;
  /**
   * Interval, in ms, between renewals, and the base of the retry delay after
   * a failed acquisition (jittered to retryPeriod × [1, 2.2]). renewDeadlineMs
   * must exceed 1.2 × retryPeriodMs. @default 2000
   */
  retryPeriodMs?: number | undefined;
  /**
   * Release the Lease on close() if held, so a follower takes over at once
   * instead of after leaseDurationMs. Hazard: only safe if the work guarded by
   * leadership has stopped when onStoppedLeading returns (close() awaits it).
   * @default true
   */
  releaseOnClose?: boolean | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Receives leadership changes (info) and failures (warn). @default silentLogger */
  logger?: Logger | undefined;
  /**
   * Called on becoming leader. `signal` aborts when leadership ends (reason: a
   * NotLeaderError, or a ClosedError on close). A rejection is logged.
   */
  onStartedLeading?: ((signal: AbortSignal) => void | Promise<void>) | undefined;
  /** Called once after each leadership period ends, after the signal aborted. close() awaits it. */
  onStoppedLeading?: (() => void | Promise<void>) | undefined;
  /**
   * Called while leading when the Lease asks this holder to step down (a
   * preferred holder or a step-down request set by another party: kubectl,
   * `kubekv leader --handoff/--resign`, the API server), before the elector
   * stops leading and releases. The Lease is still renewed while it runs,
   * so the leader work can end in the order resign() gives it (its last
   * writes land); the step-down follows when it settles. A rejection is
   * logged and the step-down goes ahead.
   */
  beforeStepDown?: (() => void | Promise<void>) | undefined;
  /** Called when a different holder is observed (this replica included); not called for a released Lease. */
  onNewLeader?: ((identity: string) => void) | undefined;
  /**
   * Called when the leader's identity, address or term as observed changes
   * (see {@link LeaseElector.leaderInfo}); with undefined when the Lease is
   * released or deleted. A throw is logged.
   */
  onLeaderChange?: ((leader: LeaderInfo | undefined) => void) | undefined;
  /**
   * This replica's address (e.g. `http://<pod IP>:8080`, from the Downward
   * API), recorded with its leadership so that followers can reach the
   * leader ({@link LeaseElector.leaderInfo}, `kubekv leader`). Kept in the
   * `kubekv.dev/holder-address` annotation of the Lease, bound to this
   * identity. Not validated as a URL; at most 1024 characters. Default: none.
   */
  advertise?: string | undefined;
  /**
   * Coordinated leader election (KEP-4355; beta, off by default through
   * Kubernetes 1.36): instead of acquiring the Lease itself, this replica
   * registers a coordination.k8s.io/v1beta1 LeaseCandidate with its
   * versions, and the API server picks the holder (by default the oldest
   * emulation version, then binary version: during a rolling upgrade the
   * old version leads until none is left) and writes it into the Lease; this
   * replica then leads as a new term and renews, and steps down when the
   * API server names a preferred holder. It never acquires on its own.
   * Needs `create`, `get`, `list`, `watch`, `update`, `delete` on
   * leasecandidates; start() rejects with InvalidOptionError when the API
   * server does not serve them. Default: off (client-go's ordinary election).
   */
  coordinated?: CoordinatedOptions | undefined;
  /**
   * Storage of the record (kubeConfig and namespace are then unused); by default the Lease namespace/name. For other kubekv modules and tests.
   *
   * @internal
   */
  lock?: LeaseLock | undefined;
  /**
   * Prometheus metrics as client-go's leader election reports them, same
   * names and label: `leader_election_master_status{name}` (1 while this
   * elector leads, else 0) and `leader_election_slowpath_total{name}`, with
   * `name` the Lease name. Needs prom-client installed (InvalidOptionError
   * otherwise). Default: none, and nothing is registered.
   */
  metrics?: MetricsOptions | undefined;
}

/** A write whose answer was lost: what it could still apply to. */
type UncertainWrite = { kind: 'create' } | { kind: 'update'; baseRv: string };

interface Leadership {
  readonly controller: AbortController;
  readonly term: number;
  deadline: TimerHandle | undefined;
}

/** A contender for one Lease; see the module doc for what it does and does not promise. */
export class LeaseElector implements AsyncDisposable {
  /** This replica's identity in the Lease. */
  readonly identity: string;
  readonly #lock: LeaseLock;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  readonly #releaseOnClose: boolean;
  readonly #o: LeaseElectorOptions;
  readonly #metrics: ElectionObserver | undefined;
  readonly #closeController = new AbortController();
  #watch: LeaseWatch | undefined;
  #started = false;
  #closing: Promise<void> | undefined;
  #ready: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  #readySettled = false;
  // What we last saw of the record: `#synced` false until the first look;
  // `#observed` undefined when the Lease does not exist.
  #synced = false;
  #observed: LeaseSnapshot | undefined;
  #observedRv: string | undefined;
  /** Monotonic ms at which the record last CHANGED in our eyes: the base of every expiry judgement. */
  #observedAt = 0;
  #maxTransitions = -1;
  #reported: string | undefined;
  #leading: Leadership | undefined;
  #busy = false;
  #inflight: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #renewAt = 0;
  #retryAt: number | undefined;
  #lastRenewAt: number | undefined;
  /** Monotonic ms at which our last acquisition or renewal was seen to land: what liveness is judged by (see isLive). */
  #lastRenewMonotonic: number | undefined;
  /**
   * Writes of ours whose answer never came (aborted by close(), timed out,
   * reset): the server may have applied them, or may still. Each leaves only
   * when its own answer comes, or when the Lease is seen past the version it
   * was sent against (it can no longer apply). A later write answered 409
   * settles nothing: what moved the Lease on may be one of these. close()
   * settles those left (see #settleAndRelease), so no Lease stays named
   * after a contender that has gone.
   */
  readonly #uncertain = new Set<UncertainWrite>();
  /** The next term acquired is above this (see resign()). */
  #termFloor = -1;
  #resigning = false;
  #resignation: Promise<unknown> = Promise.resolve();
  /** Monotonic ms before which this replica does not acquire (after resign() or handoff()). */
  #coolDownUntil = 0;
  /** True while stepping down because the record prefers another holder. */
  #handingOver = false;
  /** beforeStepDown is running for a step-down the Lease asked for (see #honourRequests). */
  #preparingStepDown = false;
  readonly #advertise: string | undefined;
  #reportedInfo: LeaderInfo | undefined;
  /** The LeaseCandidate of a coordinated election; undefined otherwise. */
  readonly #candidate: LeaseCandidate | undefined;

  /** @param options - see {@link LeaseElectorOptions}; validated here, and no request is made */
  constructor(options: LeaseElectorOptions) {
    const { name, leaseMs, renewMs, retryMs, identity, metrics } = checkElectorOptions(options);
    this.#o = options;
    this.#advertise = options.advertise;
    this.identity = identity;
    this.#leaseMs = leaseMs;
    this.#renewDeadlineMs = renewMs;
    this.#retryMs = retryMs;
    this.#releaseOnClose = options.releaseOnClose ?? true;
    this.#clock = options.clock ?? systemClock;
    const coordinated = checkCoordinated(options.coordinated);
    let candidates: ReturnType<NonNullable<KubeApi['leaseCandidates']>> | undefined;
    if (options.lock) {
      if (options.namespace !== undefined) validateName('namespace', options.namespace);
      this.#lock = options.lock;
      if (coordinated) throw new InvalidOptionError('coordinated', coordinated, 'a Kubernetes Lease (not with `lock`)');
    } else {
      const { api, namespace } = resolveAccess(options);
      this.#lock = new KubeLeaseLock({ api, namespace, name, clock: this.#clock, logger: options.logger });
      if (coordinated && !api.leaseCandidates) throw new InvalidOptionError('coordinated', coordinated, 'an `api` that serves LeaseCandidates');
      candidates = coordinated ? api.leaseCandidates!(namespace) : undefined;
    }
    this.#log = (options.logger ?? silentLogger).child({ lease: this.#lock.describe(), identity });
    this.#metrics = metrics?.election(name);
    this.#candidate = coordinated && candidates
      ? new LeaseCandidate({ ...coordinated, candidates, leaseName: name, name: identity, clock: this.#clock, logger: this.#log, onError: (error) => this.#requestFailed(error) })
      : undefined;
  }

  /** True from onStartedLeading until leadership ends. */
  get isLeader(): boolean {
    return this.#leading !== undefined;
  }

  /** The holder as last observed (possibly one whose lease has expired); undefined when nobody holds it. */
  get leader(): string | undefined {
    return this.#observed?.record.holderIdentity || undefined;
  }

  /**
   * The leader as last observed: identity, advertised address and term
   * (possibly a holder whose lease has expired); undefined while nobody
   * holds the Lease.
   */
  get leaderInfo(): LeaderInfo | undefined {
    return infoOf(this.#observed?.record);
  }

  /** The preferred holder the Lease names (spec.preferredHolder or kubekv's annotation), as last observed; undefined when none. */
  get preferredHolder(): string | undefined {
    return this.#observed?.record.preferredHolder || undefined;
  }

  /** Wall ms (clock.now) of this replica's last successful acquisition or renewal; undefined before the first. */
  get lastRenewAt(): number | undefined {
    return this.#lastRenewAt;
  }

  /**
   * Liveness as client-go's leader-election health adaptor judges it
   * (LeaderElector.Check): false while this elector leads but none of its
   * renewals has landed for longer than leaseDurationMs + `toleranceMs`, by
   * the LOCAL monotonic clock; true while it does not lead. The renew
   * deadline ends leadership well before that, so false means its timers did
   * not run (a paused process, a blocked event loop) and it may act as leader
   * after others took over: restart it. Wall time is never compared, so a
   * clock step neither fails a healthy leader nor hides a stuck one.
   *
   * @param toleranceMs - how long past leaseDurationMs to wait; @default 20000, client-go's usual value
   */
  isLive(toleranceMs = 20_000): boolean {
    if (!this.#leading || this.#lastRenewMonotonic === undefined) return true;
    return this.#clock.monotonic() - this.#lastRenewMonotonic <= this.#leaseMs + toleranceMs;
  }

  /** The Lease's uid as last observed; undefined before the first observation or while the Lease does not exist. */
  get leaseUid(): string | undefined {
    return this.#observed?.uid;
  }

  /** While leading: the Lease's leaseTransitions at which we acquired it, a number that grows with each new leadership period. */
  get term(): number | undefined {
    return this.#leading?.term;
  }

  /**
   * Starts contending. Resolves once the first observation is done: the Lease
   * was read and, if it was free, the first acquisition attempt finished (so
   * `isLeader` is meaningful). While the API server is unreachable it keeps
   * waiting; close() resolves it. Calling it again returns the same promise.
   *
   * Rejects, and stops contending, with an error no retry can fix that comes
   * before the first observation (a ForbiddenError when RBAC does not grant
   * the Lease, an ApiError for a missing namespace), and with AbortedError
   * when `options.signal` aborts first.
   */
  start(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    if (this.#closing) return Promise.reject(new ClosedError(`elector for ${this.#lock.describe()}`));
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) return Promise.reject(new InvalidOptionError('signal', signal, 'an AbortSignal'));
    if (signal) {
      const abort = () => this.#startFailed(new AbortedError(`start of the elector for ${this.#lock.describe()}`, { cause: signal.reason }));
      if (signal.aborted) abort();
      else {
        signal.addEventListener('abort', abort, { once: true });
        const off = () => signal.removeEventListener('abort', abort);
        this.#ready.promise.then(off, off);
      }
    }
    if (this.#started) return this.#ready.promise;
    this.#started = true;
    this.#log.info(this.#candidate ? 'contending for leadership (coordinated: the API server picks the holder)' : 'contending for leadership');
    // A coordinated start fails as a whole when the API server does not serve LeaseCandidates.
    this.#candidate?.start(signal).catch((err: unknown) => this.#startFailed(err instanceof Error ? err : new Error(String(err))));
    this.#watch = this.#lock.watch({
      onLease: (lease, rv) => {
        this.#observe(lease, rv);
        this.#reschedule();
      },
      onError: (error) => this.#requestFailed(error),
    });
    return this.#ready.promise;
  }

  /**
   * Steps down without stopping: ends this leadership period (aborts the
   * signal, awaits onStoppedLeading), releases the Lease if this replica
   * holds it, and does not contend again for `coolDownMs` (so the others,
   * which see the release at once, take over). When not leading it only
   * starts the cool-down. Resolves with how the release ended (see
   * {@link ReleaseOutcome}); bounded by onStoppedLeading plus two rounds of
   * requests of at most renewDeadlineMs each.
   *
   * @throws InvalidOptionError for a bad `coolDownMs`
   */
  resign(options: ResignOptions = {}): Promise<ReleaseOutcome> {
    const floor = options.nextTermAbove;
    if (floor !== undefined) {
      if (!Number.isSafeInteger(floor) || floor < 0 || floor >= MAX_TERM) {
        return Promise.reject(new InvalidOptionError('nextTermAbove', floor, `an integer from 0 to ${MAX_TERM - 1} (leaseTransitions is an int32)`));
      }
      this.#termFloor = Math.max(this.#termFloor, floor);
    }
    let coolDownMs: number;
    try {
      coolDownMs = checkCoolDown(options.coolDownMs, this.#leaseMs);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.#queueStepDown(undefined, coolDownMs);
  }

  /**
   * Hands the Lease to `identity`: ends this leadership period as resign()
   * does, then releases the Lease naming `identity` its preferred holder
   * (spec.preferredHolder and kubekv's annotation, in that one write). The
   * preferred replica takes it at once if it is a kubekv contender that
   * sees the release (or any client-go elector, at its next retry period);
   * other kubekv contenders wait for it at most the longer of its lease
   * duration and their own leaseDurationMs, then contend as usual. Resolves
   * 'released' (done) or 'unconfirmed' (outcome unknown, see
   * {@link ReleaseOutcome}) once the release is written.
   *
   * @throws InvalidOptionError when `identity` is not a non-empty string, or is this replica's own
   * @throws NotLeaderError when this replica does not lead (then nothing was written); also when it lost the Lease before the release could be written
   * @throws ClosedError after close()
   */
  async handoff(identity: string, options: HandoffOptions = {}): Promise<ReleaseOutcome> {
    checkOtherIdentity('identity', identity, this.identity);
    const coolDownMs = checkCoolDown(options.coolDownMs, this.#leaseMs);
    if (this.#closing) throw new ClosedError(`elector for ${this.#lock.describe()}`);
    if (!this.#leading) throw new NotLeaderError(this.leader);
    const outcome = await this.#queueStepDown(identity, coolDownMs);
    if (outcome === 'not-held') throw new NotLeaderError(this.leader);
    return outcome;
  }

  #queueStepDown(preferred: string | undefined, coolDownMs: number): Promise<ReleaseOutcome> {
    // One resignation at a time; one asked for during another runs after it
    // (the other may have failed to release, or a new term may have begun).
    const next = this.#resignation.catch(() => {}).then(() => this.#resignOnce(preferred, coolDownMs));
    this.#resignation = next;
    return next;
  }

  async #resignOnce(preferred: string | undefined, coolDownMs: number): Promise<ReleaseOutcome> {
    if (this.#closing) return 'not-held';
    // No new attempt from here until the release is done: it would take the Lease straight back.
    this.#resigning = true;
    this.#timer?.cancel();
    let outcome: ReleaseOutcome = 'not-held';
    try {
      await this.#stopLeading(new NotLeaderError(undefined), preferred === undefined ? 'resigned' : `handing over to ${preferred}`);
      // A renewal in flight may still land; it is then released below.
      await this.#inflight;
      if (!this.#closing) outcome = await this.#release(this.#termFloor, preferred);
      return outcome;
    } finally {
      this.#resigning = false;
      const now = this.#clock.monotonic();
      this.#retryAt = now + this.#retryMs;
      this.#coolDownUntil = Math.max(this.#coolDownUntil, now + coolDownMs);
      this.#log.info({ outcome, coolDownMs, preferred }, 'stepped down');
      this.#reschedule();
    }
  }

  /**
   * Stops: aborts leadership and awaits onStoppedLeading if leading, then, with
   * releaseOnClose, leaves no record naming this replica: it releases the
   * Lease if it holds it, including through a write whose answer close()
   * cut off (see #settleAndRelease). Idempotent.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      // Set before any work: onStoppedLeading may call close() again.
      const done = Promise.withResolvers<void>();
      this.#closing = done.promise;
      this.#shutdown().then(done.resolve, done.reject);
    }
    return this.#closing;
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    this.#timer?.cancel();
    // First: the API server stops picking this replica.
    await this.#candidate?.stop();
    const reason = new ClosedError(`elector for ${this.#lock.describe()}`);
    this.#closeController.abort(reason);
    const wasLeading = this.#leading !== undefined;
    await this.#stopLeading(reason, 'elector closing');
    await this.#inflight;
    await this.#watch?.stop();
    if (this.#releaseOnClose && (wasLeading || this.#uncertain.size > 0 || this.#observed?.record.holderIdentity === this.identity)) {
      await this.#settleAndRelease();
    }
    this.#resolveReady();
  }

  #resolveReady(): void {
    if (this.#readySettled) return;
    this.#readySettled = true;
    this.#ready.resolve();
  }

  /** start() is over with `error`: reject it and stop contending. */
  #startFailed(error: Error): void {
    if (this.#readySettled) return;
    this.#readySettled = true;
    this.#log.warn({ code: (error as { code?: unknown }).code }, 'start failed; no longer contending');
    this.#ready.reject(error);
    void this.close().catch(() => {});
  }

  /** A request failed (the watch's or ours): before start() resolved, an error no retry can fix ends it. */
  #requestFailed(error: unknown): void {
    if (this.#readySettled || this.#closing) return;
    if (error instanceof KubekvError && !error.retryable && !(error instanceof AbortedError)) this.#startFailed(error);
  }

  /** Reports the leader's identity, address and term when any of them changed. */
  #reportLeaderInfo(): void {
    const info = infoOf(this.#observed?.record);
    const last = this.#reportedInfo;
    if (info?.identity === last?.identity && info?.address === last?.address && info?.term === last?.term) return;
    this.#reportedInfo = info;
    if (this.#closing) return;
    void this.#invoke('onLeaderChange', () => this.#o.onLeaderChange?.(info));
  }

  /**
   * While leading, a record preferring another holder, or asking this
   * holder to step down (`kubekv leader --resign`): end this leadership
   * period and release, as resign() does. For a preference without a
   * cool-down of our own (the preference makes us wait); for a step-down
   * request with the default one (leaseDurationMs), so another takes over.
   */
  #honourRequests(record: LeaseRecord): void {
    if (!this.#leading || this.#handingOver || this.#preparingStepDown || record.holderIdentity !== this.identity) return;
    const preferred = this.#prefersOther(record);
    if (!preferred && !record.stepDownRequested) return;
    if (preferred) this.#log.info({ preferred: record.preferredHolder }, 'the lease prefers another holder: stepping down');
    else this.#log.info('asked to step down (kubekv.dev/step-down): stepping down');
    // beforeStepDown runs with renewals going on (#handingOver would stop
    // them); the renewals' observations come back here and are ignored.
    this.#preparingStepDown = true;
    void this.#invoke('beforeStepDown', () => this.#o.beforeStepDown?.()).then(() => {
      this.#preparingStepDown = false;
      if (!this.#leading || this.#closing) return;
      this.#handingOver = true;
      void this.#queueStepDown(undefined, preferred ? 0 : this.#leaseMs).finally(() => {
        this.#handingOver = false;
        this.#reschedule();
      });
    });
  }

  /** True when the observed record names this replica its preferred holder. */
  #preferred(): boolean {
    return this.#observed?.record.preferredHolder === this.identity;
  }

  /** True when the record names a preferred holder other than this replica. */
  #prefersOther(record: LeaseRecord): boolean {
    return !!record.preferredHolder && record.preferredHolder !== this.identity;
  }

  /** Takes in a state of the record, from the watch or from our own requests; stale ones are dropped. */
  #observe(lease: LeaseSnapshot | undefined, rv: string | undefined): void {
    if (this.#synced && rv !== undefined && this.#observedRv !== undefined && compareResourceVersions(rv, this.#observedRv) <= 0) return;
    const changed = !this.#synced || !sameRecord(this.#observed?.record, lease?.record);
    this.#synced = true;
    this.#observed = lease;
    this.#observedRv = rv;
    if (lease) this.#forgetSettled(lease.resourceVersion);
    if (!changed) return;
    // A change, not a resourceVersion, restarts the expiry clock: client-go
    // compares the record, so edits to labels do not extend a dead lease.
    this.#observedAt = this.#clock.monotonic();
    this.#retryAt = undefined;
    const holder = lease?.record.holderIdentity || undefined;
    if (lease) this.#maxTransitions = Math.max(this.#maxTransitions, lease.record.leaseTransitions);
    if (holder !== this.#reported) {
      this.#reported = holder;
      if (holder !== undefined && !this.#closing) {
        this.#log.info({ leader: holder }, 'new leader observed');
        void this.#invoke('onNewLeader', () => this.#o.onNewLeader?.(holder));
      }
    }
    this.#reportLeaderInfo();
    if (this.#leading && holder !== this.identity) {
      void this.#stopLeading(new NotLeaderError(holder), `lease is now ${holder ? `held by ${holder}` : lease ? 'released' : 'deleted'}`);
    }
    if (lease) this.#honourRequests(lease.record);
  }

  /**
   * The Lease is at `rv`: an uncertain update sent against an older version
   * can no longer apply, and a create can no longer succeed while it exists.
   */
  #forgetSettled(rv: string): void {
    for (const write of this.#uncertain) {
      if (write.kind === 'create' || compareResourceVersions(rv, write.baseRv) > 0) this.#uncertain.delete(write);
    }
  }

  /**
   * True while this replica must not acquire: another identity holds the
   * record and, by our local clock, its lease has not expired; or the record
   * prefers another identity, which still has its chance (see #expiresAt).
   */
  #holdsOff(): boolean {
    const record = this.#observed?.record;
    if (!record) return false;
    const heldByOther = record.holderIdentity !== '' && record.holderIdentity !== this.identity;
    if (!heldByOther && !this.#prefersOther(record)) return false;
    return this.#clock.monotonic() < this.#expiresAt();
  }

  /**
   * When the observed record expires for us: its leaseDurationSeconds after
   * we saw it change. A record preferring another holder gives that one at
   * least our own leaseDurationMs (a released record says 1 s): long enough
   * for a live replica to take it, and the bound after which a preferred
   * replica that never comes stops keeping the Lease empty.
   */
  #expiresAt(): number {
    const record = this.#observed?.record;
    const recordMs = (record?.leaseDurationSeconds ?? 0) * 1000;
    return this.#observedAt + (record && this.#prefersOther(record) ? Math.max(recordMs, this.#leaseMs) : recordMs);
  }

  /** Sets the one timer for what comes next, or acts now. */
  #reschedule(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#closing || !this.#started || this.#busy || this.#resigning || this.#handingOver || !this.#synced) return;
    if (this.#candidate && !this.#leading && this.#observed?.record.holderIdentity !== this.identity) {
      // Coordinated: the API server names the holder; the watch wakes us when it names us.
      this.#resolveReady();
      return;
    }
    const now = this.#clock.monotonic();
    let due: number;
    if (this.#leading) due = this.#renewAt;
    else if (this.#holdsOff()) due = this.#expiresAt();
    else due = this.#retryAt ?? now;
    // A cool-down keeps this replica from contending on its own; a Lease
    // that names it the preferred holder invites it, cool-down or not.
    if (!this.#leading && !this.#preferred()) due = Math.max(due, this.#coolDownUntil);
    if (due > now) {
      this.#timer = this.#clock.setTimer(() => this.#reschedule(), due - now);
      this.#resolveReady();
      return;
    }
    this.#busy = true;
    this.#inflight = this.#attempt().finally(() => {
      this.#busy = false;
      this.#inflight = undefined;
      if (this.#leading) this.#renewAt = this.#clock.monotonic() + this.#retryMs;
      this.#reschedule();
    });
  }

  /** client-go's tryAcquireOrRenew: one read-decide-CAS round (a leader first tries its CAS without the read). */
  async #attempt(): Promise<void> {
    const leading = this.#leading;
    const startedAt = this.#clock.monotonic();
    const { signal, done } = this.#requestSignal(true);
    try {
      const mine = this.#observed;
      if (leading && mine?.record.holderIdentity === this.identity) {
        const result = await this.#update(this.#record(mine.record.leaseTransitions, mine.record), mine.resourceVersion, signal);
        if (result.ok) return this.#succeeded(result.lease, leading, startedAt);
        this.#log.debug({ reason: result.reason }, 'optimistic renewal failed; reading the lease');
        this.#metrics?.slowPath();
      }
      const current = await this.#lock.get(signal);
      // Closing or resigning: no new acquisition (a release is about to go out).
      if (this.#closing || this.#resigning || this.#handingOver) return;
      if (!current) {
        this.#observe(undefined, undefined);
        // Coordinated: the API server creates and assigns the Lease, never we.
        if (this.#candidate) return;
        // After a deletion, carry the count on (from -1: 0 for a new Lease) so terms keep growing.
        const result = await this.#create(this.#record(this.#nextTerm(this.#maxTransitions)), signal);
        return result.ok ? this.#succeeded(result.lease, undefined, startedAt) : this.#failed('another replica created the lease first');
      }
      this.#observe(current, current.resourceVersion);
      // #observe may have started a handover (the record prefers another holder).
      if (this.#handingOver || this.#holdsOff()) return;
      // Coordinated: only a Lease the API server assigned to us.
      if (this.#candidate && !this.#leading && current.record.holderIdentity !== this.identity) return;
      const renewing = this.#leading !== undefined && this.#leading === leading;
      const { leaseTransitions } = current.record;
      const record = renewing ? this.#record(leaseTransitions, current.record) : this.#record(this.#nextTerm(leaseTransitions));
      const result = await this.#update(record, current.resourceVersion, signal);
      if (result.ok) this.#succeeded(result.lease, renewing ? leading : undefined, startedAt);
      else this.#failed(result.reason === 'conflict' ? 'another replica wrote the lease first' : 'the lease was deleted');
    } catch (err) {
      this.#requestFailed(err);
      if (!this.#closing) this.#failed(err instanceof Error ? err.message : String(err));
    } finally {
      done();
    }
  }

  /** The term of a new acquisition over a record at `transitions`: one more, and above any floor resign() set. */
  #nextTerm(transitions: number): number {
    return Math.max(transitions, this.#termFloor) + 1;
  }

  /** lock.create, remembering while its outcome is unknown. */
  #create(record: LeaseRecord, signal: AbortSignal): Promise<LeaseWriteResult> {
    return this.#tracked({ kind: 'create' }, () => this.#lock.create(record, signal));
  }

  /** lock.update, remembering while its outcome is unknown. */
  #update(record: LeaseRecord, baseRv: string, signal: AbortSignal): Promise<LeaseWriteResult> {
    return this.#tracked({ kind: 'update', baseRv }, () => this.#lock.update(record, baseRv, signal));
  }

  /**
   * Runs one write. An answer settles it; a failure that may have applied
   * it (an abort, a timeout, a reset: anything but a refusal) leaves it
   * recorded in #uncertain for close() to settle.
   */
  async #tracked(write: UncertainWrite, send: () => Promise<LeaseWriteResult>): Promise<LeaseWriteResult> {
    // A fresh object per write: two writes on one base are two entries.
    const entry = { ...write };
    this.#uncertain.add(entry);
    try {
      const result = await send();
      this.#uncertain.delete(entry);
      return result;
    } catch (err) {
      if (certainlyNotApplied(err)) this.#uncertain.delete(entry);
      throw err;
    }
  }

  /** A signal for one round of requests: aborted after renewDeadlineMs and, if `onClose`, by close(). */
  #requestSignal(onClose: boolean): { signal: AbortSignal; done: () => void } {
    const controller = new AbortController();
    const closing = this.#closeController.signal;
    const abort = () => controller.abort(closing.reason);
    if (onClose) closing.addEventListener('abort', abort, { once: true });
    const timer = this.#clock.setTimer(() => controller.abort(new Error(`no answer within renewDeadlineMs (${this.#renewDeadlineMs})`)), this.#renewDeadlineMs);
    const done = () => {
      timer.cancel();
      closing.removeEventListener('abort', abort);
    };
    return { signal: controller.signal, done };
  }

  /** A write of ours landed: renewed (`renewed` is the leadership it renewed) or acquired. */
  #succeeded(lease: LeaseSnapshot, renewed: Leadership | undefined, startedAt: number): void {
    this.#observe(lease, lease.resourceVersion);
    this.#retryAt = undefined;
    this.#lastRenewAt = lease.record.renewTime?.getTime() ?? this.#clock.now();
    this.#lastRenewMonotonic = this.#clock.monotonic();
    if (this.#closing) return;
    if (renewed) {
      // A renewal that lands after we gave up does not restore that term; the
      // next round takes the record over as a new one.
      if (this.#leading === renewed) this.#armDeadline(renewed, startedAt);
      return;
    }
    const leadership: Leadership = { controller: new AbortController(), term: lease.record.leaseTransitions, deadline: undefined };
    this.#leading = leadership;
    this.#armDeadline(leadership, startedAt);
    this.#log.info({ term: leadership.term }, 'started leading');
    this.#metrics?.leading(true);
    void this.#invoke('onStartedLeading', () => this.#o.onStartedLeading?.(leadership.controller.signal));
  }

  #failed(reason: string): void {
    if (this.#leading) {
      this.#log.warn({ reason }, 'failed to renew the lease; retrying until renewDeadlineMs');
      return;
    }
    this.#retryAt = this.#clock.monotonic() + this.#retryMs * (1 + Math.random() * jitterFactor);
    this.#log.warn({ reason }, 'failed to acquire the lease; retrying');
  }

  /**
   * The leader gives up renewDeadlineMs after the START of its last successful
   * write: the others' expiry clocks started no earlier than that write landed.
   */
  #armDeadline(leadership: Leadership, lastSuccessStartedAt: number): void {
    leadership.deadline?.cancel();
    const remaining = lastSuccessStartedAt + this.#renewDeadlineMs - this.#clock.monotonic();
    leadership.deadline = this.#clock.setTimer(() => {
      if (this.#leading !== leadership) return;
      void this.#stopLeading(new NotLeaderError(undefined), `no renewal succeeded within renewDeadlineMs (${this.#renewDeadlineMs})`);
      this.#reschedule();
    }, Math.max(0, remaining));
  }

  #stopLeading(reason: Error, why: string): Promise<void> {
    const leadership = this.#leading;
    if (!leadership) return Promise.resolve();
    this.#leading = undefined;
    leadership.deadline?.cancel();
    leadership.controller.abort(reason);
    this.#log.info({ term: leadership.term, reason: why }, 'stopped leading');
    this.#metrics?.leading(false);
    return this.#invoke('onStoppedLeading', () => this.#o.onStoppedLeading?.());
  }

  /**
   * client-go's release: an empty holder with leaseDurationSeconds 1, so
   * followers take over at once. `transitionsFloor` raises the released
   * record's leaseTransitions (see resign()).
   */
  async #release(transitionsFloor = -1, preferred?: string): Promise<ReleaseOutcome> {
    const { signal, done } = this.#requestSignal(false);
    try {
      let base = this.#observed;
      // Two rounds: a renewal aborted by close() may have landed after all,
      // leaving our resourceVersion stale though we still hold the Lease.
      for (let round = 0; round < 2; round++) {
        if (base?.record.holderIdentity !== this.identity) return 'not-held';
        const released = this.#released(Math.max(base.record.leaseTransitions, transitionsFloor), preferred);
        const result = await this.#update(released, base.resourceVersion, signal);
        if (result.ok) {
          this.#observe(result.lease, result.lease.resourceVersion);
          this.#log.info({ preferred }, 'released the lease');
          return 'released';
        }
        if (result.reason === 'not-found') return 'not-held';
        base = await this.#lock.get(signal);
        if (base) this.#observe(base, base.resourceVersion);
      }
      if (base?.record.holderIdentity !== this.identity) return 'not-held';
      this.#log.warn('could not release the lease (it kept changing); others take over when it expires');
    } catch (err) {
      this.#log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'failed to release the lease; others take over when it expires');
    } finally {
      done();
    }
    return 'unconfirmed';
  }

  /**
   * close() with releaseOnClose: leave no record naming this contender. A
   * write whose answer was lost (close() aborted it, or it timed out) may
   * have landed, or may still land: read the Lease; if it names us, release
   * it; if our CAS could still apply to the version there (its base, or no
   * Lease for a create), fence it first by moving the Lease past that
   * version (an annotation changed, or a released record created),
   * so it can never land later. Bounded: three rounds of requests, each
   * within renewDeadlineMs.
   */
  async #settleAndRelease(): Promise<void> {
    const { signal, done } = this.#requestSignal(false);
    try {
      for (let round = 0; round < 3; round++) {
        const current = await this.#lock.get(signal);
        if (current) this.#observe(current, current.resourceVersion);
        const pending = [...this.#uncertain];
        if (!current) {
          if (!pending.some((w) => w.kind === 'create')) return this.#uncertain.clear();
          // A create of ours may still arrive: take the name first with a released record.
          const fenced = await this.#create(this.#released(Math.max(this.#maxTransitions, 0)), signal);
          if (fenced.ok) {
            this.#observe(fenced.lease, fenced.lease.resourceVersion);
            return this.#uncertain.clear();
          }
          continue;
        }
        if (current.record.holderIdentity === this.identity) {
          const released = await this.#update(this.#released(current.record.leaseTransitions), current.resourceVersion, signal);
          if (released.ok) {
            this.#observe(released.lease, released.lease.resourceVersion);
            this.#log.info('released the lease');
            return this.#uncertain.clear();
          }
          continue;
        }
        if (pending.some((w) => w.kind === 'update' && w.baseRv === current.resourceVersion)) {
          // A CAS of ours is still possible on this version: move the version on (the record stays as it is).
          const moved = await this.#lock.touch(current.resourceVersion, signal);
          if (moved.ok) {
            this.#observe(moved.lease, moved.lease.resourceVersion);
            return this.#uncertain.clear();
          }
          continue;
        }
        // Someone else's record on a version none of our writes can apply to.
        return this.#uncertain.clear();
      }
      this.#log.warn('could not settle the lease on close (it kept changing); others take over when it expires');
    } catch (err) {
      this.#log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'failed to release the lease; others take over when it expires');
    } finally {
      done();
    }
  }

  /** client-go's released record; `preferred` names the next holder (undefined keeps the Lease's preference as it is). */
  #released(leaseTransitions: number, preferred?: string): LeaseRecord {
    const now = new Date(this.#clock.now());
    return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions, preferredHolder: preferred };
  }

  /**
   * Our record as of now: a renewal keeps the `renewing` record's
   * acquireTime and the Lease's preferred holder; an acquisition sets
   * acquireTime to now and clears any preference (it has been served, or
   * its wait ran out).
   */
  #record(leaseTransitions: number, renewing?: LeaseRecord): LeaseRecord {
    const now = new Date(this.#clock.now());
    const acquireTime = renewing ? renewing.acquireTime : now;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.#leaseMs / 1000,
      acquireTime,
      renewTime: now,
      leaseTransitions,
      preferredHolder: renewing ? undefined : '',
      holderAddress: this.#advertise,
    };
  }

  /** Runs a user callback; a throw or rejection is logged, never propagated into the election. */
  #invoke(name: string, callback: () => unknown): Promise<void> {
    // Name and code only: a callback's error message may carry app data (keys).
    const report = (err: unknown) =>
      this.#log.error({ callback: name, error: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown } | null)?.code }, `${name} failed`);
    try {
      return Promise.resolve(callback()).then(() => undefined, report);
    } catch (err) {
      report(err);
      return Promise.resolve();
    }
  }
}

function sameRecord(a: LeaseRecord | undefined, b: LeaseRecord | undefined): boolean {
  if (!a || !b) return a === b;
  return a.holderIdentity === b.holderIdentity && a.leaseDurationSeconds === b.leaseDurationSeconds
    && (a.preferredHolder || undefined) === (b.preferredHolder || undefined) && a.holderAddress === b.holderAddress
    && !!a.stepDownRequested === !!b.stepDownRequested
    && a.leaseTransitions === b.leaseTransitions && a.acquireTime?.getTime() === b.acquireTime?.getTime()
    && a.renewTime?.getTime() === b.renewTime?.getTime();
}

function infoOf(record: LeaseRecord | undefined): LeaderInfo | undefined {
  if (!record || record.holderIdentity === '') return undefined;
  return { identity: record.holderIdentity, address: record.holderAddress, term: record.leaseTransitions };
}

/** A cool-down in ms: 0 up to the longest timer; `fallback` when undefined. */
function checkCoolDown(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
    throw new InvalidOptionError('coolDownMs', value, `a number of milliseconds from 0 to ${MAX_TIMER_MS}`);
  }
  return value;
}

function positive(option: string, value: unknown, wholeSeconds = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, value, 'must be a positive number of milliseconds');
  }
  if (wholeSeconds && value % 1000 !== 0) throw new InvalidOptionError(option, value, 'must be whole seconds (the Lease records seconds)');
  return value;
}

/** Checks that `value`, the option `option`, names another replica than `self` (a handoff's target): InvalidOptionError otherwise. */
export function checkOtherIdentity(option: string, value: unknown, self: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(option, value, 'a non-empty replica identity');
  if (value === self) throw new InvalidOptionError(option, value, `another replica's identity than this one's (${self})`);
  return value;
}

/**
 * The checks of LeaseElector's constructor, made before anything else (no
 * kubeconfig is loaded, no request made): StateManager.start runs them first
 * so a bad option is refused as that option even where no cluster is set up.
 *
 * @throws InvalidOptionError naming the first bad option
 */
export function checkElectorOptions(options: LeaseElectorOptions) {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'must be an object');
  const name = validateName('name', options.name);
  const leaseMs = positive('leaseDurationMs', options.leaseDurationMs ?? 15_000, true);
  const renewMs = positive('renewDeadlineMs', options.renewDeadlineMs ?? 10_000);
  const retryMs = positive('retryPeriodMs', options.retryPeriodMs ?? 2_000);
  // client-go's rules, with its wording (NewLeaderElector).
  if (!(leaseMs > renewMs)) throw new InvalidOptionError('leaseDurationMs', leaseMs, `must be greater than renewDeadlineMs (${renewMs})`);
  if (!(renewMs > jitterFactor * retryMs)) {
    throw new InvalidOptionError('renewDeadlineMs', renewMs, `must be greater than ${jitterFactor} × retryPeriodMs (${jitterFactor * retryMs})`);
  }
  const identity = options.identity ?? (process.env.POD_NAME || `${hostname()}-${randomBytes(3).toString('hex')}`);
  if (typeof identity !== 'string' || identity === '') throw new InvalidOptionError('identity', identity, 'must be a non-empty string');
  if (options.releaseOnClose !== undefined && typeof options.releaseOnClose !== 'boolean') {
    throw new InvalidOptionError('releaseOnClose', options.releaseOnClose, 'must be a boolean');
  }
  const advertise = options.advertise;
  if (advertise !== undefined && (typeof advertise !== 'string' || advertise === '' || advertise.length > MAX_ADVERTISE_LENGTH)) {
    throw new InvalidOptionError('advertise', advertise, `a non-empty string of at most ${MAX_ADVERTISE_LENGTH} characters (this replica's address)`);
  }
  for (const fn of ['onStartedLeading', 'onStoppedLeading', 'onNewLeader', 'onLeaderChange'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') throw new InvalidOptionError(fn, options[fn], 'must be a function');
  }
  return { name, leaseMs, renewMs, retryMs, identity, metrics: resolveMetrics(options.metrics) };
}
