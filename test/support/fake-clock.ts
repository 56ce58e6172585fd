/**
 * A {@link Clock} for unit tests: time moves only when the test calls
 * `advance(ms)`, which fires the due timers in order (earliest first, ties in
 * the order they were set) and lets pending promises settle after each, so a
 * timer's async work completes before the next timer fires. No test sleeps.
 *
 * The wall clock (`now()`) advances with the monotonic one but can also be
 * jumped on its own with `setWall`, to show that nothing depends on it.
 */
import type { Clock, TimerHandle } from '../../src/clock.js';

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
}

/** A manually driven clock. */
export class FakeClock implements Clock {
  #mono = 0;
  #wall: number;
  #seq = 0;
  readonly #timers = new Set<Timer>();

  /** @param wallStart - initial wall time in ms since the epoch */
  constructor(wallStart = Date.UTC(2030, 0, 1)) {
    this.#wall = wallStart;
  }

  now(): number {
    return this.#wall;
  }

  monotonic(): number {
    return this.#mono;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { due: this.#mono + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.add(timer);
    return { cancel: () => this.#timers.delete(timer) };
  }

  /** Jumps the wall clock (an NTP step, a skewed node); monotonic time is unaffected. */
  setWall(ms: number): void {
    this.#wall = ms;
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#mono + ms;
    await settle();
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.#timers) {
        if (t.due <= target && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      this.#timers.delete(next);
      this.#move(next.due);
      next.fn();
      await settle();
    }
    this.#move(target);
    await settle();
  }

  #move(to: number): void {
    this.#wall += to - this.#mono;
    this.#mono = to;
  }
}

/** Lets every promise chain that waits on no timer run to completion. */
export async function settle(): Promise<void> {
  // Each macrotask turn drains the microtask queue; a few turns cover chains
  // that hop through setImmediate-based code.
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
