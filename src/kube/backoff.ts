/**
 * Exponential backoff with full jitter for reconnect loops: the n-th delay is
 * drawn uniformly from [(1 - jitter) * d, d] where d = min(maxMs, initialMs *
 * factor^n). Jitter keeps many replicas that lost the same apiserver from
 * reconnecting in lock-step.
 */
import pRetry from 'p-retry';
import { sleep, type Clock } from '../clock.js';
import { InvalidOptionError } from '../errors.js';

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First delay, in ms. Default 200. */
  initialMs?: number;
  /** Largest delay, in ms. Default 30000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of each delay that is randomised, 0..1. Default 0.5. */
  jitter?: number;
  /** Source of randomness in [0, 1); injectable for tests. Default Math.random. */
  random?: () => number;
}

/** A reconnect delay sequence; `reset()` after a success. */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #attempt = 0;

  /** @param options - see {@link BackoffOptions}; invalid values throw InvalidOptionError */
  constructor(options: BackoffOptions = {}) {
    this.#initial = positive('initialMs', options.initialMs ?? 200);
    this.#max = positive('maxMs', options.maxMs ?? 30_000);
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 0.5;
    this.#random = options.random ?? Math.random;
    if (this.#max < this.#initial) throw new InvalidOptionError('maxMs', this.#max, `must be >= initialMs (${this.#initial})`);
    if (!(this.#factor >= 1)) throw new InvalidOptionError('factor', this.#factor, 'must be >= 1');
    if (!(this.#jitter >= 0 && this.#jitter <= 1)) throw new InvalidOptionError('jitter', this.#jitter, 'must be within 0..1');
  }

  /** Attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay in ms. */
  next(): number {
    const ceiling = Math.min(this.#max, this.#initial * this.#factor ** this.#attempt);
    this.#attempt++;
    return ceiling * (1 - this.#jitter * this.#random());
  }

  /** Starts the sequence over (call after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}

function positive(option: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new InvalidOptionError(option, value, 'must be a positive number of milliseconds');
  return value;
}

/** Options of {@link retryWithBackoff}. */
export interface RetryOptions {
  /** Whose timers the pauses use (the component's injected clock). */
  clock: Clock;
  /** The pauses. */
  backoff: Backoff;
  /** Stops retrying: the pause in progress rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Whether `error` is worth another attempt; default every error. */
  shouldRetry?: ((error: Error) => boolean) | undefined;
  /** Called before each pause (logging, metrics). */
  onRetry?: ((error: Error, delayMs: number) => void) | undefined;
}

/**
 * Runs `attempt` until it resolves, through p-retry (kubekv's one retry
 * mechanism), pausing between attempts by `backoff` on the injected clock
 * (so a ManualClock drives the pauses in tests). Rejects with the first
 * error `shouldRetry` refuses, or with the signal's reason.
 */
export function retryWithBackoff<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions): Promise<T> {
  return pRetry(attempt, {
    retries: Number.POSITIVE_INFINITY,
    // The pause is taken in shouldRetry, on the injected clock.
    minTimeout: 0,
    maxTimeout: 0,
    signal: options.signal,
    shouldRetry: async ({ error }) => {
      if (options.shouldRetry && !options.shouldRetry(error)) return false;
      const delayMs = options.backoff.next();
      options.onRetry?.(error, delayMs);
      await sleep(options.clock, delayMs, options.signal);
      return true;
    },
  });
}
