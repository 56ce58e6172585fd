/**
 * The sweeper: deletes a bucket's expired keys, with deletion commits like
 * any other write (docs/semantics.md "Expiry").
 *
 * Guarantees:
 * - Never early (with a clock that runs at the right rate): a key's TTL is
 *   timed on this store's monotonic clock from when this store first saw
 *   the key's current revision, which is after the write that set it.
 *   Nothing another host wrote (no wall time) enters the decision, so wall
 *   clock skew between hosts is harmless.
 * - Safe with several sweepers: an expiry is a delete conditional on the
 *   key's lastIndex, planned and sent through the write pipeline (a CAS on
 *   the head), so a key written again meanwhile is not deleted, and two
 *   sweepers deleting the same key land once (the other gets
 *   KeyModifiedError / KeyNotFoundError, which it ignores).
 * - Late by at most one TTL after a change of sweeper: every store times
 *   the keys it sees whether or not it sweeps, so a store that starts
 *   sweeping (a new leader) deletes a key at most one TTL after it first
 *   saw it.
 *
 * - Sessions (store/session.ts): while the sweeper is enabled it follows
 *   the bucket's session Leases with one list+watch by label (one watch
 *   however many sessions there are; a store that starts sweeping is late
 *   by at most one session TTL). A session's keys are deleted, all in one
 *   commit, once its Lease is released or gone, or once this store has
 *   seen the Lease unchanged for its leaseDurationSeconds, timed from when
 *   a list or an event first showed it at that resourceVersion (client-go's
 *   rule: a renewal moves the resourceVersion). Before it ends a session
 *   it reads the Lease (a quorum read): a watch can lag (a slow reconnect,
 *   a lagging API server cache, a Lease created just before the key that
 *   names it) while writes go through, and a renewal it has not delivered
 *   must not go unseen; a Lease at another resourceVersion is timed afresh
 *   from that read. The ending commit itself cannot be conditional on the
 *   Lease (another object), so a renewal landing between the read and the
 *   commit is not seen: one round trip, within the owner's margin (it
 *   gives up 2/3 of the TTL after its last successful renewal, so a
 *   renewal that lands a TTL after the previous one was already too late
 *   for it).
 * - Session Leases nobody else ends (the owner died before binding a key,
 *   or every key it bound was written again or deleted): the sweeper
 *   deletes one it has seen at the same resourceVersion for its
 *   leaseDurationSeconds, with a delete precondition on that
 *   resourceVersion and uid: a Lease renewed meanwhile (a new
 *   resourceVersion) or recreated is never deleted. Sessions some key
 *   names are left to the path above, which deletes their keys first.
 *
 * Non-guarantees: a clock that runs fast (in rate, not in offset) by a
 * factor r makes its sweeper early by that rate: a key goes ttlMs / r after
 * its write, and a session ttlMs / r after the sweeper saw its last
 * renewal (its owner, which gives up 2/3 of ttlMs after its last
 * successful renewal, knows first while r < 1.5: docs/semantics.md "Clock
 * rates"); nothing expires while no store of the bucket
 * is open and sweeping; a sweeper whose write fails (not leader, API server
 * unreachable, RBAC without `patch`) tries again after {@link RETRY_MS},
 * doubling with each failure in a row up to {@link MAX_RETRY_MS} (a store
 * that may not write should be opened with `sweep: false`). A sweeper
 * that may not list and watch leases (deploy/rbac.yaml without
 * deploy/rbac-sessions.yaml) logs so once, tries again after
 * {@link FORBIDDEN_RETRY_MS}, doubling up to {@link MAX_FORBIDDEN_RETRY_MS},
 * and meanwhile ends no session: session keys and Leases stay.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../clock.js';
import { ForbiddenError, KeyModifiedError, KeyNotFoundError, KubekvError } from '../errors.js';
import type { LeaseWatch } from '../election/lease-lock.js';
import type { Logger } from '../logger.js';
import type { BucketState } from './bucket-state.js';
import type { WriteOp } from './commit.js';

/** Pause before a failed expiry is tried again (doubled per failure in a row). */
export const RETRY_MS = 1000;
/** Longest pause between failed attempts. */
export const MAX_RETRY_MS = 60_000;
/** Pause before a sweeper that may not list and watch leases tries again (doubled per refusal in a row, up to {@link MAX_FORBIDDEN_RETRY_MS}). */
export const FORBIDDEN_RETRY_MS = 60_000;
/** Longest pause between two tries of a sweeper that may not list and watch leases. */
export const MAX_FORBIDDEN_RETRY_MS = 15 * 60_000;

