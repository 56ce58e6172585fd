/**
 * An immutable, decoded view of a bucket's ConfigMap: which user keys it
 * holds, where each value is stored, each key's revision, and the bucket
 * metadata kubekv keeps in annotations (see docs/format.md).
 *
 * Parsing never decodes values (gzip may be costly); a value is decoded when
 * it is read, and a corrupt one fails that read with FormatError naming its
 * key while every other key stays readable.
 *
 * A chunked bucket (format 2, codec/chunk-format.ts) is parsed from its head
 * and the chunks the head references, which the caller loaded (a
 * {@link ChunkSource}; store/chunk-set.ts). Its `entries` are the layered
 * view (layered-entries.ts); the head's own entries are `inline`. The
 * entries of chunks are {@link PackedEntry}s: their stored values held as
 * bytes (base64 decoded once, when the chunk is loaded; gzip still only
 * when read).
 */
import type { ConfigMapObject } from '../kube/types.js';
import {
  EPOCH_ANNOTATION,
  LEADER_ANNOTATION,
  FORMAT_ANNOTATION,
  INDEX_ANNOTATION,
  REVISION_ANNOTATION,
  annotationsSize,
  LEGACY_RECENT_WRITES_ANNOTATION,
  WRITERS_ANNOTATION,
  WRITERS_PRUNED_ANNOTATION,
  CHUNKED_FORMAT_VERSION,
  CHUNKS_ANNOTATION,
  FORMAT_VERSION,
  MANIFEST_ANNOTATION,
  MANIFEST_FORMAT_VERSION,
  TOMBSTONES_ANNOTATION,
  EXPIRED_ANNOTATION,
  EXPIRY_ANNOTATION,
  parseExpired,
  parseExpiry,
  type ExpiryRecord,
  dataSize,
  decodeStoredBytes,
  decodeValueRef,
  decodeValueRefBytes,
  ENCODING_CHUNKS,
  VALUE_MAGIC,
  parseHeadChunks,
  parseTombstones,
  type ChunkRef,
  type ManifestRef,
  type ValueRef,
  decodeKey,
  entryStoredSize,
  metadataStoredSize,
  encodeKey,
  decodeValue,
  parseFormatVersion,
  parseIndex,
  parseWriters,
  type WriterEntry,
} from '../codec/index.js';
import { FormatError } from '../errors.js';
import { kvPair } from './kv-pair.js';
import { LayeredEntries } from './layered-entries.js';
import { PackedEntry, sameStored } from './packed-entry.js';
import type { KVPair } from './types.js';

/** One stored key. */
export interface Entry {
  /** User key. */
  readonly key: string;
  /** ConfigMap key it is stored under. */
  readonly cmKey: string;
  readonly field: 'data' | 'binaryData';
  /** Text (data) or base64 (binaryData) as stored. */
  readonly stored: string;
  /** Bytes it counts toward the 1 MiB limit. */
  readonly size: number;
  /** Bucket revision of its last kubekv write (0: never written by kubekv). */
  readonly lastIndex: number;
  /** The chunk it is stored in; undefined for an entry of the head (inline). */
  readonly chunk?: string | undefined;
  /**
   * For a value kept in value chunks (`stored` is then a reference,
   * codec/chunk-format.ts encodeValueRef): where it is, and each part
   * (its bytes, never handed out) as loaded; a part is undefined only for
   * an entry no read can reach (shadowed by a newer one, whose delete
   * released the parts).
   */
  readonly blob?: { readonly ref: ValueRef; readonly parts: readonly (Uint8Array | undefined)[] } | undefined;
}

/** A key deleted from the head's chunks (the head's {@link TOMBSTONES_ANNOTATION}). */
export interface Tombstone {
  /** ConfigMap key of the deleted key. */
  readonly cmKey: string;
  /** Revision of the delete. */
  readonly revision: number;
}

