/**
 * Garbage collection of a bucket's chunks: deletes chunks that no head
 * references (merged away by compaction, values overwritten, orphans of
 * commits that lost their race) once they have stayed unreferenced for a
 * grace period.
 *
 * Guaranteed: a chunk is deleted only when (1) it carries the bucket's chunk
 * label and names the bucket as its owner, (2) a quorum read of the head
 * made AFTER the chunk was listed does not reference it (so no reference
 * made before the list is missed), (3) that head is at least
 * CHUNK_REUSE_REVISIONS revisions past the one the chunk was made at, so
 * no commit that may still reference it can land (codec/chunk-format.ts
 * SINCE_REVISION_ANNOTATION: this protects a chunk whose commit is still in
 * flight, however slow, without relying on anyone's timers), (4) this
 * collector has seen it unreferenced for at least `graceMs` on the injected
 * clock, which protects a slow reader still fetching the chunks of an older
 * head (it re-reads the head when a chunk is gone), and (5) its uid is
 * still the one seen (a delete precondition).
 *
 * Not guaranteed: promptness. A chunk is deleted on the first run after
 * its grace period, and runs happen only after this store's commits.
 */
import type { Clock } from '../clock.js';
import { BUCKET_KINDS, CHUNK_LABEL, CHUNK_REUSE_REVISIONS, REVISION_ANNOTATION, chunkSinceRevision, parseHeadChunks, type BucketKind } from '../codec/index.js';
import { ChunkMissingError, FormatError } from '../errors.js';
import { parseChunk } from './chunk-set.js';
import type { ResourceClient } from '../kube/api.js';
import type { ConfigMapObject } from '../kube/types.js';
import type { Logger } from '../logger.js';

/** Options of {@link ChunkCollector}. */
export interface ChunkCollectorOptions {
  /** The ConfigMaps of the bucket's namespace. */
  readonly client: ResourceClient<ConfigMapObject>;
  /** The bucket (head) name. */
  readonly bucket: string;
  /** The bucket label's value (store/inputs.ts bucketLabel). */
  readonly label: string;
  /** Whose monotonic time measures the grace period. */
  readonly clock: Clock;
  /** Most ms a chunk stays after this collector first saw it unreferenced. */
  readonly graceMs: number;
  /** Where deletions are logged (names only). */
  readonly logger: Logger;
}

/** See the module doc. */
export class ChunkCollector {
  readonly #options: ChunkCollectorOptions;
  /** Unreferenced chunks by uid: when this collector first saw them so. */
  readonly #unreferencedSince = new Map<string, number>();

  /** @param options - see {@link ChunkCollectorOptions} */
  constructor(options: ChunkCollectorOptions) {
    this.#options = options;
  }

  /**
   * One run: lists the bucket's chunks, reads the head, deletes what is
   * past its grace period. Returns the number deleted. Throws what a
   * request throws (the caller logs it; nothing is deleted on doubt).
   */
  async collect(signal?: AbortSignal): Promise<number> {
    const { client, bucket, label, clock, graceMs, logger } = this.#options;
    const listed = await client.list({ labelSelector: `${CHUNK_LABEL}=${label}`, metadataOnly: true, signal });
    const head = await client.get(bucket, { signal });
    const referenced = await referencedUids(client, head, signal);
    const headRevision = Number(head?.metadata?.annotations?.[REVISION_ANNOTATION] ?? 0);
    const now = clock.monotonic();
    const seen = new Set<string>();
    let deleted = 0;
    for (const chunk of listed.items) {
      const uid = chunk.metadata?.uid ?? '';
      const name = chunk.metadata?.name ?? '';
      if (!ownedBy(chunk, bucket) || uid === '' || referenced.has(uid)) continue;
      seen.add(uid);
      const since = this.#unreferencedSince.get(uid) ?? now;
      this.#unreferencedSince.set(uid, since);
      if (now - since < graceMs) continue;
      // A commit planned less than CHUNK_REUSE_REVISIONS revisions after the
      // chunk was made may still reference it, and may still be in flight.
      const made = chunkSinceRevision(chunk);
      if (made === undefined || headRevision < made + CHUNK_REUSE_REVISIONS) continue;
      const result = await client.delete(name, { uid }, { signal });
      if (result.ok || result.reason === 'not-found') {
        deleted++;
        this.#unreferencedSince.delete(uid);
        logger.debug({ bucket, chunk: name }, 'deleted unreferenced chunk');
      }
    }
    for (const uid of this.#unreferencedSince.keys()) if (!seen.has(uid)) this.#unreferencedSince.delete(uid);
    return deleted;
  }
}

/**
 * The uids of the chunks `head` references: those its list names, and the
 * manifest chunk holding that list when it has one.
 *
 * @throws ChunkMissingError when its manifest chunk is gone or another
 * object (nothing is deleted on doubt), FormatError for a list kubekv
 * cannot read, a request's error
 */
async function referencedUids(client: ResourceClient<ConfigMapObject>, head: ConfigMapObject | undefined, signal: AbortSignal | undefined): Promise<Set<string>> {
  const list = parseHeadChunks(head?.metadata?.annotations);
  if (!list.manifest) return new Set(list.refs.map((ref) => ref.uid));
  const object = await client.get(list.manifest.name, { signal });
  if (!object || object.metadata?.uid !== list.manifest.uid) throw new ChunkMissingError(head?.metadata?.name ?? '', list.manifest.name);
  const chunk = parseChunk(object);
  if (chunk.kind !== 'manifest') throw new FormatError(`chunk ${chunk.name} is a ${chunk.kind} chunk, the head names it as its manifest chunk`);
  return new Set([list.manifest.uid, ...chunk.refs.map((ref) => ref.uid)]);
}

/** True when `chunk` names `bucket` as its owner (the label alone may be shared: it is cut and hashed past 63 characters). A chunk is listed among objects of its head's kind (ConfigMap or Secret). */
export function ownedBy(chunk: ConfigMapObject, bucket: string): boolean {
  return (chunk.metadata?.ownerReferences ?? []).some((owner) => BUCKET_KINDS.includes(owner.kind as BucketKind) && owner.name === bucket);
}

/**
 * Deletes every chunk of `bucket` (its head is gone: teardown). Returns the
 * number deleted.
 *
 * Guaranteed: a chunk of a bucket created again under the same name is
 * kept. The head is read AFTER the list, so a head created before a listed
 * chunk of its own (a chunk is created only once its head exists, and
 * owned by its uid) is seen, and that uid's chunks are left alone.
 */
export async function deleteAllChunks(client: ResourceClient<ConfigMapObject>, bucket: string, label: string, signal?: AbortSignal): Promise<number> {
  const listed = await client.list({ labelSelector: `${CHUNK_LABEL}=${label}`, metadataOnly: true, signal });
  const head = await client.get(bucket, { signal });
  const current = head?.metadata?.uid;
  let deleted = 0;
  for (const chunk of listed.items) {
    if (!ownedBy(chunk, bucket)) continue;
    if (current !== undefined && chunk.metadata?.ownerReferences?.some((owner) => owner.uid === current)) continue;
    const result = await client.delete(chunk.metadata?.name ?? '', { uid: chunk.metadata?.uid }, { signal });
    if (result.ok || result.reason === 'not-found') deleted++;
  }
  return deleted;
}
