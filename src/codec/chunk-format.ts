/**
 * The chunked layout of a bucket (format 2): what the head ConfigMap says
 * about its chunks, and what a chunk ConfigMap holds. docs/format.md
 * ("Chunks") describes the same layout for people with kubectl.
 *
 * A bucket is a head (the bucket's ConfigMap, CAS'd by every commit) and
 * any number of chunks: immutable ConfigMaps, each created before the head
 * commit that references it and never changed after. The head lists the
 * chunks it references in {@link CHUNKS_ANNOTATION} (oldest first); the
 * bucket's content is a function of that head version alone:
 *
 * 1. the entries chunks, oldest first, each applying its deletion markers,
 *    then its entries (a newer chunk wins);
 * 2. the head's tombstones ({@link TOMBSTONES_ANNOTATION}) delete keys of
 *    the chunks;
 * 3. the head's own (inline) entries win over everything.
 *
 * A value too large to keep inline lives in value chunks (parts of its
 * encoded bytes); its entry holds a reference ({@link encodeValueRef}).
 *
 * A head that references more than {@link MANIFEST_INLINE_REFS} chunks
 * keeps that list in a manifest chunk instead (an immutable object like
 * the others, made by compaction) and names it in
 * {@link MANIFEST_ANNOTATION}: what every commit rewrites then stays the
 * same few hundred bytes however many chunks the bucket has.
 *
 * Guaranteed: a head with chunks carries format {@link CHUNKED_FORMAT_VERSION}
 * (list in the head) or {@link MANIFEST_FORMAT_VERSION} (list in a manifest
 * chunk), so a kubekv that reads an older format only refuses it
 * (FormatError) instead of reading part of the bucket. A head without chunks
 * stays format 1.
 *
 * Not guaranteed: which keys end up in which chunk, how many chunks there
 * are, or their names: compaction rewrites them.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { FormatError } from '../errors.js';
import type { ConfigMapObject } from '../kube/types.js';
import {
  BUCKET_LABEL,
  CHUNKED_FORMAT_VERSION,
  FORMAT_ANNOTATION,
  INDEX_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  MANIFEST_FORMAT_VERSION,
  MAX_DATA_BYTES,
  jsonObjectEntries,
  parseAnnotationJson,
  serializeIndex,
} from './format.js';
import { ENCODING_CHUNKS, VALUE_HEADER_LENGTH, VALUE_MAGIC } from './value.js';

/** Head annotation: the chunks the head references, a JSON array of {@link ChunkRef}, oldest first. */
export const CHUNKS_ANNOTATION = 'kubekv.dev/chunks';
/**
 * Head annotation (format {@link MANIFEST_FORMAT_VERSION}), instead of
 * {@link CHUNKS_ANNOTATION}: the manifest chunk that holds the list, a JSON
 * {@link ManifestRef}.
 */
export const MANIFEST_ANNOTATION = 'kubekv.dev/manifest';
/**
 * What a format-3 head keeps in {@link CHUNKS_ANNOTATION}: a JSON string,
 * not a list. A kubekv that reads format 2 at most takes the chunks a head
 * references from that annotation alone, an absent one as none; its
 * garbage collector would delete every chunk of the bucket. This value
 * makes its parse fail instead, so it deletes nothing.
 */
export const CHUNKS_IN_MANIFEST = JSON.stringify(MANIFEST_ANNOTATION);
/** The one `data` key of a manifest chunk: the chunk list, as {@link CHUNKS_ANNOTATION} would hold it. */
export const MANIFEST_KEY = 'chunks';
/**
 * Most chunks a head lists itself; compaction moves a longer list into a
 * manifest chunk. A reference costs a head about 100 bytes, a manifest
 * chunk one object per compaction: past a few references, every commit
 * would pay more for the list than a compaction pays for the object.
 */
export const MANIFEST_INLINE_REFS = 8;
/**
 * Head (and entries chunk) annotation: keys deleted since they were chunked,
 * a JSON object `{"<ConfigMap key>": <revision of the delete>}`. In a head
 * they hide the key in every chunk; in a chunk, in every older chunk.
 */
export const TOMBSTONES_ANNOTATION = 'kubekv.dev/tombstones';
/** Chunk annotation: what the chunk holds, `entries`, `value` or `manifest` (the chunk list of a format-3 head). */
export const CHUNK_KIND_ANNOTATION = 'kubekv.dev/chunk';
/**
 * Label on every chunk, with the bucket label's value. Lists of buckets
 * (`-l kubekv.dev/bucket,!kubekv.dev/chunk-of`) leave chunks out with it.
 */
