/**
 * The chunks of one bucket that a store holds in memory, and the layer of
 * entries they make (codec/chunk-format.ts describes the layout).
 *
 * Chunks are immutable, so each is fetched once (a quorum GET by name) and
 * kept, keyed by name and uid, for as long as the store's head references
 * it. The store applies a head only once {@link ChunkSet.load} has every
 * chunk it references, so a reader never sees part of a bucket.
 *
 * Guaranteed: {@link ChunkSet.layer} is built once per list of entries
 * chunks, so heads that differ only in their inline part (nearly every
 * commit) share it. A chunk that does not exist, or exists with another
 * uid than the head names, is a {@link ChunkMissingError}, never skipped.
 *
 * Not guaranteed: that a chunk still exists when it is fetched: one the
 * head dropped may be garbage collected meanwhile, which is why the store
 * re-reads the head before it reports a missing chunk.
 */
import { BucketNotFoundError, ChunkMissingError, FormatError } from '../errors.js';
import type { BucketApi } from './bucket-api.js';
import type { ResourceClient } from '../kube/api.js';
import type { ConfigMapObject } from '../kube/types.js';
import {
  INDEX_ANNOTATION,
  MANIFEST_KEY,
  PART_KEY,
  TOMBSTONES_ANNOTATION,
  chunkKind,
  parseHeadChunks,
  parseManifest,
  dataSize,
  decodeKey,
  parseIndex,
  parseTombstones,
  type ChunkRef,
  type ManifestRef,
} from '../codec/index.js';
import { NO_CHUNKS, layerKey, parseBucket, withBlob, type BucketState, type ChunkLayer, type ChunkSource, type Entry } from './bucket-state.js';
import { PackedEntry, type ChunkValue } from './packed-entry.js';

/** An entries chunk, parsed. */
export interface EntriesChunk {
  readonly kind: 'entries';
  readonly name: string;
  readonly uid: string;
  /** Its entries (one per user key). */
  readonly entries: readonly Entry[];
  /** Keys it deletes from older chunks: user key -> ConfigMap key and revision. */
  readonly deleted: ReadonlyMap<string, { cmKey: string; revision: number }>;
}

/** A value chunk: one part of a large value. */
export interface ValueChunk {
  readonly kind: 'value';
  readonly name: string;
  readonly uid: string;
  /** The part's bytes (decoded from the base64 stored): never handed out, readers copy. */
  readonly part: Uint8Array;
}

/** A manifest chunk: the chunk list of a head that names it (codec/chunk-format.ts MANIFEST_ANNOTATION). */
export interface ManifestChunk {
  readonly kind: 'manifest';
  readonly name: string;
  readonly uid: string;
  /** The chunks it lists, oldest first. */
  readonly refs: readonly ChunkRef[];
}

/** A chunk as held in memory. */
export type LoadedChunk = EntriesChunk | ValueChunk | ManifestChunk;

/**
 * Most chunk GETs in flight at once while loading a head. Every answer in
 * flight is a chunk's JSON (up to about 1.4 MB, and its buffers on the way)
 * held at the same time, and what a load holds at its peak stays in the
 * process's RSS after it (the allocator and V8 keep the pages). A follower
 * opening a 64 MiB bucket on a loaded 2-core machine, five runs each: with
 * 8, RSS grew by 201-232 MiB (open to synced 1.7-2.1 s); with 4, 158-221
 * (1.8-2.5 s); with 2, 152-193 (1.8-2.4 s). Two keep the connection busy
 * (each answer is large: transfer, not round trips, dominates); opening
 * takes about a tenth longer than with 8 where the API server has cores to
 * spare.
 */
const PARALLEL_FETCHES = 2;

/** See the module doc. */
export class ChunkSet implements ChunkSource {
  readonly #client: ResourceClient<ConfigMapObject>;
  readonly #bucket: string;
  readonly #chunks = new Map<string, LoadedChunk>();
  #layer: ChunkLayer = NO_CHUNKS;

  /**
   * @param client - the ConfigMaps of the bucket's namespace
   * @param bucket - the bucket name, for errors
   */
  constructor(client: ResourceClient<ConfigMapObject>, bucket: string) {
    this.#client = client;
    this.#bucket = bucket;
  }

