/**
 * Sessions: keys that live as long as their owner (Consul sessions, etcd
 * leases, ZooKeeper's ephemeral nodes). A session is held in a
 * coordination.k8s.io Lease of its own, which the owning process renews;
 * keys written with `{ session }` are bound to it. Get one with
 * `store.session({ ttlMs })`.
 *
 * Non-guarantees first:
 * - A session is a lease, not a heartbeat of the process's health: a
 *   process that keeps renewing but does no useful work keeps its keys.
 * - Its keys are deleted by a sweeper (any store of the bucket that sweeps,
 *   see store/sweeper.ts): while none is open, nothing is deleted.
 * - A clock that runs fast (in rate) on a sweeper ends sessions early by
 *   that rate, as for locks.
 *
 * Guarantees:
 * - Many keys, one keep-alive: renewing writes the Lease (every ttlMs / 6),
 *   never the bucket. It is the real Lock (src/lock/lock.ts) over the
 *   session's Lease, so it renews, and gives up, exactly as a lock does.
 * - `close()` deletes every key bound to the session in one commit, then
 *   releases and deletes the Lease.
 * - When the owner dies, its keys are deleted once the session's Lease has
 *   gone unrenewed for ttlMs as measured by the sweeper's own clock from
 *   when it saw the last renewal (client-go's rule): never before.
 * - `signal` aborts when the session is lost (no renewal succeeded within
 *   2/3 of ttlMs, so before any sweeper can end it; the Lease taken or
 *   deleted) or closed; from then on a write naming it is refused with
 *   SessionClosedError and nothing is written. A lost session's Lease is
 *   then released as soon as the owner reaches the API server (the lock's
 *   release on loss), so a sweeper ends it at once: its keys may go before
 *   ttlMs has passed since the last renewal, never before `signal` aborted.
 *
 * The Lease is named `<bucket>-session-<16 random hex digits>` (its name is
 * the session's `id`), labelled app.kubernetes.io/managed-by=kubekv,
 * app.kubernetes.io/component=session and kubekv.dev/bucket=<bucket>.
 *
 * RBAC: get, list, watch, create, update and delete on leases (session
 * names are random, so the rule cannot name them). Sweepers list and
 * watch the bucket's session Leases by label (store/session-leases.ts) and
 * delete those left unrenewed for their TTL (a session whose owner died
 * before binding a key), with a precondition on resourceVersion and uid.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { BUCKET_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../codec/index.js';
import { AbortedError, InvalidOptionError, SessionClosedError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import { Lock, type LockHandle } from '../lock/lock.js';
import type { Logger } from '../logger.js';
import { MAX_TTL_MS } from './write-ops.js';

/** Value of app.kubernetes.io/component on session Leases. */
export const SESSION_COMPONENT = 'session';