export const CHUNK_LABEL = 'kubekv.dev/chunk-of';
/** The one `binaryData` key of a value chunk: a slice of a value's encoded bytes. */
export const PART_KEY = 'part';

/**
 * Most bytes of values one chunk holds: a little under the API server's
 * 1 MiB, so the object (keys, index, labels) stays under etcd's 1.5 MiB.
 */
export const CHUNK_DATA_BYTES = MAX_DATA_BYTES - 8 * 1024;
/** Most bytes of annotations (the index and markers) one entries chunk holds: under the 256 KiB limit with room to spare. */
export const CHUNK_ANNOTATION_BYTES = 192 * 1024;
/** Most bytes etcd may store for one chunk (estimate of codec/stored-size.ts), below its 1.5 MiB request limit. */
export const CHUNK_STORED_BYTES = 1_400_000;
/** Most bytes of a value's encoded form kubekv accepts (it spans value chunks of {@link CHUNK_DATA_BYTES} each). */
export const MAX_CHUNKED_VALUE_BYTES = 32 * 1024 * 1024;

/** What the head says about one chunk it references. */
export interface ChunkRef {
  /** The chunk's ConfigMap name. */
  readonly name: string;
  /** Its uid: a chunk deleted and recreated under the name is not the one referenced. */
  readonly uid: string;
  /** Entries it holds (0 for a value chunk). */
  readonly keys: number;
  /** Estimate of the bytes etcd stores for it (codec/stored-size.ts). */
  readonly bytes: number;
  /** True for a value chunk (a slice of one large value), absent for an entries chunk. */
  readonly value?: true | undefined;
}

/** What a head says about its manifest chunk ({@link MANIFEST_ANNOTATION}). */
export interface ManifestRef {
  /** The manifest chunk's name. */
  readonly name: string;
  /** Its uid (as {@link ChunkRef.uid}). */
  readonly uid: string;
  /** Chunks it lists. */
  readonly chunks: number;
  /** Sum of their {@link ChunkRef.keys}: what a listing of buckets shows without fetching it. */
  readonly keys: number;
  /** Sum of their {@link ChunkRef.bytes}. */
  readonly bytes: number;
}

/** Where a value stored in value chunks is: see {@link encodeValueRef}. */
export interface ValueRef {
  /** The field the value would have had inline (`data`: the parts are its UTF-8 text). */
  readonly field: 'data' | 'binaryData';
  /** Total bytes of the parts. */
  readonly size: number;
  /** The value chunks' names, in order; their parts concatenated are the encoded value. */
  readonly parts: readonly string[];
}

/**
 * Parses {@link CHUNKS_ANNOTATION}; an absent annotation is no chunks.
 *
 * @throws {@link FormatError} when it is not an array of chunk references
 */
export function parseManifest(raw: string | undefined): ChunkRef[] {
  if (raw === undefined) return [];
  const parsed = parseAnnotationJson(CHUNKS_ANNOTATION, raw);
  if (!Array.isArray(parsed)) throw new FormatError(`annotation ${CHUNKS_ANNOTATION} is not a JSON array`);
  const names = new Set<string>();
  return parsed.map((item: unknown, i): ChunkRef => {
    const ref = item as Partial<ChunkRef> | null;
    if (
      typeof ref !== 'object' || ref === null || typeof ref.name !== 'string' || ref.name === '' || typeof ref.uid !== 'string'
      || !isCount(ref.keys) || !isCount(ref.bytes) || (ref.value !== undefined && ref.value !== true) || names.has(ref.name)
    ) {
      throw new FormatError(`annotation ${CHUNKS_ANNOTATION} has an invalid entry at index ${i}`);
    }
    names.add(ref.name);
    return ref.value ? { name: ref.name, uid: ref.uid, keys: ref.keys, bytes: ref.bytes, value: true } : { name: ref.name, uid: ref.uid, keys: ref.keys, bytes: ref.bytes };
  });
}

/** Writes {@link CHUNKS_ANNOTATION}: the same references always give the same text. */
export function serializeManifest(refs: readonly ChunkRef[]): string {
  return JSON.stringify(refs.map((r) => (r.value ? { name: r.name, uid: r.uid, keys: r.keys, bytes: r.bytes, value: true } : { name: r.name, uid: r.uid, keys: r.keys, bytes: r.bytes })));
}

