/**
 * ManualClock: time that moves only when a test says so (or, made with
 * `following`, with another clock plus the leaps a test control makes).
 *
 * @module
 */
import type { Clock, TimerHandle } from '../clock.js';
import { InvalidOptionError } from '../errors.js';

interface Timer { due: number; fn: () => void; base?: TimerHandle }

/** A plain ManualClock's base: time that never moves by itself. */
const frozen: Clock = { now: () => 0, monotonic: () => 0, setTimer: () => ({ cancel() {} }) };

/**
 * A {@link Clock} that moves only when a test says so: pass it as `clock` to
 * MemoryStore, MemoryStateManager or a lock, then `await advance(ms)` to
 * fire lock TTLs, `shutdownGraceMs`, write deadlines and your own timers
 * without sleeping. Due timers fire in order (ties in the order they were
 * set), and the promise chains each one starts settle before the next. The
 * wall clock (`now()`) moves with the monotonic one; `setWall` steps it.
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
  #base = frozen;
  #ahead = 0;
  #wall: number;
  readonly #timers = new Set<Timer>();
  /** The advance() calls before the latest one: each starts once they are done. */
  #advanced = Promise.resolve();

  /** @param wallStart - initial wall time in ms since the epoch; default 2030-01-01T00:00:00Z */
  constructor(wallStart = Date.UTC(2030, 0, 1)) {
    this.#wall = checkFinite('wallStart', wallStart);
  }

  /** @internal A clock that runs with `base`, and that leap() moves ahead (a MemoryStore fault reaches a deadline so). */
  static following(base: Clock): ManualClock {
    const clock = new ManualClock(0);
    clock.#base = base;
    return clock;
  }

  /** Wall-clock ms since the epoch. */
  now(): number {
    return this.#base.now() + this.#wall + this.#ahead;
  }

  /** Monotonic ms since the clock was made. */
  monotonic(): number {
    return this.#base.monotonic() + this.#ahead;
  }

  /** Calls `fn` once time has moved `ms` forward. */
  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { due: this.monotonic() + Math.max(0, ms), fn };
    this.#arm(timer);
    this.#timers.add(timer);
    return { cancel: () => (this.#timers.delete(timer), timer.base?.cancel()) };
  }

  /** Jumps the wall clock (an NTP step, a skewed node); monotonic time is unaffected. */
  setWall(ms: number): void {
    this.#wall += checkFinite('ms', ms) - this.now();
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms` (after the advances not yet done), firing every timer that falls due on the way; resolves when they and what they started have settled. */
  async advance(ms: number): Promise<void> {
    if (checkFinite('ms', ms) < 0) throw new InvalidOptionError('ms', ms, 'a non-negative number of milliseconds');
    const advance = this.#advanced.then(() => this.leap(ms));
    this.#advanced = advance.catch(() => {});
    await advance;
  }

  /** @internal advance(), ending early once `done()` holds. */
  async leap(ms: number, done: () => boolean = () => false): Promise<void> {
    const [end, ahead] = [this.monotonic() + ms, this.#ahead];
    try {
      for (await settle(); !done(); await settle()) {
        const next = [...this.#timers].reduce<Timer | undefined>((a, t) => (!a || t.due < a.due ? t : a), undefined);
        if (!next || next.due > end) break;
        this.#ahead += Math.max(0, next.due - this.monotonic());
        this.#timers.delete(next);
        next.base?.cancel();
        next.fn();
      }
      if (!done()) this.#ahead += Math.max(0, end - this.monotonic());
    } finally {
      // Time leapt past the base clock: what is still due fires at its time on this clock, not as late as the leap.
      if (this.#ahead !== ahead) for (const timer of this.#timers) this.#arm(timer);
    }
    await settle();
  }

  /** Books `timer` on the base clock (a following clock's system clock) for when it falls due, as time stands now. */
  #arm(timer: Timer): void {
    timer.base?.cancel();
    timer.base = this.#base.setTimer(() => this.#timers.delete(timer) && timer.fn(), Math.max(0, timer.due - this.monotonic()));
  }
}

/** `value` if it is a finite number, else InvalidOptionError naming `option`. */
function checkFinite(option: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidOptionError(option, value, 'a finite number of milliseconds');
  return value;
}

/** Lets promise chains that wait on no timer run: a few macrotask turns, each draining the microtask queue. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
