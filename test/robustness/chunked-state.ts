/**
 * Decoding a bucket the harness read straight from the API server: a
 * chunked head (issue 19) is only a bucket state together with the chunks
 * its manifest names, so they are fetched first (and kept: chunks never
 * change).
 */
import { parseHeadChunks, type ChunkRef } from '../../src/codec/index.js';
import type { ConfigMapObject } from '../../src/kube/types.js';
import { parseBucket, type BucketState } from '../../src/store/bucket-state.js';
import { parseChunk, type ChunkSet } from '../../src/store/chunk-set.js';

/** The state of `cm`, its chunks (and manifest chunk) loaded into `chunks` first. */
export async function parseWithChunks(chunks: ChunkSet, cm: ConfigMapObject): Promise<BucketState> {
  await chunks.load(await chunks.refsOf(cm.metadata?.annotations));
  return parseBucket(cm, undefined, chunks);
}

/**
 * The chunks head `cm` references, read from `chunks` (the bucket's chunk
 * objects by name): its list, and its manifest chunk when a manifest chunk
 * holds the list (then also listed as `manifest`). A manifest chunk that is
 * not among `chunks` gives only itself.
 */
export function referencedChunks(cm: ConfigMapObject | undefined, chunks: ReadonlyMap<string, ConfigMapObject>): { refs: ChunkRef[]; manifest?: string } {
  const head = parseHeadChunks(cm?.metadata?.annotations);
  if (!head.manifest) return { refs: head.refs };
  const object = chunks.get(head.manifest.name);
  const chunk = object && object.metadata?.uid === head.manifest.uid ? parseChunk(object) : undefined;
  const listed = chunk?.kind === 'manifest' ? chunk.refs : [];
  return { refs: [...listed, { name: head.manifest.name, uid: head.manifest.uid, keys: 0, bytes: 0 }], manifest: head.manifest.name };
}
