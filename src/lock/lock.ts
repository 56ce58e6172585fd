/**
 * Locks: mutual exclusion between processes, one coordination.k8s.io/v1
 * Lease per lock. A lock is an election over its own Lease: it runs the
 * {@link LeaseElector} algorithm (client-go's) and hands the leadership out as
 * a {@link LockHandle}. Get one with `store.newLock(key)`.
 *
 * Non-guarantees first:
 * - A lock is a lease, not a mutex. A holder that pauses (GC, SIGSTOP, a
 *   frozen VM) or is cut off from the API server for longer than the margin
 *   between the renew deadline (2/3 of the TTL) and the TTL can lose the lock
 *   to another process before it notices: its handle's `signal` aborts only
 *   when its own renew deadline passes or it sees the new holder. Side effects
 *   made in that window can overlap the next holder's. Fence them with
 *   `token`: have the protected resource refuse a token lower than the highest
 *   it has seen (e.g. store it beside the data and write with atomicPut).
 * - Tokens grow only while the Lease exists: deleting it (`kubectl delete
 *   lease`) restarts the count. kubekv never deletes lock Leases.
 * - Expiry is judged by each waiter's LOCAL monotonic clock from the moment it
 *   last saw the record change (client-go's rule): wall-clock skew is harmless,
 *   a clock-rate difference above 1.5 (TTL / renew deadline) is not.
 * - Not re-entrant and not fair: lock() on a Lock that holds or is acquiring
 *   rejects; among waiters the first write to land wins, no FIFO.
 * - Identities must be unique: two Locks given the same `identity` both hold.
 *
 * Guarantees:
 * - Every write is a CAS on the Lease's resourceVersion; under the timing
 *   assumption above at most one Lock holds a key of a bucket at a time.
 * - Waiters do not poll: they watch the Lease and keep one timer for its
 *   expiry. unlock() writes client-go's release record (empty holder,
 *   leaseDurationSeconds 1), so a waiter acquires at once, not after the TTL.
 * - `token` is the Lease's leaseTransitions at acquisition; every acquisition
 *   raises it, so successive holders of a key have strictly increasing tokens.
 * - The handle's `signal` aborts before unlock() releases the Lease, and when
 *   the lock is lost: no renewal succeeded within the renew deadline (which
 *   ends before the Lease can expire for others), another holder is seen, or
 *   the Lease is deleted. A lost lock is not re-acquired behind the caller's
 *   back: call lock() again.
 * - A lock() that rejects leaves nothing held, and an aborted lock() never
 *   acquires later. An error no retry can fix (RBAC forbids a request, the
 *   namespace does not exist) rejects lock() instead of waiting forever.
 * - The Lease is named `<bucket>-lock-<16 hex of sha256(key)>`, labelled
 *   app.kubernetes.io/managed-by=kubekv, app.kubernetes.io/component=lock and
 *   kubekv.dev/bucket=<bucket>, and annotated kubekv.dev/lock-key with the
 *   encoded key, so `kubectl get lease -l kubekv.dev/bucket=<bucket>` lists a
 *   bucket's locks. Locks are not ConfigMap keys: list() never shows them.
 *   The record is client-go's, so a Go leaderelection client may contend too.
 *
 * RBAC: get, list, watch, create and update on leases (create cannot be
 * restricted by resourceNames).
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeApi } from '../kube/api.js';
import type { KubeConfig } from '../kube/types.js';
import { systemClock, type Clock } from '../clock.js';
import { BUCKET_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, encodeKey } from '../codec/index.js';
import { LeaseElector } from '../election/lease-elector.js';
import { KubeLeaseLock, type LeaseLock } from '../election/lease-lock.js';
import { AbortedError, ClosedError, InvalidOptionError, KubekvError, LockHeldError, NotLeaderError } from '../errors.js';
import { lockLost } from '../events/lease-events.js';
import type { EventRecorder } from '../events/recorder.js';
import { silentLogger, type Logger } from '../logger.js';
import { resolveMetrics, type MetricsOptions } from '../metrics/metrics.js';
import type { LockObserver } from '../metrics/observer.js';
import { LOCK_COMPONENT, LOCK_KEY_ANNOTATION, LOCK_VALUE_ANNOTATION, lockValueOf } from './names.js';

export { LOCK_COMPONENT, LOCK_KEY_ANNOTATION, LOCK_VALUE_ANNOTATION } from './names.js';
/** Longest {@link LockOptions.value} accepted, in UTF-8 bytes (it rides in the Lease's annotations, 256 KiB in all). */
export const MAX_LOCK_VALUE_BYTES = 16_384;
/** Longest TTL accepted: one day (timers cannot be longer than ~24.8 days, and a dead holder blocks others for a TTL). */
export const MAX_LOCK_TTL_MS = 86_400_000;