/**
 * Parses {@link MANIFEST_ANNOTATION}; an absent annotation is undefined.
 *
 * @throws {@link FormatError} when it is not a manifest reference
 */
export function parseManifestRef(raw: string | undefined): ManifestRef | undefined {
  if (raw === undefined) return undefined;
  const ref = parseAnnotationJson(MANIFEST_ANNOTATION, raw) as Partial<ManifestRef> | null;
  if (typeof ref !== 'object' || ref === null || typeof ref.name !== 'string' || ref.name === '' || typeof ref.uid !== 'string' || !isCount(ref.chunks) || !isCount(ref.keys) || !isCount(ref.bytes)) {
    throw new FormatError(`annotation ${MANIFEST_ANNOTATION} is not {name, uid, chunks, keys, bytes}`);
  }
  return { name: ref.name, uid: ref.uid, chunks: ref.chunks, keys: ref.keys, bytes: ref.bytes };
}

/** What a head says of its chunks: the list itself (format 2), or the manifest chunk that holds it (format 3). */
export type HeadChunks = { readonly refs: ChunkRef[]; readonly manifest?: undefined } | { readonly refs?: undefined; readonly manifest: ManifestRef };

/**
 * Reads where a head's chunk list is (see {@link HeadChunks}).
 *
 * @throws {@link FormatError} when an annotation is invalid, or both are there
 */
export function parseHeadChunks(annotations: Readonly<Record<string, string>> | undefined): HeadChunks {
  const manifest = parseManifestRef(annotations?.[MANIFEST_ANNOTATION]);
  if (!manifest) return { refs: parseManifest(annotations?.[CHUNKS_ANNOTATION]) };
  const chunks = annotations?.[CHUNKS_ANNOTATION];
  if (chunks !== undefined && chunks !== CHUNKS_IN_MANIFEST) throw new FormatError(`head has both ${CHUNKS_ANNOTATION} and ${MANIFEST_ANNOTATION}`);
  return { manifest };
}

/** Writes a {@link MANIFEST_ANNOTATION} for the manifest chunk `name`/`uid` listing `refs`. */
export function serializeManifestRef(name: string, uid: string, refs: readonly ChunkRef[]): string {
  const sum = (field: 'keys' | 'bytes') => refs.reduce((n, ref) => n + ref[field], 0);
  return JSON.stringify({ name, uid, chunks: refs.length, keys: sum('keys'), bytes: sum('bytes') });
}

/**
 * Parses a {@link TOMBSTONES_ANNOTATION}: ConfigMap key -> revision of its delete.
 *
 * @throws {@link FormatError} when it is not a JSON object of positive integers
 */
export function parseTombstones(raw: string | undefined): Map<string, number> {
  const tombstones = new Map<string, number>();
  for (const [cmKey, revision] of jsonObjectEntries(TOMBSTONES_ANNOTATION, raw)) {
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision <= 0) {
      throw new FormatError(`annotation ${TOMBSTONES_ANNOTATION} has revision ${JSON.stringify(revision)}, not a positive integer`, cmKey);
    }
    tombstones.set(cmKey, revision);
  }
  return tombstones;
}

/** Writes a {@link TOMBSTONES_ANNOTATION} (sorted, like the index). */
export function serializeTombstones(tombstones: ReadonlyMap<string, number>): string {
  return serializeIndex(tombstones);
}

const NAME_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * A new chunk name: the bucket name, a dot, `c` and 12 random characters
 * (60 bits). It is chosen before the create is sent, so a create sent again
 * after a lost answer names the same object, and a 409 on it means the first
 * one landed (see store/chunk-writer.ts). A bucket name too long to take the
 * suffix is cut back (the name stays a DNS subdomain of at most 253).
 */
export function newChunkName(bucket: string): string {
  const bytes = randomBytes(12);
  let id = '';
  for (const byte of bytes) id += NAME_ALPHABET[byte & 31];
  const prefix = bucket.length > 253 - 14 ? bucket.slice(0, 253 - 14).replace(/[^a-z0-9]+$/, '') : bucket;
  return `${prefix}.c${id}`;
}

/** One stored entry as it goes into a chunk. */
export interface StoredEntry {
  /** ConfigMap key. */
  readonly cmKey: string;
  /** Field it is stored in. */
  readonly field: 'data' | 'binaryData';
  /** Text (data) or base64 (binaryData) as stored. */
  readonly stored: string;
  /** Bucket revision of its last write (0: none recorded). */
  readonly lastIndex: number;
}

