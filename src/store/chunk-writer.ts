/**
 * Creates chunks (codec/chunk-format.ts): the only writes kubekv makes
 * besides the head's CAS, always before the head commit that references
 * them.
 *
 * Guaranteed: a create whose answer was lost is recognised. The chunk's
 * name is chosen (at random) before the first request, so a create sent
 * again names the same object, and 409 AlreadyExists on an object of that
 * name holding exactly the same content means the earlier request landed.
 * A name taken by anything else gets a new name. A chunk that was created
 * but never referenced (its commit lost, the process died) is an orphan:
 * garbage collection (chunk-gc.ts) removes it after its grace period.
 *
 * Not guaranteed: that the chunk is ever referenced, or that it is created
 * at all before `signal` aborts.
 */
import type { Clock } from '../clock.js';
import { CHUNK_LABEL, PART_KEY, storedSize, type ChunkRef } from '../codec/index.js';
import { KubekvError } from '../errors.js';
import type { ResourceClient } from '../kube/api.js';
import { Backoff, retryWithBackoff } from '../kube/backoff.js';
import { certainlyNotApplied } from '../kube/errors.js';
import type { ConfigMapObject } from '../kube/types.js';

/** What {@link createChunk} needs. */
export interface ChunkWriteContext {
  /** The ConfigMaps of the bucket's namespace. */
  readonly client: ResourceClient<ConfigMapObject>;
  /** Whose timers the pauses between attempts use. */
  readonly clock: Clock;
  /** Ends the attempts (the commit the chunk is for was settled). */
  readonly signal?: AbortSignal | undefined;
  /** Called with the bytes etcd stores for each create that may have landed (the store's etcd budget and metrics). */
  readonly charge?: ((bytes: number) => void) | undefined;
}

/** A chunk that exists: its reference for the manifest and the object as stored. */
export interface CreatedChunk {
  /** What the head's manifest says about it. */
  readonly ref: ChunkRef;
  /** The object as the server stored it. */
  readonly object: ConfigMapObject;
}

/** Names tried before giving up (each collision picks a new random name: more than one is already unlikely). */
const MAX_NAMES = 3;

/**
 * Creates the chunk `build(name)` makes, under a new name from `newName()`,
 * retrying a request whose outcome is unknown (same name) with backoff until
 * it lands, is recognised as landed, or `ctx.signal` aborts.
 *
 * @throws the request's error when it is definite (403, 422...), or the
 * signal's reason
 */
export async function createChunk(ctx: ChunkWriteContext, newName: () => string, build: (name: string) => ConfigMapObject): Promise<CreatedChunk> {
  for (let names = 1; ; names++) {
    const body = build(newName());
    const name = body.metadata!.name!;
    const cost = storedSize(body);
    const created = await retryWithBackoff(async () => {
      let result;
      try {
        result = await ctx.client.create(body, { signal: ctx.signal });
      } catch (err) {
        // Its answer may have been lost after it was stored.
        if (!certainlyNotApplied(err)) ctx.charge?.(cost);
        throw err;
      }
      if (result.ok) {
        ctx.charge?.(cost);
        return result.object;
      }
      const existing = await ctx.client.get(name, { signal: ctx.signal });
      // Ours, from an earlier attempt whose answer was lost; else taken.
      return existing && sameChunk(existing, body) ? existing : undefined;
    }, {
      clock: ctx.clock,
      backoff: new Backoff({ initialMs: 50, maxMs: 1000, jitter: 1 }),
      signal: ctx.signal,
      // A definite refusal (403, 422) will not change; anything that may
      // have landed, or failed before reaching the server, is tried again.
      shouldRetry: (error) => !(certainlyNotApplied(error) && !(error instanceof KubekvError && error.retryable)),
    });
    if (created) return { ref: refOf(created), object: created };
    if (names >= MAX_NAMES) throw new KubekvError('API_ERROR', `could not find a free name for a chunk of ${name.slice(0, name.lastIndexOf('.'))}`);
  }
}

/** The manifest reference of a stored chunk. */
export function refOf(object: ConfigMapObject): ChunkRef {
  const value = object.binaryData?.[PART_KEY] !== undefined && object.metadata?.annotations?.['kubekv.dev/chunk'] === 'value';
  const keys = value ? 0 : Object.keys(object.data ?? {}).length + Object.keys(object.binaryData ?? {}).length;
  const ref = { name: object.metadata?.name ?? '', uid: object.metadata?.uid ?? '', keys, bytes: storedSize(object) };
  return value ? { ...ref, value: true } : ref;
}

/** True when `existing` holds what `body` would have stored: the same chunk label, annotations and values. */
function sameChunk(existing: ConfigMapObject, body: ConfigMapObject): boolean {
  const meta = existing.metadata ?? {};
  return (
    meta.labels?.[CHUNK_LABEL] === body.metadata?.labels?.[CHUNK_LABEL]
    && sameMap(meta.annotations, body.metadata?.annotations)
    && sameMap(existing.data, body.data)
    && sameMap(existing.binaryData, body.binaryData)
  );
}

function sameMap(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  const x = a ?? {};
  const y = b ?? {};
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((key) => Object.hasOwn(y, key) && x[key] === y[key]);
}
