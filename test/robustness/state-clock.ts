/**
 * A kubekv {@link Clock} whose monotonic time and timers run at a settable
 * rate: the clock-skew fault of the state workload. At rate 0.8 a replica's
 * 2 s renew deadline lasts 2.5 s of real time; at 1.25 its 3 s lease
 * expiry comes after 2.4 s.
 *
 * Why rates stay within [0.8, 1.25], one replica at a time: client-go's
 * election (and kubekv's, src/election/lease-elector.ts) is safe only while
 * the rate difference between two replicas stays below leaseDuration /
 * renewDeadline (1.5 with the timings of the run); 1.25 / 1 leaves a margin.
 *
 * `now()` stays the real wall clock: the elector writes it into Lease records
 * but never compares it with another replica's, so skewing it tests nothing.
 *
 * Guarantees: monotonic() never goes back and is continuous across a rate
 * change; a pending timer is rescheduled on a rate change so it fires when
 * the skewed clock reaches its deadline, not when the old rate said it would.
 */
import type { Clock, TimerHandle } from '../../src/index.js';

interface Pending {
  deadline: number;
  fn: () => void;
  timer: NodeJS.Timeout | undefined;
}

/** A monotonic clock running at `rate` times real time. */
export class RateClock implements Clock {
  #rate: number;
  #realBase = performance.now();
  #monoBase = performance.now();
  readonly #pending = new Set<Pending>();

  /** Starts at `rate` (1 = real time). */
  constructor(rate = 1) {
    this.#rate = RateClock.#checked(rate);
  }

  /** The current rate. */
  get rate(): number {
    return this.#rate;
  }

  /** Wall-clock ms (not skewed; see the module doc). */
  now(): number {
    return Date.now();
  }

  /** Monotonic ms, advancing at `rate`. */
  monotonic(): number {
    return this.#monoBase + (performance.now() - this.#realBase) * this.#rate;
  }

  /** Calls `fn` once this clock advanced `ms`; the timer does not keep the process alive (as systemClock's). */
  setTimer(fn: () => void, ms: number): TimerHandle {
    const entry: Pending = { deadline: this.monotonic() + Math.max(0, ms), fn, timer: undefined };
    this.#pending.add(entry);
    this.#schedule(entry);
    return {
      cancel: () => {
        clearTimeout(entry.timer);
        this.#pending.delete(entry);
      },
    };
  }

  /** Changes the rate from now on; pending timers are rescheduled. */
  setRate(rate: number): void {
    const mono = this.monotonic();
    this.#realBase = performance.now();
    this.#monoBase = mono;
    this.#rate = RateClock.#checked(rate);
    for (const entry of this.#pending) {
      clearTimeout(entry.timer);
      this.#schedule(entry);
    }
  }

  #schedule(entry: Pending): void {
    const realMs = Math.max(0, (entry.deadline - this.monotonic()) / this.#rate);
    entry.timer = setTimeout(() => {
      this.#pending.delete(entry);
      entry.fn();
    }, realMs);
    entry.timer.unref();
  }

  static #checked(rate: number): number {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`clock rate ${rate} is not a positive number`);
    return rate;
  }
}