/** A session Lease as a list, a watch event or a read showed it. */
export interface SessionLeaseInfo {
  readonly name: string;
  readonly resourceVersion: string;
  readonly uid: string | undefined;
  /** Its spec.leaseDurationSeconds, in ms (at least 1000). */
  readonly durationMs: number;
  /** No holder: its owner closed or gave up the session. */
  readonly released: boolean;
}

/** What the watch of the bucket's session Leases tells the sweeper. */
export interface SessionLeaseObserver {
  /** Every session Lease of the bucket, after a (re)list. */
  onList(leases: SessionLeaseInfo[]): void;
  /** One session Lease created or changed, or (`deleted`) gone. */
  onChange(lease: SessionLeaseInfo, deleted: boolean): void;
  /** A failure the list+watch retries by itself; ForbiddenError when RBAC does not allow it. */
  onError(error: KubekvError): void;
}

/** What the sweeper needs from its store. */
export interface SweeperHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Bucket name, for logs. */
  readonly bucket: string;
  /** Submits one write (all of `ops` or none) through the store's pipeline. */
  write(ops: WriteOp[], signal: AbortSignal): Promise<unknown>;
  /** Follows the bucket's session Leases (one list+watch by label) until stopped. */
  watchSessions(observer: SessionLeaseObserver): LeaseWatch;
  /** Deletes session `name`'s Lease if still at `resourceVersion` (and `uid`, when given): true if it did, false if a precondition failed or it was gone. */
  deleteSession(name: string, resourceVersion: string, uid?: string): Promise<boolean>;
  /** Reads session `name`'s Lease (a quorum read): undefined when it is gone. */
  readSession(name: string, signal: AbortSignal): Promise<SessionLeaseInfo | undefined>;
}

/** A session Lease as this sweeper last saw it. */
interface SeenLease extends SessionLeaseInfo {
  /** Monotonic ms at which a list, an event or a read first showed this resourceVersion. */
  readonly seenAt: number;
}

/** A key being timed: the revision seen, and when (monotonic ms). */
interface Timed {
  readonly cmKey: string;
  readonly lastIndex: number;
  readonly ttlMs: number;
  readonly seenAt: number;
}

/** Times a store's expiring keys and, while enabled, deletes those whose TTL ran out. */
export class Sweeper {
  readonly #host: SweeperHost;
  readonly #stopping = new AbortController();
  #keys = new Map<string, Timed>();
  /** The sessions the keys of the last state name. */
  #named = new Set<string>();
  #enabled: boolean;
  #timer: TimerHandle | undefined;
  #timerDue = Infinity;
  #running = false;
  /** Monotonic ms before which no expiry is tried again (after a failure). */
  #retryAt = 0;
  /** Sweeps in a row with a failure. */
  #failures = 0;
  /** The bucket's session Leases, by name, as the watch (or a read) last showed them. */
  #leases = new Map<string, SeenLease>();
  /** The list+watch of the session Leases, while enabled. */
  #leaseWatch: LeaseWatch | undefined;
  /** Whether the current watch has listed: until then no session is due. */
  #listed = false;
  /** Restarts a watch RBAC refused (see {@link FORBIDDEN_RETRY_MS}). */
  #forbiddenTimer: TimerHandle | undefined;
  /** Refusals by RBAC in a row (the first is logged, later ones are not). */
  #refusals = 0;

  /** @param enabled - whether it deletes from the start (it times keys either way) */
  constructor(host: SweeperHost, enabled: boolean) {
    this.#host = host;
    this.#enabled = enabled;
    this.#followLeases();
  }

