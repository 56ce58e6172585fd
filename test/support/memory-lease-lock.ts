/**
 * An in-memory {@link LeaseLock} with the API server's CAS semantics, for the
 * elector's unit tests: a resourceVersion counter, `create` that loses to an
 * existing Lease, `update` that loses to a newer resourceVersion. A test can
 * write as another contender (`write`), release or delete the Lease, make
 * requests fail (`fail`) or hang until aborted (`stall`), pause the watch
 * (`pauseWatch`), and count the requests an elector made (`calls`).
 *
 * Watch events and request results are delivered on the microtask queue, never
 * synchronously, as a network client would.
 */
import { UnavailableError, type KubekvError } from '../../src/errors.js';
import type { LeaseLock, LeaseObserver, LeaseRecord, LeaseSnapshot, LeaseWatch, LeaseWriteResult } from '../../src/election/lease-lock.js';

/** The requests a lock serves. */
export type LockOp = 'get' | 'create' | 'update';

/** A write the lock accepted, in order. */
export interface LoggedWrite {
  op: 'create' | 'update' | 'external' | 'delete';
  record: LeaseRecord | undefined;
  resourceVersion: string;
}

/** An in-memory lease; see the module doc. */
export class MemoryLeaseLock implements LeaseLock {
  #rv = 100;
  #current: LeaseSnapshot | undefined;
  readonly #observers = new Set<LeaseObserver>();
  readonly #failures = new Map<LockOp, () => KubekvError>();
  readonly #stalled = new Set<LockOp>();
  #watchPaused = false;
  #missed = false;
  /** Requests made, by kind. */
  readonly calls: Record<LockOp, number> = { get: 0, create: 0, update: 0 };
  /** Every accepted write, oldest first. */
  readonly writes: LoggedWrite[] = [];

  /** @param initial - a record to start with, as if another contender had written it */
  constructor(initial?: LeaseRecord) {
    if (initial) this.write(initial);
  }

  describe(): string {
    return 'lease memory/test';
  }

  /** The stored record now (a copy), or undefined. */
  get current(): LeaseSnapshot | undefined {
    return this.#current && copy(this.#current);
  }

  /** Total requests of every kind. */
  get totalCalls(): number {
    return this.calls.get + this.calls.create + this.calls.update;
  }

  async get(signal?: AbortSignal): Promise<LeaseSnapshot | undefined> {
    await this.#enter('get', signal);
    return this.#current && copy(this.#current);
  }