/** Options of `store.newLock(key, options)`; validated when the Lock is made. */
export interface LockOptions {
  /**
   * Time to live, in ms: how long waiters must see the Lease unchanged
   * before they may take it from a holder that stopped renewing. Whole
   * seconds (the Lease records seconds), 1000 to 86400000 (one day).
   * The holder renews every ttlMs / 6 and gives the lock up (its handle's
   * signal aborts) when no renewal succeeded for 2/3 × ttlMs, satisfying
   * client-go's rule leaseDuration > renewDeadline > 1.2 × retryPeriod; with
   * the default that is 15 s / 10 s / 2.5 s. Longer survives slower API
   * servers and longer pauses; shorter hands a crashed holder's lock over
   * sooner. @default 15000
   */
  ttlMs?: number | undefined;
  /**
   * The holder identity written into the Lease. Must be unique among all
   * contenders for the key: two Locks with one identity both hold.
   * @default host name + 12 random hex digits, different for every Lock
   */
  identity?: string | undefined;
  /**
   * A value the holder publishes with the lock (libkv's LockOptions.Value),
   * e.g. its address: written into the Lease with every renewal while this
   * Lock holds, removed when it unlocks; anyone reads it with
   * {@link Lock.inspect} or `kubekv locks`. Text, at most 16 KiB (UTF-8).
   * Not secret: anyone who can read Leases sees it. @default none
   */
  value?: string | undefined;
  /** Receives acquisitions, losses and failures (never the key). @default the store's logger */
  logger?: Logger | undefined;
  /** Time source and timers. @default the store's clock */
  clock?: Clock | undefined;
  /**
   * Prometheus metrics of this lock (acquisitions, losses, locks held, hold
   * time), labelled with its namespace and bucket, never its key; see
   * docs/observability.md. Needs prom-client installed. @default the
   * store's `metrics` option
   */
  metrics?: MetricsOptions | undefined;
}

/** Options of {@link Lock.lock}. */
export interface LockAcquireOptions {
  /** Gives up waiting: lock() rejects with AbortedError and nothing stays held. E.g. `AbortSignal.timeout(5000)`. */
  signal?: AbortSignal | undefined;
}

/** A held lock, from {@link Lock.lock}. `await using handle = await lock.lock()` unlocks at scope exit. */
export interface LockHandle extends AsyncDisposable {
  /**
   * Aborts when the lock is no longer held: lost (reason: NotLeaderError:
   * renewals failed until the renew deadline, another holder seen, or the
   * Lease deleted) or unlocked (reason: ClosedError). Pass it to the work the
   * lock guards.
   */
  readonly signal: AbortSignal;
  /**
   * Fencing token: the Lease's leaseTransitions at acquisition. Strictly
   * greater than every earlier holder's token of this key (while the Lease
   * is not deleted). Hand it to whatever the lock protects.
   */
  readonly token: number;
  /**
   * Releases the lock: aborts `signal`, then writes client-go's release
   * record so a waiter acquires at once. Idempotent; never rejects (a failed
   * release is logged and the Lease then expires after the TTL).
   */
  unlock(): Promise<void>;
}

