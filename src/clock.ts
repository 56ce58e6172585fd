/**
 * Time as kubekv sees it. Everything time-dependent (lease expiry, backoff,
 * renew deadlines) reads time and sets timers only through a {@link Clock},
 * so tests can drive it with a fake clock instead of sleeping.
 */
import { InvalidOptionError } from './errors.js';

/** A cancellable timer handle. */
export interface TimerHandle {
  /** Cancels the timer; harmless if it already fired. */
  cancel(): void;
}

/** Source of time and timers. */
export interface Clock {
  /** Wall-clock time in ms since the epoch (what goes into Lease records). */
  now(): number;
  /**
   * Monotonic time in ms (never jumps with wall-clock changes); what kubekv
   * uses to judge durations such as lease expiry.
   */
  monotonic(): number;
  /** Calls `fn` after `ms` milliseconds. The timer does not keep the process alive. */
  setTimer(fn: () => void, ms: number): TimerHandle;
}

/** The real clock: Date.now(), performance.now() and unref'd setTimeout. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/**
 * Resolves after `ms` on `clock`, or rejects with the signal's reason when
 * `signal` aborts first; the timer is cleared either way.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      timer.cancel();
      reject(signal!.reason as Error);
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `work`, keeping the process alive until it settles. The clock's
 * timers do not hold the process (they are unref'd); work that must finish
 * before an exiting process ends (a write in flight, a handover, the last
 * Events) runs inside this, the one place a referenced timer is kept.
 */
export async function keepingProcessAlive<T>(work: () => Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    return await work();
  } finally {
    clearInterval(keepAlive);
  }
}

/** Largest timeout Node's timers honour. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Validates a timeout option (`timeoutMs` unless named): undefined, or a positive finite number of ms. */
export function checkTimeout(value: unknown, option = 'timeoutMs'): number | undefined {
  if (value === undefined) return undefined;
  // Node's timers clamp anything above 2^31 - 1 ms to 1 ms: refuse it rather than time out at once.
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    throw new InvalidOptionError(option, value, `a positive number of milliseconds, at most ${MAX_TIMEOUT_MS} (about 24.8 days)`);
  }
  return value;
}
