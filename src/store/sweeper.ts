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
 * - Sessions (store/session.ts): the keys of a session are deleted, all in
 *   one commit, once its Lease is released or gone, or once this store has
 *   seen the Lease unchanged for its leaseDurationSeconds, timed from when
 *   it saw the last change (client-go's rule: a renewal moves the
 *   resourceVersion). While the sweeper is enabled, the Lease of every
 *   session a key names is watched (a store that starts sweeping is late
 *   by at most one session TTL). Before it ends a session it reads the
 *   Lease (a quorum read): a watch can lag (a slow reconnect, a lagging
 *   API server cache) while writes go through, and a renewal it has not
 *   delivered must not go unseen; a Lease at another resourceVersion is
 *   timed afresh from that read. The ending commit itself cannot be
 *   conditional on the Lease (another object), so a renewal landing
 *   between the read and the commit is not seen: one round trip, within
 *   the owner's margin (it gives up 2/3 of the TTL after its last
 *   successful renewal, so a renewal that lands a TTL after the previous
 *   one was already too late for it).
 * - Session Leases nobody else ends (the owner died before binding a key,
 *   or every key it bound was written again or deleted): while enabled,
 *   the sweeper lists the bucket's session Leases (by label) when it starts
 *   and then as they come due (at least every {@link LEASE_SCAN_MS}), and
 *   deletes one it has seen at the same resourceVersion for its
 *   leaseDurationSeconds, timed on its own clock from the first list that
 *   returned that version, with a delete precondition on that
 *   resourceVersion and uid: a Lease renewed meanwhile (a new
 *   resourceVersion) or recreated is never deleted. Sessions some key names
 *   are left to the path above, which deletes their keys first.
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
 * that may not list leases (deploy/rbac.yaml without
 * deploy/rbac-sessions.yaml) logs so once and leaves key-less session Leases behind.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../clock.js';
import { ForbiddenError, KeyModifiedError, KeyNotFoundError, KubekvError } from '../errors.js';
import type { LeaseObserver, LeaseSnapshot, LeaseWatch } from '../election/lease-lock.js';
import type { Logger } from '../logger.js';
import type { BucketState } from './bucket-state.js';
import type { WriteOp } from './commit.js';

/** Pause before a failed expiry is tried again (doubled per failure in a row). */
export const RETRY_MS = 1000;
/** Longest pause between failed attempts. */
export const MAX_RETRY_MS = 60_000;
/** Longest pause between two lists of the bucket's session Leases (sooner when one comes due). */
export const LEASE_SCAN_MS = 60_000;
/** Pause before a failed list of session Leases is tried again. */
export const LEASE_SCAN_RETRY_MS = 10_000;

/** A session Lease as a list returned it. */
export interface SessionLeaseInfo {
  readonly name: string;
  readonly resourceVersion: string;
  readonly uid: string | undefined;
  /** Its spec.leaseDurationSeconds, in ms (at least 1000). */
  readonly durationMs: number;
}

/** What the sweeper needs from its store. */
export interface SweeperHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Bucket name, for logs. */
  readonly bucket: string;
  /** Submits one write (all of `ops` or none) through the store's pipeline. */
  write(ops: WriteOp[], signal: AbortSignal): Promise<unknown>;
  /** Watches session `name`'s Lease. */
  watchSession(name: string, observer: LeaseObserver): LeaseWatch;
  /** Deletes session `name`'s Lease if still at `resourceVersion` (and `uid`, when given): true if it did, false if a precondition failed or it was gone. */
  deleteSession(name: string, resourceVersion: string, uid?: string): Promise<boolean>;
  /** Reads session `name`'s Lease (a quorum read): undefined when it is gone. */
  readSession(name: string, signal: AbortSignal): Promise<LeaseSnapshot | undefined>;
  /** Lists the bucket's session Leases (a quorum list by label); ForbiddenError when RBAC does not allow it. */
  listSessions(signal: AbortSignal): Promise<SessionLeaseInfo[]>;
}

/** A session Lease no key names, as this sweeper's lists saw it. */
interface ScannedLease extends SessionLeaseInfo {
  /** Monotonic ms at which a list answer first carried this resourceVersion. */
  readonly seenAt: number;
}

