/**
 * Fencing (DESIGN.md invariant 2): a bucket carries a leader epoch; a new
 * leader's first act is a CAS write raising it; every later write of that
 * leader is planned on a state whose epoch it checks, and sent as a CAS on
 * that state's resourceVersion.
 *
 * Why that is enough: an old leader's write is planned on some state S. If
 * the new leader's raise landed after S, S's resourceVersion is stale and the
 * write fails with 409; the re-read shows the higher epoch and the old leader
 * gets FencedError. If the raise landed before S, S itself shows the higher
 * epoch. Either way no write of the old leader lands after the raise.
 *
 * Not covered: side effects outside the bucket (calls to other systems) made
 * by a deposed leader before it learns it was deposed; pass the epoch to such
 * systems if they can check it.
 */
import { EPOCH_ANNOTATION } from '../codec/index.js';
import { BucketNotFoundError, ConflictError, FencedError } from '../errors.js';
import { parseBucket, type BucketState } from '../store/bucket-state.js';
import type { StoreInternals } from '../store/configmap-store.js';

/** Annotation naming the identity that raised the current epoch (for people reading the ConfigMap). */
export const LEADER_ANNOTATION = 'kubekv.dev/leader';

const MAX_RAISE_ATTEMPTS = 20;

/** Raises the bucket's epoch by one with a CAS write and returns the epoch now held. */
export async function raiseEpoch(store: StoreInternals, identity: string, signal: AbortSignal): Promise<number> {
  for (let attempt = 1; attempt <= MAX_RAISE_ATTEMPTS; attempt++) {
    signal.throwIfAborted();
    const object = await store.api.get();
    if (!object) throw new BucketNotFoundError(store.api.namespace, store.api.name);
    store.apply(object);
    const epoch = parseBucket(object).epoch + 1;
    const result = await store.api.patch({
      metadata: {
        resourceVersion: object.metadata?.resourceVersion ?? '',
        annotations: { [EPOCH_ANNOTATION]: String(epoch), [LEADER_ANNOTATION]: identity },
      },
    });
    if (result.ok) {
      store.apply(result.object);
      return epoch;
    }
    if (result.reason === 'not-found') throw new BucketNotFoundError(store.api.namespace, store.api.name);
    // Another write landed between our read and our raise: read again.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
  }
  throw new ConflictError(`could not raise the leader epoch of bucket ${store.api.name}: it kept changing`);
}

/** Throws FencedError when the state was written by a newer leader than the epoch held. */
export function checkEpoch(base: BucketState, held: number): void {
  if (base.epoch > held) throw new FencedError(held, base.epoch);
}
