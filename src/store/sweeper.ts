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
 *   by at most one session TTL).
 *
 * Non-guarantees: a clock that runs fast (in rate, not in offset) makes its
 * sweeper early by that rate; nothing expires while no store of the bucket
 * is open and sweeping; a sweeper whose write fails (not leader, API server
 * unreachable, RBAC without `patch`) tries again after {@link RETRY_MS},
 * doubling with each failure in a row up to {@link MAX_RETRY_MS} (a store
 * that may not write should be opened with `sweep: false`).
 *
 * @module
 */
import type { Clock, TimerHandle } from '../clock.js';
import { KeyModifiedError, KeyNotFoundError, KubekvError } from '../errors.js';
import type { LeaseObserver, LeaseSnapshot, LeaseWatch } from '../election/lease-lock.js';
import type { Logger } from '../logger.js';
import type { BucketState } from './bucket-state.js';
import type { WriteOp } from './commit.js';

/** Pause before a failed expiry is tried again (doubled per failure in a row). */
export const RETRY_MS = 1000;
/** Longest pause between failed attempts. */
export const MAX_RETRY_MS = 60_000;

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
  /** Deletes session `name`'s Lease if still at `resourceVersion` (best effort: a Lease left behind is only clutter). */
  deleteSession(name: string, resourceVersion: string): Promise<void>;
}

/** A session some key names, as its Lease was last seen. */
interface TrackedSession {
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

  /** @param enabled - whether it deletes from the start (it times keys either way) */
  constructor(host: SweeperHost, enabled: boolean) {
    this.#host = host;
    this.#enabled = enabled;
  }

  /** Whether this sweeper deletes expired keys (it always times them). */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Turns deleting on or off; timing goes on either way. */
  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    this.#followSessions();
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
    this.#keys.clear();
    for (const session of this.#sessions.values()) void session.watch.stop();
    this.#sessions.clear();
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