  async create(record: LeaseRecord, signal?: AbortSignal): Promise<LeaseWriteResult> {
    await this.#enter('create', signal);
    if (this.#current) return { ok: false, reason: 'conflict' };
    return { ok: true, lease: this.#store('create', record) };
  }

  async update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<LeaseWriteResult> {
    await this.#enter('update', signal);
    if (!this.#current) return { ok: false, reason: 'not-found' };
    if (this.#current.resourceVersion !== resourceVersion) return { ok: false, reason: 'conflict' };
    return { ok: true, lease: this.#store('update', keepPreferred(record, this.#current.record)) };
  }

  async touch(resourceVersion: string, signal?: AbortSignal): Promise<LeaseWriteResult> {
    await this.#enter('update', signal);
    if (!this.#current) return { ok: false, reason: 'not-found' };
    if (this.#current.resourceVersion !== resourceVersion) return { ok: false, reason: 'conflict' };
    return { ok: true, lease: this.#store('update', this.#current.record) };
  }

  watch(observer: LeaseObserver): LeaseWatch {
    this.#observers.add(observer);
    const initial = this.#current && copy(this.#current);
    const rv = String(this.#rv);
    queueMicrotask(() => {
      if (this.#observers.has(observer)) observer.onLease(initial, rv);
    });
    return {
      stop: () => {
        this.#observers.delete(observer);
        return Promise.resolve();
      },
    };
  }

  /** Writes `record` unconditionally, as another contender would; returns the new resourceVersion. */
  write(record: LeaseRecord): string {
    return this.#store('external', record).resourceVersion;
  }

  /** Another holder renews: same record, renewTime moved to `at`. */
  renewAs(holder: string, at: Date): string {
    const r = this.#current?.record;
    if (!r || r.holderIdentity !== holder) throw new Error(`lease is not held by ${holder}`);
    return this.write({ ...r, renewTime: at });
  }

  /** Deletes the Lease. */
  remove(): void {
    this.#current = undefined;
    const rv = String(++this.#rv);
    this.writes.push({ op: 'delete', record: undefined, resourceVersion: rv });
    this.#emit(undefined, rv);
  }

  /** Makes every request of kind `op` fail with `error` (default: UnavailableError) until `fail(op, null)`. */
  fail(op: LockOp, error: KubekvError | null = new UnavailableError(`${op} leases failed (simulated)`)): void {
    if (error) this.#failures.set(op, () => error);
    else this.#failures.delete(op);
  }

  /** Makes requests of kind `op` hang until their signal aborts (or `stall(op, false)` for later ones). */
  stall(op: LockOp, on = true): void {
    if (on) this.#stalled.add(op);
    else this.#stalled.delete(op);
  }

  /** Stops delivering watch events (a broken watch); `resumeWatch` delivers the current state once. */
  pauseWatch(): void {
    this.#watchPaused = true;
  }

  resumeWatch(): void {
    this.#watchPaused = false;
    if (this.#missed) this.#emit(this.#current && copy(this.#current), String(this.#rv));
    this.#missed = false;
  }

  async #enter(op: LockOp, signal: AbortSignal | undefined): Promise<void> {
    this.calls[op]++;
    if (this.#stalled.has(op)) {
      await new Promise<never>((_, reject) => {
        if (signal?.aborted) reject(signal.reason as Error);
        signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    }
    await Promise.resolve();
    signal?.throwIfAborted();
    const failure = this.#failures.get(op);
    if (failure) throw failure();
  }

  #store(op: LoggedWrite['op'], written: LeaseRecord): LeaseSnapshot {
    // As read back from a Lease: no empty preferredHolder, no address without a holder.
    const { preferredHolder, holderAddress, ...rest } = written;
    const record: LeaseRecord = rest;
    if (preferredHolder) record.preferredHolder = preferredHolder;
    if (holderAddress !== undefined && record.holderIdentity !== '') record.holderAddress = holderAddress;
    const snapshot: LeaseSnapshot = { record: copyRecord(record), resourceVersion: String(++this.#rv) };
    this.#current = snapshot;
    this.writes.push({ op, record: copyRecord(record), resourceVersion: snapshot.resourceVersion });
    this.#emit(copy(snapshot), snapshot.resourceVersion);
    return copy(snapshot);
  }

  #emit(lease: LeaseSnapshot | undefined, rv: string): void {
    if (this.#watchPaused) {
      this.#missed = true;
      return;
    }
    for (const observer of this.#observers) queueMicrotask(() => observer.onLease(lease && copy(lease), rv));
  }
}

/** As KubeLeaseLock: a record without preferredHolder keeps the stored one, '' clears it. */
function keepPreferred(record: LeaseRecord, current: LeaseRecord): LeaseRecord {
  const { preferredHolder, ...rest } = record;
  const kept = preferredHolder === undefined ? current.preferredHolder : preferredHolder;
  return kept ? { ...rest, preferredHolder: kept } : rest;
}

function copy(s: LeaseSnapshot): LeaseSnapshot {
  return { record: copyRecord(s.record), resourceVersion: s.resourceVersion };
}

function copyRecord(r: LeaseRecord): LeaseRecord {
  return {
    ...r,
    acquireTime: r.acquireTime && new Date(r.acquireTime.getTime()),
    renewTime: r.renewTime && new Date(r.renewTime.getTime()),
  };
}