  /** The references among `refs` this set does not hold (or holds with another uid). */
  missing(refs: readonly ChunkRef[]): ChunkRef[] {
    return refs.filter((ref) => this.#chunks.get(ref.name)?.uid !== ref.uid);
  }

  /**
   * Fetches every chunk of `refs` not held yet.
   *
   * @throws {@link ChunkMissingError} naming the first chunk that does not
   * exist or has another uid; FormatError for a chunk kubekv cannot read;
   * the request's error (UnavailableError...) when a fetch fails
   */
  async load(refs: readonly ChunkRef[], signal?: AbortSignal): Promise<void> {
    const queue = this.missing(refs);
    const worker = async () => {
      for (let ref = queue.shift(); ref; ref = queue.shift()) {
        // Sliced values: parseChunk copies them into bytes at once.
        const object = await this.#client.get(ref.name, { signal, slicedValues: true });
        if (!object || object.metadata?.uid !== ref.uid) throw new ChunkMissingError(this.#bucket, ref.name);
        this.add(object, ref);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_FETCHES, queue.length) }, worker));
  }

  /**
   * The chunk list of the head whose annotations are `annotations`: its
   * own, or its manifest chunk's, fetched when not held. Only the list: the
   * chunks are {@link ChunkSet.load}ed apart.
   *
   * @throws {@link ChunkMissingError} when the manifest chunk does not exist
   * or has another uid; FormatError for a list kubekv cannot read; the
   * request's error when the fetch fails
   */
  async refsOf(annotations: Readonly<Record<string, string>> | undefined, signal?: AbortSignal): Promise<readonly ChunkRef[]> {
    const head = parseHeadChunks(annotations);
    if (!head.manifest) return head.refs;
    if (this.#chunks.get(head.manifest.name)?.uid !== head.manifest.uid) {
      const object = await this.#client.get(head.manifest.name, { signal });
      if (!object || object.metadata?.uid !== head.manifest.uid) throw new ChunkMissingError(this.#bucket, head.manifest.name);
      this.add(object, head.manifest);
    }
    return this.manifest(head.manifest);
  }

  /**
   * The chunk list a held manifest chunk holds.
   *
   * @throws {@link ChunkMissingError} when it is not held (or with another uid)
   */
  manifest(ref: ManifestRef): readonly ChunkRef[] {
    const chunk = this.#chunks.get(ref.name);
    if (chunk?.kind !== 'manifest' || chunk.uid !== ref.uid) throw new ChunkMissingError(this.#bucket, ref.name);
    return chunk.refs;
  }

  /**
   * Holds `object`, a chunk this store created or fetched.
   *
   * @param ref - the reference it is expected under (its kind is checked against it: a manifest reference names a manifest chunk)
   * @throws {@link FormatError} when it is not a chunk of that kind
   */
  add(object: ConfigMapObject, ref?: ChunkRef | ManifestRef): LoadedChunk {
    const chunk = parseChunk(object);
    const expected = ref === undefined ? chunk.kind : 'chunks' in ref ? 'manifest' : ref.value ? 'value' : 'entries';
    if (chunk.kind !== expected) throw new FormatError(`chunk ${chunk.name} is a ${chunk.kind} chunk, the head names it as a ${expected} chunk`);
    this.#chunks.set(chunk.name, chunk);
    return chunk;
  }

  /** A held chunk, or undefined. */
  get(name: string): LoadedChunk | undefined {
    return this.#chunks.get(name);
  }

  /** Drops every held chunk but those in `keep` (the head no longer references the others). */
  retain(keep: Iterable<string>): void {
    const names = new Set(keep);
    for (const name of this.#chunks.keys()) if (!names.has(name)) this.#chunks.delete(name);
  }

  /** Forgets chunks (ones this store made for a commit that did not land). */
  forget(names: Iterable<string>): void {
    for (const name of names) this.#chunks.delete(name);
  }

  part(name: string): Uint8Array | undefined {
    const chunk = this.#chunks.get(name);
    return chunk?.kind === 'value' ? chunk.part : undefined;
  }

  /**
   * The entries of the entries chunks of `refs`, oldest first, each
   * applying its deletion markers then its entries. Memoised: the last
   * layer is returned again for the same chunks.
   *
   * @throws {@link ChunkMissingError} when one is not held
   */
  layer(_manifest: string, refs: readonly ChunkRef[]): ChunkLayer {
    const key = layerKey(refs);
    if (key === this.#layer.key) return this.#layer;
    const entries = new Map<string, Entry>();
    const chunks: EntriesChunk[] = [];
    for (const ref of refs) {
      if (ref.value) continue;
      const chunk = this.#chunks.get(ref.name);
      if (!chunk || chunk.uid !== ref.uid || chunk.kind !== 'entries') throw new ChunkMissingError(this.#bucket, ref.name);
      chunks.push(chunk);
      for (const key of chunk.deleted.keys()) entries.delete(key);
      for (const entry of chunk.entries) entries.set(entry.key, entry);
    }
    // Values kept in value chunks get their parts now: a layer is built
    // only once every chunk of the head is held.
    for (const [key, entry] of entries) {
      const resolved = withBlob(entry, this);
      if (resolved !== entry) entries.set(key, resolved);
    }
    this.#layer = key === '' ? NO_CHUNKS : { key, entries, chunks };
    return this.#layer;
  }
}

/**
 * Parses a chunk ConfigMap.
 *
 * @throws {@link FormatError} when it is not a chunk kubekv can read
 */
export function parseChunk(object: ConfigMapObject): LoadedChunk {
  const name = object.metadata?.name ?? '';
  const uid = object.metadata?.uid ?? '';
  const annotations = object.metadata?.annotations ?? {};
  const kind = chunkKind(object);
  if (kind === 'manifest') {
    const list = object.data?.[MANIFEST_KEY];
    if (list === undefined) throw new FormatError(`manifest chunk ${name} has no ${MANIFEST_KEY}`);
    return { kind, name, uid, refs: parseManifest(list) };
  }
  if (kind === 'value') {
    const part = object.binaryData?.[PART_KEY];
    if (part === undefined) throw new FormatError(`value chunk ${name} has no ${PART_KEY}`);
    // Decoded once, as it is held for good; a part that is not what the
    // reference says fails the read of its value (bucket-state.ts assemble).
    const bytes = Buffer.from(part, 'base64');
    return { kind: 'value', name, uid, part: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  }
  const index = parseIndex(annotations[INDEX_ANNOTATION]);
  const values: ChunkValue[] = [];
  const collect = (field: 'data' | 'binaryData', fieldValues: Record<string, string> | undefined) => {
    for (const cmKey in fieldValues ?? {}) {
      if (Object.hasOwn(fieldValues!, cmKey)) values.push({ cmKey, field, stored: fieldValues![cmKey]! });
    }
  };
  collect('data', object.data);
  collect('binaryData', object.binaryData);
  const keys = values.map((v) => decodeKey(v.cmKey));
  const revisions = values.map((v) => index.get(v.cmKey) ?? 0);
  // Packed (packed-entry.ts): what the cache holds of a chunk for as long
  // as the head references it.
  const entries = PackedEntry.pack(name, values, keys, revisions, (i) => {
    const { cmKey, field } = values[i]!;
    // A string of its own: the one fetched may be a slice of the whole answer (ChunkSet.load).
    const stored = JSON.parse(JSON.stringify(values[i]!.stored)) as string;
    return { key: keys[i]!, cmKey, field, stored, size: field === 'data' ? dataSize({ v: stored }, undefined) : dataSize(undefined, { v: stored }), lastIndex: revisions[i]!, chunk: name };
  });
  const deleted = new Map<string, { cmKey: string; revision: number }>();
  for (const [cmKey, revision] of parseTombstones(annotations[TOMBSTONES_ANNOTATION])) deleted.set(decodeKey(cmKey), { cmKey, revision });
  return { kind: 'entries', name, uid, entries, deleted };
}

/**
 * The state of a bucket whose head is `object`, with its chunks loaded
 * into `chunks` (what a store opens on, and what the CLI reads). A chunk that
 * is gone makes it read the head again (garbage collection may have
 * removed it after a newer head dropped it); a head that still references
 * it fails the open with ChunkMissingError.
 */
export async function loadBucketState(api: BucketApi, chunks: ChunkSet, object: ConfigMapObject, signal: AbortSignal | undefined): Promise<BucketState> {
  let current = object;
  for (let attempt = 0; ; attempt++) {
    try {
      await chunks.load(await chunks.refsOf(current.metadata?.annotations, signal), signal);
      return parseBucket(current, undefined, chunks);
    } catch (err) {
      if (!(err instanceof ChunkMissingError) || attempt >= 3) throw err;
      const fresh = await api.get({ signal });
      if (!fresh) throw new BucketNotFoundError(api.namespace, api.name);
      if (fresh.metadata?.resourceVersion === current.metadata?.resourceVersion) throw err;
      current = fresh;
    }
  }
}
