/**
 * Decoding a bucket the harness read straight from the API server: a
 * chunked head (issue 19) is only a bucket state together with the chunks
 * its manifest names, so they are fetched first (and kept: chunks never
 * change).
 */
import { CHUNKS_ANNOTATION, parseManifest } from '../../src/codec/index.js';
import type { ConfigMapObject } from '../../src/kube/types.js';
import { parseBucket, type BucketState } from '../../src/store/bucket-state.js';
import type { ChunkSet } from '../../src/store/chunk-set.js';

/** The state of `cm`, its chunks loaded into `chunks` first. */
export async function parseWithChunks(chunks: ChunkSet, cm: ConfigMapObject): Promise<BucketState> {
  await chunks.load(parseManifest(cm.metadata?.annotations?.[CHUNKS_ANNOTATION]));
  return parseBucket(cm, undefined, chunks);
}
