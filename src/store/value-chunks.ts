/**
 * Large values go straight to chunks: a value whose encoded form is larger
 * than the store's `largeValueBytes` is written into value chunks (each a
 * slice of at most CHUNK_DATA_BYTES of its encoded bytes) before the head
 * commit, and the head gets a small reference to them instead of the value
 * (codec/chunk-format.ts encodeValueRef). A value larger than one object
 * (8 MiB, say) spans several.
 *
 * Guaranteed: the reference is revision-free, so value chunks are written
 * once per write however often its commit is re-planned after conflicts,
 * and compaction copies the reference, never the value. A write whose
 * commit does not land leaves orphan value chunks for garbage collection.
 */
import { CHUNK_DATA_BYTES, encodeValueRef, newChunkName, valueChunkObject, type ChunkOwner, type ChunkRef, type EncodedValue } from '../codec/index.js';
import type { ConfigMapObject } from '../kube/types.js';
import { createChunk, type ChunkWriteContext } from './chunk-writer.js';

/** A large value, written: the reference the head stores and the chunks it names. */
export interface StoredValue {
  /** The reference, as the head's entry stores it. */
  readonly encoded: EncodedValue;
  /** The value chunks, in order. */
  readonly parts: readonly ChunkRef[];
  /** The chunks as stored (for the store's chunk set). */
  readonly objects: readonly ConfigMapObject[];
}

/** Writes `encoded` into value chunks owned by `owner` (one after another: a large value is a few objects). */
export async function storeValue(ctx: ChunkWriteContext, owner: ChunkOwner, encoded: EncodedValue): Promise<StoredValue> {
  const bytes = encoded.field === 'data' ? Buffer.from(encoded.stored, 'utf8') : Buffer.from(encoded.stored, 'base64');
  const parts: ChunkRef[] = [];
  const objects: ConfigMapObject[] = [];
  for (let offset = 0; offset < bytes.length || offset === 0; offset += CHUNK_DATA_BYTES) {
    const slice = bytes.subarray(offset, offset + CHUNK_DATA_BYTES);
    const created = await createChunk(ctx, () => newChunkName(owner.bucket), (name) => valueChunkObject(owner, name, slice));
    parts.push(created.ref);
    objects.push(created.object);
    if (bytes.length === 0) break;
  }
  return { encoded: encodeValueRef({ field: encoded.field, size: bytes.length, parts: parts.map((p) => p.name) }), parts, objects };
}