/** The entries of a set of chunks, merged in manifest order (store/chunk-set.ts builds it). */
export interface ChunkLayer {
  /** Its entries chunks ({@link layerKey}); '' for no chunks. */
  readonly key: string;
  /** Visible entries by user key. */
  readonly entries: ReadonlyMap<string, Entry>;
  /** The entries chunks it was built from, oldest first (what tells two layers' differences apart: watch-hub.ts diffStates). */
  readonly chunks: readonly LayerChunk[];
}

/** What a layer keeps of each chunk it was built from: which keys the chunk holds or deletes. */
export interface LayerChunk {
  readonly name: string;
  readonly uid: string;
  readonly entries: readonly { readonly key: string }[];
  /** Keys it deletes from older chunks, by user key. */
  readonly deleted: ReadonlyMap<string, unknown>;
}

/** The chunks of a bucket that a parse may need, as loaded by the store (store/chunk-set.ts). */
export interface ChunkSource {
  /**
   * The layer of the entries chunks in `refs` (memoised by `manifest`).
   *
   * @throws {@link FormatError} (a ChunkMissingError) when one is not loaded
   */
  layer(manifest: string, refs: readonly ChunkRef[]): ChunkLayer;
  /** A value chunk's part (its bytes, not to be handed out), or undefined when not loaded. */
  part(name: string): Uint8Array | undefined;
  /**
   * The chunk list of a manifest chunk.
   *
   * @throws {@link FormatError} (a ChunkMissingError) when it is not loaded
   */
  manifest(ref: ManifestRef): readonly ChunkRef[];
}

/** The names of every chunk `state`'s head references: those its list names, and its manifest chunk. */
export function referencedChunks(state: BucketState): string[] {
  const listed = state.chunks.map((ref) => ref.name);
  return state.manifestRef ? [state.manifestRef.name, ...listed] : listed;
}

/** The format version a head with `chunks` takes: 3 when a manifest chunk lists them, 2 when the head does, 1 without chunks. */
export function headFormatVersion(chunks: readonly ChunkRef[], manifestRef: ManifestRef | undefined): number {
  return manifestRef ? MANIFEST_FORMAT_VERSION : chunks.length > 0 ? CHUNKED_FORMAT_VERSION : FORMAT_VERSION;
}

/** The layer of a bucket without chunks. */
export const NO_CHUNKS: ChunkLayer = Object.freeze({ key: '', entries: new Map<string, Entry>(), chunks: [] });

/** The key a layer is known by: its entries chunks, in order (value chunks do not change it). */
export function layerKey(refs: readonly ChunkRef[]): string {
  let key = '';
  for (const ref of refs) if (!ref.value) key += `${ref.name}/${ref.uid},`;
  return key;
}

