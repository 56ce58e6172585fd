/**
 * Exponential backoff with full jitter for reconnect loops: the n-th delay is
 * drawn uniformly from [(1 - jitter) * d, d] where d = min(maxMs, initialMs *
 * factor^n). Jitter keeps many replicas that lost the same apiserver from
 * reconnecting in lock-step.
 */
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
