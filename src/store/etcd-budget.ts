/**
 * How many bytes one store may make etcd store, over time. etcd keeps every
 * revision of every object until the API server compacts it (every 5
 * minutes by default), and its database has a quota (2 GiB by default): when
 * it is reached, etcd raises NOSPACE and every write in the whole cluster
 * fails. One store writing a large object in a loop can get there in a few
 * minutes, so a store spends from a budget: each request that may have
 * landed costs the bytes etcd stores for it (the estimate of
 * codec/stored-size.ts), and a commit waits while the budget is spent.
 * Writes are not refused for it: they queue, so the next commit carries
 * more of them (group commit), and each ends within its own deadline.
 *
 * The rule is a token bucket whose burst and rate are chosen so that within
 * any window of `windowMs` the store spends at most `bytes`, one commit's
 * overshoot included: a commit is sent once the balance is not negative,
 * then its cost is taken, so the balance can dip below zero by at most one
 * object's size ({@link MAX_STORED_BYTES}).
 *
 * Guaranteed: per store instance. Several stores writing one bucket (plain
 * stores in several processes) each have their own budget; under a
 * StateManager only the leader writes.
 *
 * @module
 */
import { sleep, type Clock } from '../clock.js';
import { MAX_STORED_BYTES } from '../codec/index.js';
import { InvalidOptionError } from '../errors.js';

/** What a store may make etcd store: at most `bytes` within any `windowMs`. */
export interface EtcdBudgetOptions {
  /** Most bytes within any window. Default {@link DEFAULT_ETCD_BUDGET}.bytes: 8% of etcd's default 2 GiB quota (see there). */
  bytes?: number;
  /** The window, in ms. Default 300,000: the API server's default compaction interval (`--etcd-compaction-interval`). */
  windowMs?: number;
}

/**
 * The default budget: 8% of etcd's default quota (2 GiB) per compaction
 * interval (5 minutes), so that one bucket grows etcd's database by at most
 * 10% of the quota within a compaction window: etcd's database grows by
 * about 1.1 bytes per byte of object it stores (measured with `npm run bench
 * -- capacity`, sustained puts: 1,027,210 bytes of db in use per put of a
 * 937,534-byte object), and the estimate does not count that.
 */
export const DEFAULT_ETCD_BUDGET: Required<EtcdBudgetOptions> = { bytes: Math.floor(0.08 * 2 * 1024 ** 3), windowMs: 300_000 };

/** Share of the budget a store may spend at once, after a quiet spell. */
const BURST_SHARE = 1 / 8;

/** A token bucket of etcd bytes on the injected clock. */
export class EtcdBudget {
  readonly #clock: Clock;
  /** Bytes the bucket holds when full. */
  readonly burst: number;
  /** Bytes per ms it refills with. */
  readonly ratePerMs: number;
  #balance: number;
  #at: number;

  /**
   * @param options - the budget; validated here
   * @throws {@link InvalidOptionError} when `bytes` is too small to let one object through per window, or `windowMs` is not positive
   */
  constructor(clock: Clock, options: EtcdBudgetOptions = {}) {
    const bytes = options.bytes ?? DEFAULT_ETCD_BUDGET.bytes;
    const windowMs = options.windowMs ?? DEFAULT_ETCD_BUDGET.windowMs;
    if (!Number.isSafeInteger(bytes) || bytes < 4 * MAX_STORED_BYTES) {
      throw new InvalidOptionError('etcdBudget.bytes', bytes, `an integer of at least ${4 * MAX_STORED_BYTES} (four of etcd's largest objects)`);
    }
    if (!Number.isSafeInteger(windowMs) || windowMs <= 0) throw new InvalidOptionError('etcdBudget.windowMs', windowMs, 'a positive integer of milliseconds');
    this.#clock = clock;
    this.burst = Math.floor(bytes * BURST_SHARE);
    // burst + rate * window + one overshoot <= bytes, for any window.
    this.ratePerMs = (bytes - this.burst - MAX_STORED_BYTES) / windowMs;
    this.#balance = this.burst;
    this.#at = clock.monotonic();
  }

  /** Bytes that may be spent now (negative: in debt by that much). */
  get balance(): number {
    const now = this.#clock.monotonic();
    this.#balance = Math.min(this.burst, this.#balance + (now - this.#at) * this.ratePerMs);
    this.#at = now;
    return this.#balance;
  }

  /** Time until the balance is no longer negative, in ms; 0 when it is not. */
  waitMs(): number {
    const balance = this.balance;
    return balance >= 0 ? 0 : Math.ceil(-balance / this.ratePerMs);
  }

  /**
   * Resolves once a commit may be sent (the balance is not negative).
   *
   * @returns the ms it waited
   * @throws the signal's reason when `signal` aborts first
   */
  async ready(signal?: AbortSignal): Promise<number> {
    let waited = 0;
    for (let ms = this.waitMs(); ms > 0; ms = this.waitMs()) {
      await sleep(this.#clock, ms, signal);
      waited += ms;
    }
    return waited;
  }

  /** Takes `bytes` that a request sent may have made etcd store. */
  charge(bytes: number): void {
    this.#balance = this.balance - bytes;
  }
}