/** The decoded bucket. */
export interface BucketState {
  readonly resourceVersion: string;
  readonly uid: string;
  /** kubekv's bucket revision counter (0 for a bucket kubekv never wrote). */
  readonly revision: number;
  /** Format version; undefined for a ConfigMap kubekv never wrote. */
  readonly formatVersion: number | undefined;
  /** Leader epoch (0 when none was ever set). */
  readonly epoch: number;
  /** Identity that raised the epoch ("" when none). */
  readonly leader: string;
  /** Every key of the bucket (chunks, tombstones and inline entries layered), by user key. */
  readonly entries: ReadonlyMap<string, Entry>;
  /** The head's own entries, by user key (what a commit rewrites). */
  readonly inline: ReadonlyMap<string, Entry>;
  /** The chunks the head references, oldest first (empty for format 1). */
  readonly chunks: readonly ChunkRef[];
  /** What the head says of its chunk list, as stored: its manifest or manifest-chunk annotation ('' when it has none). */
  readonly manifest: string;
  /** The manifest chunk holding the chunk list (format 3), or undefined when the head lists its chunks itself. */
  readonly manifestRef: ManifestRef | undefined;
  /** The chunks' entries, merged (shared by every state of the same manifest). */
  readonly layer: ChunkLayer;
  /** The head's tombstones, by user key. */
  readonly tombstones: ReadonlyMap<string, Tombstone>;
  /**
   * Keys that expire, by user key: the head's expiry records that apply
   * (the key exists at the record's revision; codec/expiry.ts).
   */
  readonly expiries: ReadonlyMap<string, ExpiryRecord>;
  /** Keys this state's commit deleted because they expired (or their session ended), by user key. */
  readonly expired: ReadonlySet<string>;
  /**
   * Bytes etcd stores for the head's inline part (entries, the index and the
   * tombstones): what compaction moves into chunks (store/compaction.ts).
   */
  readonly inlineStoredBytes: number;
  /** Bytes of the head's data + binaryData values. */
  readonly dataBytes: number;
  /** Bytes of annotations other than the index (which is rewritten on every commit). */
  readonly otherAnnotationBytes: number;
  /** Upper estimate of the bytes etcd stores for the ConfigMap (codec/stored-size.ts). */
  readonly storedBytes: number;
  /** The part of {@link BucketState.storedBytes} that is the index annotation (rewritten on every commit). */
  readonly indexStoredBytes: number;
  /**
   * Other ConfigMap keys that decode to the same user key as an entry (made
   * by hand: e.g. `a_5Fb` beside kubekv's `a_b`), by user key; the entry
   * shadows them. A kubekv write of the key removes them, so a deleted key
   * cannot reappear from under it.
   */
  readonly aliases: ReadonlyMap<string, readonly string[]>;
  /** Annotations as stored. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Each writer's last landed commit (see codec/writers.ts). */
  readonly writers: ReadonlyMap<string, WriterEntry>;
  /** Highest revision pruned from `writers` (0: none). */
  readonly writersPruned: number;
  /** False when the bucket has no writers annotation at all. */
  readonly writersRecorded: boolean;
  /** True when the ConfigMap is immutable (no write can succeed). */
  readonly immutable: boolean;
}

/**
 * Decodes a bucket ConfigMap; throws FormatError for a newer format or a
 * corrupt index.
 *
 * With `previous` (the state this one follows), every value stored exactly
 * as before keeps its Entry object: its key is not decoded again, its size
 * not measured again, and a value of the head already decoded for a read
 * stays decoded (see toPair). A commit usually changes one key of many, and every state is
 * parsed twice (the write's answer and the watch), so this keeps the cost of
 * a commit in the cache proportional to what it changed.
 */
