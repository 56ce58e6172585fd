/**
 * What keeps kubekv's Events from flooding the API server: a token bucket
 * per reason and the suppression of an event identical to the last one
 * recorded about the same object. Pure (time comes from the caller's
 * clock), so it is unit-tested with a fake clock.
 *
 * Defaults follow client-go's event recorder: its spam filter allows a
 * burst of 25 events per source and object, then one every 5 minutes
 * (defaultSpamBurst, defaultSpamQPS = 1/300), and it folds repeats of one
 * event within 10 minutes into a series (defaultAggregateIntervalInSeconds).
 */

/** A token bucket: `burst` tokens, one more every `refillMs`, never above `burst`. */
export class TokenBucket {
  readonly #burst: number;
  readonly #refillMs: number;
  #tokens: number;
  #updatedAt: number;

  /**
   * @param burst - tokens when full (and at the start)
   * @param refillMs - ms per token added back
   * @param now - the current time, in ms of the caller's clock
   */
  constructor(burst: number, refillMs: number, now: number) {
    this.#burst = burst;
    this.#refillMs = refillMs;
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /** Takes a token if one is there; false when empty. `now` may not go back (a smaller value counts as no time passed). */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed / this.#refillMs);
    this.#updatedAt = Math.max(this.#updatedAt, now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Settings of an {@link EventThrottle}. */
export interface ThrottleOptions {
  /** Events of one reason allowed at once. @default 25 */
  burst?: number;
  /** Ms per event of one reason allowed after the burst. @default 300000 (one per 5 minutes) */
  refillMs?: number;
  /** An event identical to the last one about the same object within this many ms is dropped. @default 600000 */
  dedupeWindowMs?: number;
  /** Objects whose last event is remembered (the oldest is forgotten beyond this). @default 256 */
  maxObjects?: number;
}

/** The part of an event the throttle judges. */
export interface ThrottledEvent {
  /** Identifies the object the event is about (kind/namespace/name). */
  readonly objectKey: string;
  readonly type: string;
  readonly reason: string;
  readonly action: string;
  readonly note: string;
}

/** What {@link EventThrottle.admit} decided. */
export type Admission = 'send' | 'duplicate' | 'rate-limited';

/** Decides which events go out; see the module doc. */
export class EventThrottle {
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #windowMs: number;
  readonly #maxObjects: number;
  readonly #buckets = new Map<string, TokenBucket>();
  /** Per object: the last event sent and when (insertion order = least recently sent first). */
  readonly #last = new Map<string, { fingerprint: string; at: number }>();

  /** @param options - see {@link ThrottleOptions} */
  constructor(options: ThrottleOptions = {}) {
    this.#burst = options.burst ?? 25;
    this.#refillMs = options.refillMs ?? 300_000;
    this.#windowMs = options.dedupeWindowMs ?? 600_000;
    this.#maxObjects = options.maxObjects ?? 256;
  }

  /**
   * 'send' (and counts it), or why not: 'duplicate' (identical to the last
   * event sent about the same object, within the window; costs no token) or
   * 'rate-limited' (its reason has no token left).
   */
  admit(event: ThrottledEvent, now: number): Admission {
    const fingerprint = JSON.stringify([event.type, event.reason, event.action, event.note]);
    const last = this.#last.get(event.objectKey);
    if (last && last.fingerprint === fingerprint && now - last.at < this.#windowMs) return 'duplicate';
    let bucket = this.#buckets.get(event.reason);
    if (!bucket) {
      bucket = new TokenBucket(this.#burst, this.#refillMs, now);
      this.#buckets.set(event.reason, bucket);
    }
    if (!bucket.take(now)) return 'rate-limited';
    this.#last.delete(event.objectKey);
    this.#last.set(event.objectKey, { fingerprint, at: now });
    if (this.#last.size > this.#maxObjects) this.#last.delete(this.#last.keys().next().value!);
    return 'send';
  }
}