/** How a Lock is made; for ConfigMapStore.newLock and tests, not the public API. */
export interface LockInit {
  /** Bucket the lock belongs to (a valid ConfigMap name). */
  bucket: string;
  /** Value of the kubekv.dev/bucket label, as on the bucket's ConfigMap. Default: `bucket`. */
  bucketLabel?: string | undefined;
  namespace: string;
  key: string;
  /** The Lease's name; default {@link lockLeaseName}(bucket, key). A session (store/session.ts) names its own. */
  leaseName?: string | undefined;
  /** Value of the app.kubernetes.io/component label of a Lease it creates; default {@link LOCK_COMPONENT}. */
  component?: string | undefined;
  options?: LockOptions | undefined;
  /** The port to Kubernetes, for the default KubeLeaseLock. */
  api?: KubeApi | undefined;
  /** Cluster access, for the default KubeLeaseLock when no `api` is given. */
  kubeConfig?: KubeConfig | undefined;
  /** Storage of the record; default a KubeLeaseLock on the lock's Lease. */
  leaseLock?: LeaseLock | undefined;
  /** Defaults of options.logger and options.clock. */
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  /** Called once when the Lock is closed (the store stops tracking it). */
  onClose?: (() => void) | undefined;
  /** Metrics hooks (the store's); options.metrics replaces them. */
  observer?: LockObserver | undefined;
  /** Records a Warning LockLost when a held lock is lost; none without. */
  events?: EventRecorder | undefined;
}

/**
 * The deterministic Lease name of lock `key` in `bucket`: `<bucket>-lock-`
 * and 16 hex digits of the key's SHA-256; a valid DNS subdomain of at most
 * 253 characters for any valid bucket and key. A bucket name too long to
 * prefix whole is cut, and then the bucket is hashed with the key.
 * Distinct keys collide with probability ~2^-64; a collision makes two keys
 * share one lock (extra exclusion, never less).
 */
export function lockLeaseName(bucket: string, key: string): string {
  const name = `${bucket}-lock-${sha256(key).slice(0, 16)}`;
  if (name.length <= 253) return name;
  const suffix = `-lock-${sha256(`${bucket}\n${key}`).slice(0, 16)}`;
  return bucket.slice(0, 253 - suffix.length).replace(/[-.]+$/, '') + suffix;
}

const knownOptions = new Set(['ttlMs', 'identity', 'value', 'logger', 'clock', 'metrics']);

/** What {@link Lock.inspect} reads from a lock's Lease. */
export interface LockInfo {
  /** The holder identity the Lease names (it may have stopped renewing: expiry is judged over time, not by one read). */
  holder: string;
  /** The holder's {@link LockOptions.value}, when it published one. */
  value: string | undefined;
  /** The holder's fencing token (the Lease's leaseTransitions). */
  token: number;
}
const knownAcquireOptions = new Set(['signal']);

/**
 * A lock on one key of a bucket, from `store.newLock(key)`. One Lock is one
 * contender with one identity: lock() acquires, the handle unlocks, lock()
 * may be called again after. Use one Lock per concurrent waiter.
 */
export class Lock implements AsyncDisposable {
  /** The lock key. */
  readonly key: string;
  /**
   * Name of the Lease that holds the lock: `<bucket>-lock-` and 16 hex
   * digits of the key's SHA-256 (a long bucket name is cut and hashed with
   * the key), the same for every contender of the key.
   */
  readonly leaseName: string;
  /** Namespace of the Lease (the bucket's). */
  readonly namespace: string;
  /** This Lock's holder identity in the Lease. */
  readonly identity: string;
  /** The TTL in ms; renew deadline 2/3 and retry period 1/6 of it. */
  readonly ttlMs: number;
  readonly #leaseLock: LeaseLock;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #log: Logger;
  readonly #what: string;
  readonly #onClose: (() => void) | undefined;
  readonly #observer: LockObserver | undefined;
  readonly #events: EventRecorder | undefined;
  #attempt: Attempt | undefined;
  /** The last attempt's shutdown: the next one starts after it, so it never releases its successor's record. */
  #previous: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;

