/**
 * A {@link Clock} that moves only when a test says so: pass it as `clock` to
 * MemoryStore, MemoryStateManager or a lock, then `advance(ms)` to fire
 * lock TTLs, `shutdownGraceMs`, write deadlines and your own timers without
 * sleeping.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../clock.js';
import { InvalidOptionError } from '../errors.js';

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
}

/**
 * A manually driven clock. `advance(ms)` fires the timers that fall due, in
 * order (earliest first, ties in the order they were set), and lets pending
 * promise chains settle after each, so the async work a timer starts
 * completes before the next one fires. The wall clock (`now()`) moves with
 * the monotonic one and can also be set on its own (`setWall`), as an NTP
 * step would.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * await using state = await MemoryStateManager.start({ name: 'app', clock, shutdownGraceMs: 5000 });
 * state.onLeader(() => new Promise(() => {})); // never returns
 * const closed = state.close();
 * await clock.advance(5000);                   // the grace passes
 * await closed;
 * ```
 */
export class ManualClock implements Clock {
  #mono = 0;
  #wall: number;
  #seq = 0;
  readonly #timers = new Set<Timer>();

  /** @param wallStart - initial wall time in ms since the epoch; default 2030-01-01T00:00:00Z */
  constructor(wallStart = Date.UTC(2030, 0, 1)) {
    this.#wall = wallStart;
  }

  /** Wall-clock ms since the epoch. */
  now(): number {
    return this.#wall;
  }

  /** Monotonic ms since the clock was made. */
  monotonic(): number {
    return this.#mono;
  }

  /** Calls `fn` once `advance` has moved time `ms` forward. */
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

  /** Moves time forward by `ms`, firing every timer that falls due on the way; resolves when they and what they started have settled. */
  async advance(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !(Number.isFinite(ms) && ms >= 0)) throw new InvalidOptionError('ms', ms, 'a non-negative number of milliseconds');
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

/** Lets promise chains that wait on no timer run: a few macrotask turns, each draining the microtask queue. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
