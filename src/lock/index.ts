/**
 * Lease-backed locks (see lock.ts for the guarantees). The public surface is
 * {@link Lock}, {@link LockHandle} and the option types, reached through
 * `store.newLock(key)`; the rest is for other kubekv modules and tests.
 */
export { LOCK_COMPONENT, LOCK_KEY_ANNOTATION, Lock, MAX_LOCK_TTL_MS, lockLeaseName } from './lock.js';
export type { LockAcquireOptions, LockHandle, LockInfo, LockInit, LockOptions } from './lock.js';