export function parseBucket(cm: ConfigMapObject, previous?: BucketState, chunks?: ChunkSource): BucketState {
  const annotations = cm.metadata?.annotations ?? {};
  const formatVersion = parseFormatVersion(annotations);
  const index = parseIndex(annotations[INDEX_ANNOTATION]);
  // One string for both places a list can be, so a head that moves its
  // list into a manifest chunk (or back) never matches the previous one.
  const manifest = annotations[MANIFEST_ANNOTATION] !== undefined ? `manifest:${annotations[MANIFEST_ANNOTATION]}` : (annotations[CHUNKS_ANNOTATION] ?? '');
  const head = previous && previous.manifest === manifest ? { refs: previous.chunks, manifest: previous.manifestRef } : parseHeadChunks(annotations);
  const manifestRef = head.manifest;
  let refs = head.refs;
  if (!refs) {
    if (!chunks) throw new FormatError('bucket keeps its chunk list in a manifest chunk, which was not loaded');
    refs = chunks.manifest(head.manifest!);
  }
  const rawTombstones = parseTombstones(annotations[TOMBSTONES_ANNOTATION]);
  const wanted = manifestRef ? MANIFEST_FORMAT_VERSION : CHUNKED_FORMAT_VERSION;
  if ((manifestRef || refs.length > 0 || rawTombstones.size > 0) && formatVersion !== wanted) {
    throw new FormatError(`bucket references chunks ${manifestRef ? 'through a manifest chunk ' : ''}but has format ${String(formatVersion)}, not ${wanted}`);
  }
  let layer = NO_CHUNKS;
  const key = layerKey(refs);
  if (key !== '') {
    if (previous && previous.layer.key === key) layer = previous.layer;
    else if (chunks) layer = chunks.layer(manifest, refs);
    else throw new FormatError('bucket references chunks, which were not loaded');
  }
  const reusable = previous ? entriesByConfigMapKey(previous) : undefined;
  const entries = new Map<string, Entry>();
  const aliases = new Map<string, string[]>();
  let dataBytes = 0;
  let storedBytes = metadataStoredSize(cm);
  const add = (field: 'data' | 'binaryData', values: Record<string, string> | undefined) => {
    if (!values) return;
    for (const cmKey in values) {
      if (!Object.hasOwn(values, cmKey)) continue;
      const stored = values[cmKey]!;
      const lastIndex = index.get(cmKey) ?? 0;
      const before = reusable?.get(cmKey);
      const entry: Entry =
        before && before.field === field && before.lastIndex === lastIndex && before.stored === stored
          ? before
          : withBlob({ key: decodeKey(cmKey), cmKey, field, stored, size: valueSize(field, stored), lastIndex }, chunks);
      dataBytes += entry.size;
      storedBytes += entryStoredSize(cmKey, entry.size);
      const key = entry.key;
      const existing = entries.get(key);
      // Two ConfigMap keys can only map to one user key when one of them is a
      // foreign, non-canonical name: the canonical one (what kubekv writes for
      // the key) wins, so a kubectl-made key never shadows a kubekv key.
      // Between two foreign names the first seen stays. The losers are kept
      // as aliases, which a write of the key removes.
      if (existing) {
        const keep = existing.cmKey === canonicalName(key) || cmKey !== canonicalName(key);
        const others = aliases.get(key) ?? [];
        others.push(keep ? cmKey : existing.cmKey);
        aliases.set(key, others);
        if (keep) continue;
      }
      entries.set(key, entry);
    }
  };
  add('data', cm.data);
  add('binaryData', cm.binaryData);
  const withoutIndex = { ...annotations };
  delete withoutIndex[INDEX_ANNOTATION];
  const tombstones = new Map<string, Tombstone>();
  for (const [cmKey, revision] of rawTombstones) tombstones.set(decodeKey(cmKey), { cmKey, revision });
  const layered = layer === NO_CHUNKS && tombstones.size === 0 ? entries : new LayeredEntries(layer.entries, entries, new Set(tombstones.keys()));
  const revision = counter(annotations, REVISION_ANNOTATION);
  const expiries = new Map<string, ExpiryRecord>();
  const records = expiryRecordsOf(annotations[EXPIRY_ANNOTATION], previous);
  for (const { key, cmKey, record } of records) {
    const entry = layered.get(key);
    if (entry && entry.cmKey === cmKey && entry.lastIndex === record.revision) expiries.set(key, record);
  }
  const expired = new Set([...parseExpired(annotations[EXPIRED_ANNOTATION], revision)].map(decodeKey));
  const indexStoredBytes = annotations[INDEX_ANNOTATION] === undefined ? 0 : INDEX_ANNOTATION.length + Buffer.byteLength(annotations[INDEX_ANNOTATION], 'utf8') + 8;
  const tombstoneBytes = annotations[TOMBSTONES_ANNOTATION] === undefined ? 0 : TOMBSTONES_ANNOTATION.length + Buffer.byteLength(annotations[TOMBSTONES_ANNOTATION], 'utf8') + 8;
  let inlineStoredBytes = indexStoredBytes + tombstoneBytes;
  for (const entry of entries.values()) inlineStoredBytes += entryStoredSize(entry.cmKey, entry.size);
  const state: BucketState = {
    resourceVersion: cm.metadata?.resourceVersion ?? '',
    uid: cm.metadata?.uid ?? '',
    revision,
    formatVersion,
    epoch: counter(annotations, EPOCH_ANNOTATION),
    leader: annotations[LEADER_ANNOTATION] ?? '',
    entries: layered,
    inline: entries,
    chunks: refs,
    manifest,
    manifestRef,
    layer,
    tombstones,
    expiries,
    expired,
    inlineStoredBytes,
    dataBytes,
    otherAnnotationBytes: annotationsSize(withoutIndex),
    storedBytes,
    indexStoredBytes,
    aliases,
    annotations,
    writers: parseWriters(annotations[WRITERS_ANNOTATION]),
    writersPruned: counter(annotations, WRITERS_PRUNED_ANNOTATION),
    writersRecorded: annotations[WRITERS_ANNOTATION] !== undefined,
    immutable: cm.immutable === true,
  };
  parsedExpiry.set(state, { raw: annotations[EXPIRY_ANNOTATION], records });
  return state;
}