/** Who a chunk belongs to. */
export interface ChunkOwner {
  /** The bucket (head ConfigMap) name. */
  readonly bucket: string;
  /** The head's uid (ownerReference: the cluster's garbage collector deletes the chunk with the head). */
  readonly uid: string;
  /** The value of the bucket label (store/inputs.ts bucketLabel). */
  readonly label: string;
  /** The kind of the head, and so of its chunks (codec/bucket-kind.ts). Default 'ConfigMap'. */
  readonly kind?: 'ConfigMap' | 'Secret' | undefined;
  /** The bucket revision of the head the chunk is made for (see {@link SINCE_REVISION_ANNOTATION}). */
  readonly revision: number;
}

/**
 * Annotation of a chunk: the bucket revision of the head state its writer
 * planned on when it made the chunk. It ties garbage collection to the
 * head's own clock, the revision, rather than to anyone's timers: a writer
 * references a chunk only from a head state less than
 * {@link CHUNK_REUSE_REVISIONS} revisions later (after that it makes the
 * chunk again), and a collector deletes an unreferenced chunk only once the
 * head it read is at least that many revisions later. A commit that would
 * reference the chunk is a CAS on its planned state; by then the head has
 * moved past that state, so the commit cannot land: a commit in flight,
 * however slow, never lands a reference to a deleted chunk.
 */
export const SINCE_REVISION_ANNOTATION = 'kubekv.dev/since-revision';

/** See {@link SINCE_REVISION_ANNOTATION}. */
export const CHUNK_REUSE_REVISIONS = 16;

/** The revision a chunk was made at ({@link SINCE_REVISION_ANNOTATION}); undefined when it does not say (then no collector deletes it by age). */
export function chunkSinceRevision(chunk: ConfigMapObject): number | undefined {
  const raw = chunk.metadata?.annotations?.[SINCE_REVISION_ANNOTATION];
  if (raw === undefined || !/^(0|[1-9][0-9]*)$/.test(raw)) return undefined;
  return Number(raw);
}

/**
 * An entries chunk as it is created: immutable, labelled, owned by the head,
 * holding `entries` with their revisions and `deleted` markers (ConfigMap
 * key -> revision) that hide those keys in older chunks.
 */
export function entriesChunkObject(owner: ChunkOwner, name: string, entries: readonly StoredEntry[], deleted: ReadonlyMap<string, number>): ConfigMapObject {
  // Null prototype: a ConfigMap key named __proto__ must stay data.
  const data = Object.create(null) as Record<string, string>;
  const binaryData = Object.create(null) as Record<string, string>;
  const index = new Map<string, number>();
  for (const entry of entries) {
    (entry.field === 'data' ? data : binaryData)[entry.cmKey] = entry.stored;
    if (entry.lastIndex > 0) index.set(entry.cmKey, entry.lastIndex);
  }
  const annotations: Record<string, string> = {
    [FORMAT_ANNOTATION]: String(CHUNKED_FORMAT_VERSION),
    [CHUNK_KIND_ANNOTATION]: 'entries',
    [INDEX_ANNOTATION]: serializeIndex(index),
  };
  if (deleted.size > 0) annotations[TOMBSTONES_ANNOTATION] = serializeTombstones(deleted);
  return chunkObject(owner, name, annotations, { ...data }, { ...binaryData });
}

/** A value chunk as it is created: one slice (`part`, base64) of a large value's encoded bytes. */
export function valueChunkObject(owner: ChunkOwner, name: string, part: Uint8Array): ConfigMapObject {
  const annotations = { [FORMAT_ANNOTATION]: String(CHUNKED_FORMAT_VERSION), [CHUNK_KIND_ANNOTATION]: 'value' };
  return chunkObject(owner, name, annotations, {}, { [PART_KEY]: Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('base64') });
}

/** A manifest chunk as it is created: the chunk list `refs` of a head, oldest first. */
export function manifestChunkObject(owner: ChunkOwner, name: string, refs: readonly ChunkRef[]): ConfigMapObject {
  const annotations = { [FORMAT_ANNOTATION]: String(MANIFEST_FORMAT_VERSION), [CHUNK_KIND_ANNOTATION]: 'manifest' };
  return chunkObject(owner, name, annotations, { [MANIFEST_KEY]: serializeManifest(refs) }, {});
}

