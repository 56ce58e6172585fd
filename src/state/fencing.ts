/**
 * Fencing (DESIGN.md invariant 2): every bucket carries a leader epoch. The
 * epoch of a leadership period is its Lease term (leaseTransitions when it
 * was acquired), which grows with every acquisition. A new leader's first
 * act is raising each bucket's epoch to its term, as one write of the
 * store's pipeline (a CAS like every write, refused when the bucket's epoch
 * is already higher). Every later write of that leader is planned on a
 * state whose epoch (and the leader that raised it) it checks for EQUALITY
 * with its own, and sent as a CAS on that state's resourceVersion.
 *
 * Why that is enough: an old leader's write is planned on some state S. If
 * the new leader's raise landed after S, S's resourceVersion is stale and the
 * write fails with 409; the re-read shows another epoch and the old leader
 * gets FencedError. If the raise landed before S, S itself shows another
 * epoch. Either way no write of the old leader lands after the raise.
 *
 * Why equality and terms, not "higher wins" on a counter kept in the
 * bucket: a bucket deleted and recreated starts again at epoch 0, and a
 * deposed leader must not pass a `>` check there and write its old epoch
 * back. The term lives in the Lease, so it survives the bucket; when the
 * Lease is the one deleted (terms restart), or someone edits an epoch, the
 * raise finds an epoch above its term and fails, and the StateManager
 * resigns with the Lease's next term lifted above it (LeaseElector.resign).
 * Epochs therefore never go back.
 *
 * Not covered: side effects outside the bucket (calls to other systems) made
 * by a deposed leader before it learns it was deposed; pass the epoch to such
 * systems if they can check it.
 */
import { FencedError } from '../errors.js';
import type { BucketState } from '../store/bucket-state.js';

/**
 * Throws FencedError unless the state carries exactly the epoch this leader
 * holds, raised by this leader. The identity matters for epoch 0: a
 * recreated bucket is at epoch 0 raised by no one, and the first leader of
 * a Lease (term 0), deposed since, must not write there.
 */
export function checkEpoch(base: BucketState, held: number, leader: string): void {
  if (base.epoch !== held || base.leader !== leader) throw new FencedError(held, base.epoch);
}