  /** Whether this sweeper deletes expired keys (it always times them). */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Turns deleting on or off; timing goes on either way. */
  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    this.#followLeases();
    this.#schedule();
  }

  /** A new state of the bucket, as the cache applied it: keys at a new revision start their TTL now. */
  observe(state: BucketState): void {
    if (this.#stopping.signal.aborted) return;
    const now = this.#host.clock.monotonic();
    const next = new Map<string, Timed>();
    const named = new Set<string>();
    for (const [key, record] of state.expiries) {
      if (record.session !== undefined) {
        named.add(record.session);
        continue;
      }
      const before = this.#keys.get(key);
      const entry = state.entries.get(key);
      if (!entry) continue;
      next.set(key, before && before.lastIndex === record.revision ? before : { cmKey: entry.cmKey, lastIndex: record.revision, ttlMs: record.ttlMs, seenAt: now });
    }
    this.#keys = next;
    this.#named = named;
    this.#schedule();
  }

  /**
   * Follows the bucket's session Leases (one list+watch by label) while
   * this sweeper is enabled, and not otherwise: a watch costs the API
   * server, and a store that starts sweeping times every Lease from its
   * own first sight of it (late by at most one TTL, never early).
   */
  #followLeases(): void {
    const wanted = this.#enabled && !this.#stopping.signal.aborted;
    if (wanted === (this.#leaseWatch !== undefined || this.#forbiddenTimer !== undefined)) return;
    if (!wanted) return this.#unfollowLeases();
    const watch = this.#host.watchSessions({
      onList: (leases) => {
        if (this.#leaseWatch !== watch) return;
        const before = this.#leases;
        this.#leases = new Map();
        for (const lease of leases) this.#see(lease, before.get(lease.name));
        this.#listed = true;
        this.#schedule();
      },
      onChange: (lease, deleted) => {
        if (this.#leaseWatch !== watch) return;
        // An event: the watch is allowed (a list alone can be, with the watch refused).
        this.#refusals = 0;
        // A late DELETED of an older object under the name does not drop the one seen since.
        if (deleted) {
          if (this.#leases.get(lease.name)?.uid === lease.uid) this.#leases.delete(lease.name);
        } else this.#see(lease, this.#leases.get(lease.name));
        this.#schedule();
      },
      onError: (error) => {
        if (this.#leaseWatch !== watch || !(error instanceof ForbiddenError)) return;
        // Not a retry every few seconds with a warning each (an app without sessions need not grant this):
        // one message, then quiet tries, further and further apart.
        if (this.#refusals === 0) this.#host.logger.info({ bucket: this.#host.bucket, code: error.code }, 'may not list and watch session Leases: no session ends (grant list, watch and delete on leases: deploy/rbac-sessions.yaml); trying again in a minute, then less often');
        const delay = Math.min(MAX_FORBIDDEN_RETRY_MS, FORBIDDEN_RETRY_MS * 2 ** this.#refusals++);
        this.#unfollowLeases();
        this.#forbiddenTimer = this.#host.clock.setTimer(() => {
          this.#forbiddenTimer = undefined;
          this.#followLeases();
        }, delay);
      },
    });
    this.#leaseWatch = watch;
  }

  #unfollowLeases(): void {
    this.#forbiddenTimer?.cancel();
    this.#forbiddenTimer = undefined;
    void this.#leaseWatch?.stop();
    this.#leaseWatch = undefined;
    this.#listed = false;
    // A sweeper that follows again times every Lease from its own next sight of it.
    this.#leases.clear();
  }

  /** Records `lease` as seen now, unless `before` already showed this version of it (then its timing stands). */
  #see(lease: SessionLeaseInfo, before: SeenLease | undefined): void {
    const same = before && before.resourceVersion === lease.resourceVersion && before.uid === lease.uid;
    this.#leases.set(lease.name, same ? before : { ...lease, seenAt: this.#host.clock.monotonic() });
  }

  /** Monotonic ms at which this sweeper may end session `name`; undefined while it does not follow the session Leases (or has not listed them yet). */
  sessionDueAt(name: string): number | undefined {
    if (!this.#listed) return undefined;
    const lease = this.#leases.get(name);
    // Released or gone: at once (after the read that #stillUnrenewed makes).
    return !lease || lease.released ? -Infinity : lease.seenAt + lease.durationMs;
  }

  /**
   * Reads a session's Lease before its end: true if it is still at the
   * version this sweeper timed (or released, or gone); otherwise the
   * version read is timed from now, as a renewal the watch will deliver.
   */
  async #stillUnrenewed(name: string, seen: SeenLease | undefined): Promise<boolean> {
    const lease = await this.#host.readSession(name, this.#stopping.signal);
    if (!lease || lease.released || (seen && lease.resourceVersion === seen.resourceVersion && lease.uid === seen.uid)) return true;
    // Timed from this read, unless the watch brought another version while it was in flight.
    if (this.#leaseWatch && this.#leases.get(name) === seen) this.#see(lease, undefined);
    return false;
  }

  /** Monotonic ms at which this sweeper may delete `key` at its current revision; undefined when it is not timing it. For tests and diagnostics. */
  dueAt(key: string): number | undefined {
    const timed = this.#keys.get(key);
    return timed && timed.seenAt + timed.ttlMs;
  }

  /** Stops timing and deleting; an expiry in flight is withdrawn if not sent yet. */
  close(): void {
    this.#stopping.abort();
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#unfollowLeases();
    this.#keys.clear();
  }

  /** Monotonic ms at which this sweeper may delete the session Lease `name` if no key names it; undefined when it has not seen it. For tests and diagnostics. */
  leaseDueAt(name: string): number | undefined {
    const lease = this.#leases.get(name);
    return lease && lease.seenAt + lease.durationMs;
  }

  #schedule(): void {
    if (!this.#enabled || this.#running || this.#stopping.signal.aborted) {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#timerDue = Infinity;
      return;
    }
    let due = Infinity;
    for (const timed of this.#keys.values()) due = Math.min(due, timed.seenAt + timed.ttlMs);
    for (const name of this.#named) due = Math.min(due, this.sessionDueAt(name) ?? Infinity);
    for (const lease of this.#leases.values()) if (!this.#named.has(lease.name)) due = Math.min(due, lease.seenAt + lease.durationMs);
    due = Math.max(due, this.#retryAt);
    if (due === this.#timerDue && this.#timer) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerDue = due;
    if (due === Infinity) return;
    this.#timer = this.#host.clock.setTimer(() => {
      this.#timer = undefined;
      this.#timerDue = Infinity;
      void this.#sweep();
    }, Math.max(0, due - this.#host.clock.monotonic()));
  }

  /**
   * Deletes every key due now, each with its own conditional delete, ends
   * every session due (its keys in one commit, then its Lease), and deletes
   * the key-less session Leases due: one failure does not hold up the others.
   */
  async #sweep(): Promise<void> {
    if (!this.#enabled || this.#running || this.#stopping.signal.aborted) return;
    const now = this.#host.clock.monotonic();
    const due = [...this.#keys].filter(([, timed]) => now - timed.seenAt >= timed.ttlMs);
    const ended = [...this.#named].filter((name) => (this.sessionDueAt(name) ?? Infinity) <= now);
    const unnamed = [...this.#leases.values()].filter((lease) => !this.#named.has(lease.name) && now - lease.seenAt >= lease.durationMs);
    if (due.length === 0 && ended.length === 0 && unnamed.length === 0) return this.#schedule();
    this.#running = true;
    let failed = 0;
    try {
      const endings = ended.map(async (name) => {
        const seen = this.#leases.get(name);
        try {
          if (!(await this.#stillUnrenewed(name, seen))) return;
          await this.#host.write([{ kind: 'endSession', session: name }], this.#stopping.signal);
        } catch (err) {
          failed++;
          this.#host.logger.debug({ bucket: this.#host.bucket, session: name, code: err instanceof KubekvError ? err.code : 'UNKNOWN' }, 'ending a session failed; trying again');
          return;
        }
        // Its keys are gone; an expired or released Lease is clutter now.
        if (seen) await this.#host.deleteSession(name, seen.resourceVersion, seen.uid).catch(() => {});
      });
      const deletions = unnamed.map(async (lease) => {
        // A renewal or a recreation since it was seen fails the precondition: that Lease stays, and the watch brings its new version.
        const deleted = await this.#host.deleteSession(lease.name, lease.resourceVersion, lease.uid).catch((err: unknown) => {
          this.#host.logger.debug({ bucket: this.#host.bucket, session: lease.name, code: err instanceof KubekvError ? err.code : 'UNKNOWN' }, 'deleting a session Lease failed; trying again');
          return undefined;
        });
        if (this.#leases.get(lease.name) !== lease) return;
        // Failed (no `delete` on leases, the API server unreachable): tried again in a minute, on its own, so
        // key expiry is not held back. Timed later, never earlier: safe should a key come to name it.
        if (deleted === undefined) this.#leases.set(lease.name, { ...lease, seenAt: now - lease.durationMs + MAX_RETRY_MS });
        else this.#leases.delete(lease.name);
        if (deleted) this.#host.logger.debug({ bucket: this.#host.bucket, session: lease.name }, 'deleted a session Lease left unrenewed for its TTL');
      });
      await Promise.all([...endings, ...deletions, ...due.map(async ([key, timed]) => {
        try {
          await this.#host.write([{ kind: 'delete', key, cmKey: timed.cmKey, expect: timed.lastIndex, expired: true }], this.#stopping.signal);
        } catch (err) {
          // Written again or deleted meanwhile: nothing left to expire at that revision.
          if (err instanceof KeyModifiedError || err instanceof KeyNotFoundError) {
            if (this.#keys.get(key) === timed) this.#keys.delete(key);
            return;
          }
          failed++;
          // The code only: error messages may name the key, which is never logged.
          this.#host.logger.debug({ bucket: this.#host.bucket, code: err instanceof KubekvError ? err.code : 'UNKNOWN' }, 'an expiry failed; trying again');
        }
      })]);
    } finally {
      this.#running = false;
    }
    if (failed > 0) {
      this.#retryAt = this.#host.clock.monotonic() + Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** this.#failures);
      if (this.#failures++ === 4) this.#host.logger.warn({ bucket: this.#host.bucket }, 'expired keys could not be deleted five times in a row; still trying (a store that may not write the bucket should be opened with sweep: false)');
    } else this.#failures = 0;
    // Keys that expired are gone from the state the pipeline applied (observe()).
    this.#schedule();
  }
}