/** The label selector of the session Leases of the bucket labelled `bucketLabel` (what a sweeper lists). */
export function sessionLeaseSelector(bucketLabel: string): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},app.kubernetes.io/component=${SESSION_COMPONENT},${BUCKET_LABEL}=${bucketLabel}`;
}

/** Default {@link SessionOptions.ttlMs}. */
export const DEFAULT_SESSION_TTL_MS = 15_000;

/** Options of `store.session(options)`. */
export interface SessionOptions {
  /**
   * How long, in ms, the session's Lease may go unrenewed before a sweeper
   * ends the session and deletes its keys: the bound on how long a dead
   * owner's keys stay. Whole seconds (the Lease records seconds), from 1000
   * to 86400000 (one day). The owner renews every ttlMs / 6 and gives the
   * session up (its signal aborts) when no renewal succeeded for 2/3 of it.
   * @defaultValue 15000
   */
  ttlMs?: number | undefined;
  /** Gives up starting the session: session() rejects with AbortedError and nothing is left held. */
  signal?: AbortSignal | undefined;
}

/** How a Session is made; for ConfigMapStore.session, not the public API. */
export interface SessionInit {
  bucket: string;
  bucketLabel: string;
  namespace: string;
  api: KubeApi;
  clock: Clock;
  logger: Logger;
  /** Deletes every key bound to the session in one commit. */
  endSession(id: string): Promise<unknown>;
  /** Called once when the session is closed (the store stops tracking it). */
  onClose(session: Session): void;
}

const knownOptions = new Set(['ttlMs', 'signal']);

/** Validates session options before any request (InvalidOptionError names the bad one). */
export function checkSessionOptions(options: SessionOptions | undefined): { ttlMs: number; signal: AbortSignal | undefined } {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new InvalidOptionError('options', options, 'an object: { ttlMs?, signal? }');
  for (const name of Object.keys(options ?? {})) {
    if (!knownOptions.has(name)) throw new InvalidOptionError(name, (options as Record<string, unknown>)[name], `unknown session option; known: ${[...knownOptions].join(', ')}`);
  }
  const ttlMs = options?.ttlMs ?? DEFAULT_SESSION_TTL_MS;
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1000 || ttlMs > MAX_TTL_MS || ttlMs % 1000 !== 0) {
    throw new InvalidOptionError('ttlMs', ttlMs, `whole seconds in ms, from 1000 to ${MAX_TTL_MS} (the Lease records seconds)`);
  }
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', signal, 'an AbortSignal');
  return { ttlMs, signal };
}

/** A new session's Lease name (its id): `<bucket>-session-` and 16 random hex digits, a bucket name too long for it cut. */
export function newSessionName(bucket: string): string {
  const suffix = `-session-${randomBytes(8).toString('hex')}`;
  return bucket.length + suffix.length <= 253 ? bucket + suffix : bucket.slice(0, 253 - suffix.length).replace(/[-.]+$/, '') + suffix;
}

/** A session of a bucket, from `store.session()`. `await using session = await store.session()` closes it at scope exit. */
export class Session implements AsyncDisposable {
  /** The session's id: the name of the Lease that holds it. Keys bound to it report it as `session`. */
  readonly id: string;
  /** Bucket the session belongs to. */
  readonly bucket: string;
  /** Namespace of the bucket and of the session's Lease. */
  readonly namespace: string;
  /** The TTL in ms. */
  readonly ttlMs: number;
  readonly #lock: Lock;
  readonly #handle: LockHandle;
  readonly #init: SessionInit;
  #closing: Promise<void> | undefined;

  private constructor(id: string, ttlMs: number, lock: Lock, handle: LockHandle, init: SessionInit) {
    this.id = id;
    this.ttlMs = ttlMs;
    this.bucket = init.bucket;
    this.namespace = init.namespace;
    this.#lock = lock;
    this.#handle = handle;
    this.#init = init;
  }

  /**
   * Creates and acquires the session's Lease; rejects with AbortedError
   * when `options.signal` aborts first, or with the error no retry can fix
   * (ForbiddenError, ...). Nothing is left held when it rejects. Use
   * `store.session()`.
   *
   * @internal
   */
  static async start(init: SessionInit, options: SessionOptions | undefined): Promise<Session> {
    const { ttlMs, signal } = checkSessionOptions(options);
    if (signal?.aborted) throw new AbortedError('start of a session', { cause: signal.reason });
    const id = newSessionName(init.bucket);
    const lock = new Lock({
      bucket: init.bucket,
      bucketLabel: init.bucketLabel,
      namespace: init.namespace,
      key: id,
      leaseName: id,
      component: SESSION_COMPONENT,
      options: { ttlMs, identity: id },
      api: init.api,
      clock: init.clock,
      logger: init.logger,
    });
    let handle: LockHandle;
    try {
      handle = await lock.lock({ signal });
    } catch (err) {
      await lock.close();
      throw err;
    }
    init.logger.info({ session: id, ttlMs }, 'session started');
    return new Session(id, ttlMs, lock, handle, init);
  }

  /** Aborts when the session is lost (reason NotLeaderError) or closed (reason ClosedError). */
  get signal(): AbortSignal {
    return this.#handle.signal;
  }

  /** True until the session is closed or lost. */
  get active(): boolean {
    return !this.#handle.signal.aborted && this.#closing === undefined;
  }

  /**
   * Throws SessionClosedError unless the session is active: what a write
   * naming it checks before anything is sent.
   *
   * @internal
   */
  assertActive(): void {
    if (!this.active) throw new SessionClosedError(this.id, this.#closing === undefined);
  }

  /**
   * Ends the session: deletes its keys in one commit, then releases and
   * deletes its Lease. Idempotent; never rejects: a failed step is logged,
   * and a sweeper then deletes the keys once it sees the Lease released or
   * gone (or, at worst, unrenewed for ttlMs).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#init.endSession(this.id);
      } catch (err) {
        this.#init.logger.warn({ session: this.id, code: (err as { code?: unknown }).code }, 'deleting the keys of a closing session failed; a sweeper will delete them');
      }
      await this.#handle.unlock();
      await this.#lock.close();
      try {
        await this.#init.api.leases(this.namespace).delete(this.id, {});
      } catch (err) {
        this.#init.logger.debug({ session: this.id, code: (err as { code?: unknown }).code }, 'could not delete the session Lease (released; it expires)');
      }
      this.#init.logger.info({ session: this.id }, 'session closed');
      this.#init.onClose(this);
    })();
    return this.#closing;
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
