/**
 * Leader election over a Lease, client-go compatible. The public surface is
 * {@link LeaseElector} and its options; the lock interface is for other kubekv
 * modules (state, lock) that reuse the record's storage.
 */
export { LeaseElector } from './lease-elector.js';
export type { HandoffOptions, LeaderInfo, LeaseElectorOptions, ReleaseOutcome, ResignOptions } from './lease-elector.js';
export type { CoordinatedOptions } from './lease-candidate.js';
export { HOLDER_ADDRESS_ANNOTATION, KubeLeaseLock, PREFERRED_HOLDER_ANNOTATION, compareResourceVersions } from './lease-lock.js';
export type {
  KubeLeaseLockOptions,
  LeaseLock,
  LeaseObserver,
  LeaseRecord,
  LeaseSnapshot,
  LeaseWatch,
  LeaseWriteResult,
} from './lease-lock.js';