interface ParsedExpiry {
  readonly key: string;
  readonly cmKey: string;
  readonly record: ExpiryRecord;
}

/** The expiry annotation as parsed for a state, so the next state with the same annotation (most commits) does not parse and decode it again. */
const parsedExpiry = new WeakMap<BucketState, { raw: string | undefined; records: readonly ParsedExpiry[] }>();

function expiryRecordsOf(raw: string | undefined, previous: BucketState | undefined): readonly ParsedExpiry[] {
  const before = previous && parsedExpiry.get(previous);
  if (before && before.raw === raw) return before.records;
  return [...parseExpiry(raw)].map(([cmKey, record]) => ({ key: decodeKey(cmKey), cmKey, record }));
}

/** Bytes one stored value counts toward the 1 MiB limit (as dataSize counts it). */
function valueSize(field: 'data' | 'binaryData', stored: string): number {
  return field === 'data' ? dataSize({ v: stored }, undefined) : dataSize(undefined, { v: stored });
}

const byConfigMapKey = new WeakMap<BucketState, Map<string, Entry>>();

/** A state's entries by ConfigMap key, built once per state. */
function entriesByConfigMapKey(state: BucketState): Map<string, Entry> {
  let map = byConfigMapKey.get(state);
  if (!map) {
    map = new Map();
    for (const entry of state.inline.values()) map.set(entry.cmKey, entry);
    byConfigMapKey.set(state, map);
  }
  return map;
}

function canonicalName(key: string): string | undefined {
  try {
    return encodeKey(key);
  } catch {
    return undefined;
  }
}

/** True when `a` is a newer resourceVersion than `b` (numeric compare; etcd revisions). */
export function isNewer(a: string, b: string): boolean {
  if (b === '') return true;
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) > BigInt(b);
  // Opaque versions (a non-etcd backend): only "different" is knowable.
  return a !== b;
}

const decoded = new WeakMap<Entry, Uint8Array>();

/**
 * The KVPair of an entry; decodes the value, FormatError if corrupt. Each
 * pair gets its own copy of the bytes, so a caller mutating one cannot
 * corrupt the cache.
 *
 * The head's few entries keep their value decoded once read (memoised);
 * an entry of a chunk (a {@link PackedEntry}) or in value chunks is decoded
 * from its bytes on every read instead: its bytes are already the one copy
 * the cache holds, and keeping a decoded copy of every value a list read
 * would double what a store holds of a large bucket.
 */
export function toPair(entry: Entry, expiry?: ExpiryRecord): KVPair {
  if (entry.blob) return kvPair(entry.key, assemble(entry, entry.blob), entry.lastIndex, expiry);
  if (entry instanceof PackedEntry) {
    const bytes = entry.bytes();
    const value = decodeStoredBytes(entry.field, bytes, entry.key);
    // Text and foreign binaryData decode to a view of the chunk's buffer.
    return kvPair(entry.key, value.buffer === bytes.buffer ? new Uint8Array(value) : value, entry.lastIndex, expiry);
  }
  let value = decoded.get(entry);
  if (!value) {
    value = decodeValue(entry.field, entry.stored, entry.key);
    decoded.set(entry, value);
  }
  return kvPair(entry.key, value.slice(), entry.lastIndex, expiry);
}