  /** @param init - see {@link LockInit}; options are validated here, and no request is made */
  constructor(init: LockInit) {
    const encodedKey = encodeKey(init.key);
    const options = checkOptions(init.options);
    const ttlMs = options.ttlMs ?? 15_000;
    if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs > MAX_LOCK_TTL_MS || ttlMs % 1000 !== 0) {
      throw new InvalidOptionError('ttlMs', ttlMs, `whole seconds in ms, from 1000 to ${MAX_LOCK_TTL_MS} (the Lease records seconds)`);
    }
    const identity = options.identity ?? `${hostname()}-${randomBytes(6).toString('hex')}`;
    if (typeof identity !== 'string' || identity === '') throw new InvalidOptionError('identity', identity, 'a non-empty string');
    const value = options.value;
    if (value !== undefined && (typeof value !== 'string' || Buffer.byteLength(value, 'utf8') > MAX_LOCK_VALUE_BYTES)) {
      throw new InvalidOptionError('value', typeof value === 'string' ? `<${Buffer.byteLength(value, 'utf8')} bytes>` : value, `text of at most ${MAX_LOCK_VALUE_BYTES} bytes (UTF-8)`);
    }
    checkShape('logger', options.logger, ['debug', 'info', 'warn', 'error', 'child'], 'a pino-compatible logger');
    checkShape('clock', options.clock, ['now', 'monotonic', 'setTimer'], 'a Clock ({ now, monotonic, setTimer })');
    this.key = init.key;
    this.namespace = init.namespace;
    this.leaseName = init.leaseName ?? lockLeaseName(init.bucket, init.key);
    this.identity = identity;
    this.ttlMs = ttlMs;
    this.#clock = options.clock ?? init.clock ?? systemClock;
    this.#logger = options.logger ?? init.logger ?? silentLogger;
    this.#log = this.#logger.child({ lease: `${init.namespace}/${this.leaseName}`, identity });
    this.#what = `lock ${JSON.stringify(init.key)} of bucket ${init.namespace}/${init.bucket}`;
    this.#onClose = init.onClose;
    this.#observer = options.metrics === undefined ? init.observer : resolveMetrics(options.metrics)?.lock(init.namespace, init.bucket);
    this.#events = init.events;
    if (init.leaseLock) this.#leaseLock = init.leaseLock;
    else if (init.api || init.kubeConfig) {
      this.#leaseLock = new KubeLeaseLock({
        api: init.api,
        kubeConfig: init.kubeConfig,
        namespace: init.namespace,
        name: this.leaseName,
        labels: {
          [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
          'app.kubernetes.io/component': init.component ?? LOCK_COMPONENT,
          [BUCKET_LABEL]: init.bucketLabel ?? init.bucket,
        },
        annotations: { [LOCK_KEY_ANNOTATION]: encodedKey },
        holderAnnotations: value === undefined ? undefined : { [LOCK_VALUE_ANNOTATION]: JSON.stringify({ holder: identity, value }) },
        clock: this.#clock,
        logger: this.#logger,
      });
    } else throw new InvalidOptionError('kubeConfig', undefined, 'an api, a KubeConfig or a leaseLock');
  }

  /** True while a handle of this Lock holds the lock (its signal not aborted). */
  get held(): boolean {
    return this.#attempt?.handle?.signal.aborted === false;
  }

  /**
   * Waits until this Lock holds the lock and resolves with the handle. Sends
   * no request while another holder renews: it watches the Lease.
   *
   * Rejects with AbortedError when `signal` aborts first (nothing stays held),
   * ClosedError when the Lock (or its store) is closed, LockHeldError when
   * this Lock already holds or is acquiring (a Lock is not re-entrant), and,
   * without waiting further, with an error no retry can fix (ForbiddenError,
   * an ApiError such as a missing namespace). Network failures are retried.
   */
  async lock(options: LockAcquireOptions = {}): Promise<LockHandle> {
    const signal = checkAcquireOptions(options);
    if (this.#closing) throw new ClosedError(this.#what);
    if (this.#attempt) {
      throw new LockHeldError(this.#what);
    }
    const aborted = () => new AbortedError(`acquisition of ${this.#what}`, { cause: signal?.reason });
    if (signal?.aborted) throw aborted();
    const attempt = new Attempt(this.#what, (handle) => this.#lost(attempt, handle));
    attempt.elector = this.#newElector(attempt);
    this.#attempt = attempt;
    const onAbort = () => this.#end(attempt, aborted());
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#previous;
      if (!attempt.settled) attempt.elector.start().catch(() => {});
      const handle = await attempt.acquired.promise;
      if (signal?.aborted || this.#closing) {
        // Acquired in the same turn as the abort or close(): the caller has given up, so give it back.
        await handle.unlock();
        throw signal?.aborted ? aborted() : new ClosedError(this.#what);
      }
      this.#log.info({ token: handle.token }, 'lock acquired');
      // Counted only if still held: a loss already reported (#lost) came before anything to count.
      if (!handle.signal.aborted) {
        handle.heldSince = this.#clock.monotonic();
        this.#observer?.acquired();
      }
      return handle;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Reads who holds the lock now (a quorum read of its Lease), with the
   * value the holder published; undefined when nobody does (no Lease, or
   * released). Makes no write and needs no lock() first.
   */
  async inspect(options: LockAcquireOptions = {}): Promise<LockInfo | undefined> {
    const signal = checkAcquireOptions(options);
    const lease = await this.#leaseLock.get(signal);
    if (!lease || lease.record.holderIdentity === '') return undefined;
    return { holder: lease.record.holderIdentity, value: lockValueOf(lease.annotations, lease.record.holderIdentity), token: lease.record.leaseTransitions };
  }

  /** Stops contending: rejects a waiting lock() with ClosedError, unlocks a held lock. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const attempt = this.#attempt;
      if (attempt?.handle) await attempt.handle.unlock();
      else if (attempt) this.#end(attempt, new ClosedError(this.#what));
      await this.#previous;
      this.#onClose?.();
    })();
    return this.#closing;
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #newElector(attempt: Attempt): LeaseElector {
    // Requests go through a view that reports failures, so one no retry can
    // fix ends a waiting lock() instead of being retried forever.
    const check = (err: unknown) => {
      if (!attempt.settled && err instanceof KubekvError && !err.retryable && !(err instanceof AbortedError)) this.#end(attempt, err);
    };
    const report = (err: unknown): never => {
      check(err);
      throw err;
    };
    const inner = this.#leaseLock;
    const lease: LeaseLock = {
      describe: () => inner.describe(),
      get: (signal) => inner.get(signal).catch(report),
      create: (record, signal) => inner.create(record, signal).catch(report),
      update: (record, rv, signal) => inner.update(record, rv, signal).catch(report),
      touch: (rv, signal) => inner.touch(rv, signal).catch(report),
      watch: (observer) => inner.watch({ onLease: (l, rv) => observer.onLease(l, rv), onError: (err) => (observer.onError?.(err), check(err)) }),
    };
    const elector: LeaseElector = new LeaseElector({
      name: this.leaseName,
      lock: lease,
      identity: this.identity,
      leaseDurationMs: this.ttlMs,
      // client-go's rule holds for every TTL: ttl > 2/3 ttl > 1.2 × ttl/6.
      renewDeadlineMs: Math.floor((this.ttlMs * 2) / 3),
      retryPeriodMs: Math.floor(this.ttlMs / 6),
      clock: this.#clock,
      logger: this.#logger,
      onStartedLeading: (leadership) => attempt.started(leadership, elector.term ?? 0),
    });
    return elector;
  }

  /** The attempt is over (if still waiting, lock() rejects with `error`); the next may start once it has shut down. */
  #end(attempt: Attempt, error?: KubekvError): void {
    if (error) attempt.fail(error);
    if (this.#attempt !== attempt) return;
    this.#attempt = undefined;
    this.#previous = attempt.close();
  }

  #lost(attempt: Attempt, handle: Handle): void {
    if (handle.unlocking) this.#log.info({ token: handle.token }, 'lock released');
    else this.#log.warn({ token: handle.token, reason: errorMessage(handle.signal.reason) }, 'lock lost');
    if (handle.heldSince !== undefined) this.#observer?.released(this.#clock.monotonic() - handle.heldSince, !handle.unlocking);
    if (!handle.unlocking) {
      const holder = handle.signal.reason instanceof NotLeaderError ? handle.signal.reason.leader : undefined;
      this.#events?.record(lockLost({ name: this.leaseName, namespace: this.namespace, uid: attempt.elector.leaseUid }, this.identity, handle.token, holder));
    }
    this.#end(attempt);
  }
}

/** One acquisition: its elector, from lock() until the handle is unlocked or lost. */
class Attempt {
  elector!: LeaseElector;
  readonly acquired = Promise.withResolvers<Handle>();
  settled = false;
  handle: Handle | undefined;
  readonly #what: string;
  readonly #onLost: (handle: Handle) => void;
  #closed: Promise<void> | undefined;

  constructor(what: string, onLost: (handle: Handle) => void) {
    this.#what = what;
    this.#onLost = onLost;
    // lock() may still be waiting for the previous attempt when this one fails.
    this.acquired.promise.catch(() => {});
  }

  /** The elector acquired the Lease; `leadership` aborts when it stops leading. */
  started(leadership: AbortSignal, token: number): void {
    if (this.settled) return;
    this.settled = true;
    const handle = new Handle(token, this.#what, () => this.close());
    this.handle = handle;
    // Abort the handle, then end the attempt (closing the elector) in the same
    // turn, so a lost lock is never re-acquired behind the caller's back.
    leadership.addEventListener('abort', () => {
      handle.abort(leadership.reason);
      this.#onLost(handle);
    }, { once: true });
    this.acquired.resolve(handle);
  }

  fail(error: KubekvError): void {
    if (this.settled) return;
    this.settled = true;
    this.acquired.reject(error);
  }

  /** Stops the elector; it releases the Lease if it holds it. */
  close(): Promise<void> {
    this.#closed ??= this.elector.close().catch(() => {});
    return this.#closed;
  }
}

class Handle implements LockHandle {
  readonly token: number;
  unlocking = false;
  /** Monotonic ms at which lock() handed the handle out; undefined if it was lost before. */
  heldSince: number | undefined;
  readonly #controller = new AbortController();
  readonly #what: string;
  readonly #release: () => Promise<void>;

  constructor(token: number, what: string, release: () => Promise<void>) {
    this.token = token;
    this.#what = what;
    this.#release = release;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  unlock(): Promise<void> {
    this.unlocking = true;
    return this.#release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.unlock();
  }

  abort(reason: unknown): void {
    this.#controller.abort(this.unlocking ? new ClosedError(`handle of ${this.#what}`) : reason);
  }
}

function checkOptions(options: LockOptions | undefined): LockOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object: { ttlMs?, identity?, logger?, clock? }');
  for (const name of Object.keys(options)) {
    // A misspelt option (`ttl: 5000`) would otherwise silently get the default.
    if (!knownOptions.has(name)) throw new InvalidOptionError(name, (options as Record<string, unknown>)[name], `unknown lock option; known: ${[...knownOptions].join(', ')}`);
  }
  return options;
}

function checkAcquireOptions(options: LockAcquireOptions): AbortSignal | undefined {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object: { signal? }');
  for (const name of Object.keys(options)) {
    if (!knownAcquireOptions.has(name)) throw new InvalidOptionError(name, (options as Record<string, unknown>)[name], 'unknown option of lock(); known: signal');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidOptionError('signal', options.signal, 'an AbortSignal');
  return options.signal;
}

function checkShape(option: string, value: unknown, methods: string[], expected: string): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || methods.some((m) => typeof (value as Record<string, unknown>)[m] !== 'function')) {
    throw new InvalidOptionError(option, value, expected);
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
