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
 * Non-guarantees: a clock that runs fast (in rate, not in offset) makes its
 * sweeper early by that rate; nothing expires while no store of the bucket
 * is open and sweeping; a sweeper whose write fails (not leader, API server
 * unreachable) tries again after {@link RETRY_MS}.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../clock.js';
import { KeyModifiedError, KeyNotFoundError, KubekvError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BucketState } from './bucket-state.js';
import type { WriteOp } from './commit.js';

/** Pause before a failed expiry is tried again. */
export const RETRY_MS = 1000;

/** What the sweeper needs from its store. */
export interface SweeperHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Bucket name, for logs. */
  readonly bucket: string;
  /** Submits one write (all of `ops` or none) through the store's pipeline. */
  write(ops: WriteOp[], signal: AbortSignal): Promise<unknown>;
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
  #enabled: boolean;
  #timer: TimerHandle | undefined;
  #timerDue = Infinity;
  #running = false;
  /** Monotonic ms before which no expiry is tried again (after a failure). */
  #retryAt = 0;

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
    this.#schedule();
  }

  /** A new state of the bucket, as the cache applied it: keys at a new revision start their TTL now. */
  observe(state: BucketState): void {
    if (this.#stopping.signal.aborted) return;
    const now = this.#host.clock.monotonic();
    const next = new Map<string, Timed>();
    for (const [key, record] of state.expiries) {
      if (record.session !== undefined) continue;
      const before = this.#keys.get(key);
      const entry = state.entries.get(key);
      if (!entry) continue;
      next.set(key, before && before.lastIndex === record.revision ? before : { cmKey: entry.cmKey, lastIndex: record.revision, ttlMs: record.ttlMs, seenAt: now });
    }
    this.#keys = next;
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
    if (due.length === 0) return this.#schedule();
    this.#running = true;
    let failed = 0;
    try {
      await Promise.all(due.map(async ([key, timed]) => {
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
      }));
    } finally {
      this.#running = false;
    }
    if (failed > 0) this.#retryAt = this.#host.clock.monotonic() + RETRY_MS;
    // Keys that expired are gone from the state the pipeline applied (observe()).
    this.#schedule();
  }
}