function chunkObject(owner: ChunkOwner, name: string, annotations: Record<string, string>, data: Record<string, string>, binaryData: Record<string, string>): ConfigMapObject {
  const object: ConfigMapObject = {
    metadata: {
      name,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [BUCKET_LABEL]: owner.label, [CHUNK_LABEL]: owner.label },
      annotations: { ...annotations, [SINCE_REVISION_ANNOTATION]: String(owner.revision) },
      ownerReferences: [{ apiVersion: 'v1', kind: owner.kind ?? 'ConfigMap', name: owner.bucket, uid: owner.uid }],
    },
    immutable: true,
  };
  if (Object.keys(data).length > 0) object.data = data;
  if (Object.keys(binaryData).length > 0) object.binaryData = binaryData;
  return object;
}

/**
 * The kind of a chunk ConfigMap, checked against what the manifest says.
 *
 * @throws {@link FormatError} when it is not a kubekv chunk of a known kind
 */
export function chunkKind(cm: ConfigMapObject): 'entries' | 'value' | 'manifest' {
  const annotations = cm.metadata?.annotations ?? {};
  const kind = annotations[CHUNK_KIND_ANNOTATION];
  const format = annotations[FORMAT_ANNOTATION];
  // Entries and value chunks are format 2, manifest chunks (new in 3) format 3.
  const expected = kind === 'manifest' ? MANIFEST_FORMAT_VERSION : CHUNKED_FORMAT_VERSION;
  if (format !== String(expected)) throw new FormatError(`chunk ${cm.metadata?.name ?? ''} has format ${JSON.stringify(format)}; this kubekv reads ${String(kind)} chunks of format ${expected}`);
  if (kind !== 'entries' && kind !== 'value' && kind !== 'manifest') throw new FormatError(`chunk ${cm.metadata?.name ?? ''} is of unknown kind ${JSON.stringify(kind)}`);
  return kind;
}

/** The `binaryData` form of a reference to a value kept in value chunks: `\0KVc` and the {@link ValueRef} as JSON, base64. */
export function encodeValueRef(ref: ValueRef): { field: 'binaryData'; stored: string; size: number } {
  const json = Buffer.from(JSON.stringify({ field: ref.field, size: ref.size, parts: ref.parts }), 'utf8');
  const bytes = Buffer.concat([Buffer.from([...VALUE_MAGIC, ENCODING_CHUNKS]), json]);
  return { field: 'binaryData', stored: bytes.toString('base64'), size: bytes.length };
}

/**
 * The {@link ValueRef} of a stored value, or undefined when the value is not
 * a reference (the common case: a prefix check, no decoding).
 *
 * @throws {@link FormatError} naming `key` when it is a reference but not a valid one
 */
export function decodeValueRef(field: 'data' | 'binaryData', stored: string, key: string): ValueRef | undefined {
  // base64 of "\0KVc" is "AEtWY": checked before decoding anything.
  if (field !== 'binaryData' || !stored.startsWith(REF_PREFIX_B64)) return undefined;
  return decodeValueRefBytes(field, Buffer.from(stored, 'base64'), key);
}

/**
 * {@link decodeValueRef} of a value held as its stored bytes (decoded
 * base64 for `binaryData`).
 *
 * @throws {@link FormatError} naming `key` when it is a reference but not a valid one
 */
export function decodeValueRefBytes(field: 'data' | 'binaryData', bytes: Uint8Array, key: string): ValueRef | undefined {
  if (field !== 'binaryData' || bytes.length < VALUE_HEADER_LENGTH || bytes[VALUE_MAGIC.length] !== ENCODING_CHUNKS || !VALUE_MAGIC.every((b, i) => bytes[i] === b)) return undefined;
  try {
    const ref = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + VALUE_HEADER_LENGTH, bytes.byteLength - VALUE_HEADER_LENGTH).toString('utf8')) as Partial<ValueRef>;
    if ((ref.field === 'data' || ref.field === 'binaryData') && isCount(ref.size) && Array.isArray(ref.parts) && ref.parts.length > 0 && ref.parts.every((p) => typeof p === 'string')) {
      return { field: ref.field, size: ref.size, parts: ref.parts };
    }
  } catch (err) {
    throw new FormatError('value reference is not valid JSON', key, { cause: err });
  }
  throw new FormatError('value reference is not {field, size, parts}', key);
}

const REF_PREFIX_B64 = Buffer.from([...VALUE_MAGIC, ENCODING_CHUNKS]).toString('base64').slice(0, 5);

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