/** A session some key names, as its Lease was last seen. */
interface TrackedSession {
  readonly name: string;
  readonly watch: LeaseWatch;
  /** The Lease has been seen (or seen absent) at least once. */
  observed: boolean;
  /** Released (empty holder) or gone: its keys go at once. */
  ended: boolean;
  resourceVersion: string;
  /** Monotonic ms at which the current resourceVersion was first seen. */
  seenAt: number;
  durationMs: number;
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
  readonly #sessions = new Map<string, TrackedSession>();
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
  /** Session Leases no key names, by name, from the last list. */
  #leases = new Map<string, ScannedLease>();
  #scanTimer: TimerHandle | undefined;
  #scanning = false;
  /** RBAC refused the list: no more lists (logged once). */
  #scanForbidden = false;

  /** @param enabled - whether it deletes from the start (it times keys either way) */
  constructor(host: SweeperHost, enabled: boolean) {
    this.#host = host;
    this.#enabled = enabled;
    this.#scheduleScan(0);
  }

  /** Whether this sweeper deletes expired keys (it always times them). */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Turns deleting on or off; timing goes on either way. */
  setEnabled(enabled: boolean): void {
    const was = this.#enabled;
    this.#enabled = enabled;
    this.#followSessions();
    this.#schedule();
    if (enabled && !was) this.#scheduleScan(0);
    if (!enabled) {
      this.#scanTimer?.cancel();
      this.#scanTimer = undefined;
      // A sweeper that starts again times every Lease from its own next sight of it.
      this.#leases.clear();
    }
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
    this.#followSessions();
    this.#schedule();
  }

  /**
   * Watches the Lease of every session a key names while this sweeper is
   * enabled, and none otherwise: Lease watches cost the API server, and a
   * store that starts sweeping times a session from its first sight of
   * the Lease (late by at most one TTL, never early).
   */
  #followSessions(): void {
    const wanted = this.#enabled && !this.#stopping.signal.aborted ? this.#named : new Set<string>();
    for (const name of wanted) if (!this.#sessions.has(name)) this.#track(name);
    for (const [name, session] of this.#sessions) {
      if (wanted.has(name)) continue;
      this.#sessions.delete(name);
      void session.watch.stop();
    }
  }

  /** Monotonic ms at which this sweeper may end session `name`; undefined while it has not seen its Lease (or tracks no such session). */
  sessionDueAt(name: string): number | undefined {
    const session = this.#sessions.get(name);
    if (!session?.observed) return undefined;
    return session.ended ? -Infinity : session.seenAt + session.durationMs;
  }

