/**
 * The Events kubekv records, worded in one place. The leader-election pair
 * is client-go's: reason LeaderElection, type Normal, note "<identity>
 * became leader" / "<identity> stopped leading" (resourcelock.LeaseLock's
 * RecordEvent), so `kubectl get events` reads the same for kubekv replicas
 * and Kubernetes components. The Warnings are kubekv's own. Notes never
 * carry a key or a value (a lock's key is data; its Lease name is a hash).
 */
import { InvalidOptionError } from '../errors.js';
import type { EventRecord, LeaseReference } from './recorder.js';

/** reportingController of the StateManager's Events. */
export const STATE_MANAGER_CONTROLLER = 'kubekv.dev/state-manager';
/** reportingController of a lock's Events. */
export const LOCK_CONTROLLER = 'kubekv.dev/lock';

/** client-go's event when an elector acquires the Lease. */
export function becameLeader(lease: LeaseReference, identity: string): EventRecord {
  return { regarding: lease, type: 'Normal', reason: 'LeaderElection', action: 'BecomeLeader', note: `${identity} became leader`, reportingInstance: identity };
}

/** client-go's event when an elector's leadership ends (lost, released or closed). */
export function stoppedLeading(lease: LeaseReference, identity: string): EventRecord {
  return { regarding: lease, type: 'Normal', reason: 'LeaderElection', action: 'StopLeading', note: `${identity} stopped leading`, reportingInstance: identity };
}

/** A leader found a bucket carrying another epoch than its own: it stops leader work and resigns. */
export function fenced(lease: LeaseReference, identity: string, heldEpoch: number, currentEpoch: number): EventRecord {
  return {
    regarding: lease,
    type: 'Warning',
    reason: 'Fenced',
    action: 'Resign',
    note: `${identity} was fenced: it led at epoch ${heldEpoch} but a bucket carries epoch ${currentEpoch}; it stops its leader work and resigns`,
    reportingInstance: identity,
  };
}

/** A held lock was lost without unlock(). `holder` is the new holder when one was seen. */
export function lockLost(lease: LeaseReference, identity: string, token: number, holder: string | undefined): EventRecord {
  const why = holder ? `the Lease is now held by ${holder}` : 'no renewal succeeded within the renew deadline, or the Lease was released or deleted';
  return { regarding: lease, type: 'Warning', reason: 'LockLost', action: 'LoseLock', note: `${identity} lost the lock (fencing token ${token}): ${why}`, reportingInstance: identity };
}

/** Validates an `events` option: undefined (on) or a boolean. */
export function resolveEvents(value: unknown, option = 'events'): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, value, 'a boolean: record Kubernetes Events (default true), or false to turn them off');
  return value;
}