/** The KVPair of an entry of `state`, with its expiry when it has one. */
export function pairIn(state: BucketState, entry: Entry): KVPair {
  return toPair(entry, state.expiries.get(entry.key));
}

/**
 * `entry` with its value chunks' parts attached when its stored value is a
 * reference to them (codec/chunk-format.ts); the entry itself otherwise.
 * Without `chunks` (or with a part not loaded) the parts are undefined and
 * a read of the entry fails with FormatError: never a wrong value.
 */
export function withBlob(entry: Entry, chunks: Pick<ChunkSource, 'part'> | undefined): Entry {
  let ref: ValueRef | undefined;
  if (entry instanceof PackedEntry) {
    if (entry.field !== 'binaryData' || !entry.startsWith(VALUE_REF_HEADER)) return entry;
    ref = decodeValueRefBytes(entry.field, entry.bytes(), entry.key);
  } else {
    ref = decodeValueRef(entry.field, entry.stored, entry.key);
  }
  if (!ref) return entry;
  // Spelled out rather than spread: a PackedEntry's `stored` is a getter.
  const { key, cmKey, field, stored, size, lastIndex, chunk } = entry;
  return { key, cmKey, field, stored, size, lastIndex, chunk, blob: { ref, parts: ref.parts.map((name) => chunks?.part(name)) } };
}

/** The header of a reference to value chunks (codec/chunk-format.ts encodeValueRef). */
const VALUE_REF_HEADER: readonly number[] = [...VALUE_MAGIC, ENCODING_CHUNKS];

/** The bytes of a value kept in value chunks: its parts concatenated, then decoded as its field says. */
function assemble(entry: Entry, blob: NonNullable<Entry['blob']>): Uint8Array {
  let length = 0;
  blob.parts.forEach((part, i) => {
    if (part === undefined) throw new FormatError(`value chunk ${blob.ref.parts[i] ?? ''} is not loaded`, entry.key);
    length += part.length;
  });
  // A copy of its own: the parts stay the cache's.
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const part of blob.parts) {
    bytes.set(part!, offset);
    offset += part!.length;
  }
  if (bytes.length !== blob.ref.size) throw new FormatError(`value chunks hold ${bytes.length} bytes, the reference says ${blob.ref.size}`, entry.key);
  return decodeStoredBytes(blob.ref.field, bytes, entry.key);
}

/** True when two entries hold the same stored value and revision. */
export function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (!a || !b) return a === b;
  return a.lastIndex === b.lastIndex && a.cmKey === b.cmKey && sameStored(a, b);
}

function counter(annotations: Record<string, string>, name: string): number {
  const raw = annotations[name];
  if (raw === undefined) return 0;
  if (!/^\d{1,15}$/.test(raw)) throw new FormatError(`annotation ${name} is not a decimal counter: ${JSON.stringify(raw.slice(0, 40))}`);
  return Number(raw);
}

/** Annotation names kubekv manages (for tests and docs). */
export const managedAnnotations = [FORMAT_ANNOTATION, REVISION_ANNOTATION, INDEX_ANNOTATION, EPOCH_ANNOTATION, WRITERS_ANNOTATION, WRITERS_PRUNED_ANNOTATION, LEGACY_RECENT_WRITES_ANNOTATION, LEADER_ANNOTATION, CHUNKS_ANNOTATION, MANIFEST_ANNOTATION, TOMBSTONES_ANNOTATION, EXPIRY_ANNOTATION, EXPIRED_ANNOTATION];

/** The state of a bucket seen deleted: no keys, the metadata of the last state kept. */
export function deletedState(state: BucketState): BucketState {
  return { ...state, entries: new Map(), inline: new Map(), chunks: [], manifest: '', manifestRef: undefined, layer: NO_CHUNKS, tombstones: new Map(), expiries: new Map(), expired: new Set(), inlineStoredBytes: 0, dataBytes: 0, resourceVersion: '' };
}
