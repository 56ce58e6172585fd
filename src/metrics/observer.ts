/**
 * The hooks the instrumented modules (store write pipeline, object watcher,
 * elector, lock) call at the moments worth counting. They are narrow on
 * purpose: those modules only call hooks; which metrics exist, their names
 * and labels, and the metrics library itself live in src/metrics alone.
 *
 * Contract of every implementation: each method returns at once and never
 * throws. A hook runs inside a write's settlement or an election step, so a
 * failing metric must not fail either, and no hook may await anything.
 */

/** Why the write pipeline retries a commit (its Retry reasons). */
export type RetryReason = 'conflict' | 'outcome unknown' | 'refused' | 'read failed';

/** Why a list+watch loop opened a new watch (defined with the loop, src/kube/object-watcher.ts). */
export type { WatchRestartReason } from '../kube/object-watcher.js';
import type { WatchRestartReason } from '../kube/object-watcher.js';

/** What a store reports about its writes and its cache. */
export interface StoreObserver {
  /** A write settled: stored (`error` undefined) or not (its error); `ms` since it was submitted. */
  written(error: Error | undefined, ms: number): void;
  /** A commit's CAS patch was refused with 409: the bucket changed since it was planned. */
  conflict(): void;
  /** A commit is tried again after a pause, for `reason`. */
  retry(reason: RetryReason): void;
  /** A commit that may have landed made etcd store about `bytes` (the estimate of codec/stored-size.ts). */
  etcdBytes(bytes: number): void;
  /** Commits waited `ms` for the store's etcd budget (store/etcd-budget.ts). */
  budgetWaited(ms: number): void;
  /** The bucket's watch was opened again, for `reason`. */
  watchRestarted(reason: WatchRestartReason): void;
  /** The store closed: series that describe its live state (cache staleness) go. */
  close(): void;
}

/** What an elector reports, as client-go's leader-election metrics provider gets it. */
export interface ElectionObserver {
  /** This elector started (true) or stopped (false) leading; also false once at construction, as client-go does. */
  leading(isLeader: boolean): void;
  /** A leader's optimistic renewal (a CAS on the version it last wrote) failed, so it read the Lease first: client-go's "slow path". */
  slowPath(): void;
}

/** What a lock reports. */
export interface LockObserver {
  /** A lock() call acquired the lock and handed the caller its handle. */
  acquired(): void;
  /** A held lock ended after `heldMs`: unlocked by its holder (`lost` false) or lost (renewals failed, taken over, deleted). */
  released(heldMs: number, lost: boolean): void;
}