  #track(name: string): void {
    const session: TrackedSession = {
      name,
      observed: false,
      ended: false,
      resourceVersion: '',
      seenAt: 0,
      durationMs: 0,
      watch: this.#host.watchSession(name, { onLease: (lease) => this.#onLease(session, lease) }),
    };
    this.#sessions.set(name, session);
  }

  #onLease(session: TrackedSession, lease: LeaseSnapshot | undefined): void {
    session.observed = true;
    if (!lease || lease.record.holderIdentity === '') {
      session.ended = true;
      session.resourceVersion = lease?.resourceVersion ?? '';
    } else if (lease.resourceVersion !== session.resourceVersion) {
      // A renewal (any change): the TTL starts again, on this clock, now.
      session.ended = false;
      session.resourceVersion = lease.resourceVersion;
      session.seenAt = this.#host.clock.monotonic();
      session.durationMs = Math.max(1, lease.record.leaseDurationSeconds) * 1000;
    }
    this.#schedule();
  }

  /**
   * Reads a session's Lease before its end: true if it is still at the
   * version this sweeper timed (or released, or gone); otherwise the
   * version read is timed from now, as a renewal the watch will deliver.
   */
  async #stillUnrenewed(session: TrackedSession): Promise<boolean> {
    const lease = await this.#host.readSession(session.name, this.#stopping.signal);
    if (!lease || lease.record.holderIdentity === '' || lease.resourceVersion === session.resourceVersion) return true;
    session.resourceVersion = lease.resourceVersion;
    session.seenAt = this.#host.clock.monotonic();
    session.durationMs = Math.max(1, lease.record.leaseDurationSeconds) * 1000;
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
    this.#scanTimer?.cancel();
    this.#scanTimer = undefined;
    this.#leases.clear();
    this.#keys.clear();
    for (const session of this.#sessions.values()) void session.watch.stop();
    this.#sessions.clear();
  }

  /** Monotonic ms at which this sweeper may delete the key-less session Lease `name`; undefined when it has not listed it. For tests and diagnostics. */
  leaseDueAt(name: string): number | undefined {
    const lease = this.#leases.get(name);
    return lease && lease.seenAt + lease.durationMs;
  }

  #scheduleScan(ms: number): void {
    this.#scanTimer?.cancel();
    this.#scanTimer = undefined;
    if (!this.#enabled || this.#scanForbidden || this.#stopping.signal.aborted) return;
    this.#scanTimer = this.#host.clock.setTimer(() => {
      this.#scanTimer = undefined;
      void this.#scan();
    }, ms);
  }

  /**
   * Lists the bucket's session Leases and deletes those no key names that
   * it has seen at one resourceVersion for their leaseDurationSeconds.
   * A version is timed from when the list that first carried it returned:
   * it landed before that answer, so the Lease has gone unrenewed for at
   * least as long as this clock measures from then (never early).
   */
  async #scan(): Promise<void> {
    if (this.#scanning || !this.#enabled || this.#stopping.signal.aborted) return;
    this.#scanning = true;
    let next = LEASE_SCAN_MS;
    try {
      const listed = await this.#host.listSessions(this.#stopping.signal);
      const now = this.#host.clock.monotonic();
      const leases = new Map<string, ScannedLease>();
      const due: ScannedLease[] = [];
      for (const info of listed) {
        // Named by a key: the session path ends it (its keys first, then its Lease).
        if (this.#sessions.has(info.name)) continue;
        const before = this.#leases.get(info.name);
        const lease = before && before.resourceVersion === info.resourceVersion && before.uid === info.uid ? before : { ...info, seenAt: now };
        if (now - lease.seenAt >= lease.durationMs) due.push(lease);
        else {
          leases.set(info.name, lease);
          next = Math.min(next, lease.seenAt + lease.durationMs - now);
        }
      }
      this.#leases = leases;
      for (const lease of due) {
        // A renewal or a recreation since the list fails the precondition: that Lease stays.
        const deleted = await this.#host.deleteSession(lease.name, lease.resourceVersion, lease.uid).catch(() => false);
        if (deleted) this.#host.logger.debug({ bucket: this.#host.bucket, session: lease.name }, 'deleted a session Lease left unrenewed for its TTL');
      }
    } catch (err) {
      if (this.#stopping.signal.aborted) return;
      if (err instanceof ForbiddenError) {
        this.#scanForbidden = true;
        this.#host.logger.info({ bucket: this.#host.bucket, code: err.code }, 'may not list session Leases: the Leases of sessions whose owner died before binding a key stay (grant list and delete on leases: deploy/rbac-sessions.yaml)');
        return;
      }
      next = LEASE_SCAN_RETRY_MS;
      this.#host.logger.debug({ bucket: this.#host.bucket, code: err instanceof KubekvError ? err.code : 'UNKNOWN' }, 'listing session Leases failed; trying again');
    } finally {
      this.#scanning = false;
    }
    this.#scheduleScan(Math.max(0, next));
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
    for (const name of this.#sessions.keys()) due = Math.min(due, this.sessionDueAt(name) ?? Infinity);
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

  /** Deletes every key due now, each with its own conditional delete (one failure does not hold up the others). */
  async #sweep(): Promise<void> {
    if (!this.#enabled || this.#running || this.#stopping.signal.aborted) return;
    const now = this.#host.clock.monotonic();
    const due = [...this.#keys].filter(([, timed]) => now - timed.seenAt >= timed.ttlMs);
    const ended = [...this.#sessions.keys()].filter((name) => (this.sessionDueAt(name) ?? Infinity) <= now);
    if (due.length === 0 && ended.length === 0) return this.#schedule();
    this.#running = true;
    let failed = 0;
    try {
      const endings = ended.map(async (name) => {
        const seen = this.#sessions.get(name)!;
        const resourceVersion = seen.resourceVersion;
        try {
          if (!seen.ended && !(await this.#stillUnrenewed(seen))) return;
          await this.#host.write([{ kind: 'endSession', session: name }], this.#stopping.signal);
        } catch (err) {
          failed++;
          this.#host.logger.debug({ bucket: this.#host.bucket, session: name, code: err instanceof KubekvError ? err.code : 'UNKNOWN' }, 'ending a session failed; trying again');
          return;
        }
        // Its keys are gone; an expired or released Lease is clutter now.
        if (resourceVersion !== '') await this.#host.deleteSession(name, resourceVersion).catch(() => {});
      });
      await Promise.all([...endings, ...due.map(async ([key, timed]) => {
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
