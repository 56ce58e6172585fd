/**
 * Compaction keeps a bucket's head small: it moves the head's inline
 * entries and tombstones into a new chunk and merges chunks, so what every
 * commit rewrites (the head) stays near {@link DEFAULT_COMPACT_BYTES}
 * however large the bucket grows. Pure planning here; the store creates the
 * chunks and sends the head patch (configmap-store.ts).
 *
 * The merge is size-tiered and keeps manifest order (newer chunks win, so
 * only a run of the NEWEST entries chunks can be merged with the head's
 * entries): going from the newest chunk back, a chunk joins the run while
 * it is at most twice the run's size so far and not full. Chunk sizes then
 * roughly double from newest to oldest, so a byte is rewritten about
 * log2(chunk size / threshold) times before it rests in a full chunk
 * (about 6 with the defaults), and at most that many chunks are not full.
 * Deletion markers are dropped once a run reaches the oldest chunk: there
 * is nothing older left for them to hide.
 *
 * Guaranteed: the bucket's content (every key, value and lastIndex) is the
 * same before and after a compaction; only where entries are stored
 * changes. The head patch is a CAS on the state it was planned on: if
 * anything committed meanwhile, it fails and its chunks are orphans for
 * garbage collection (chunk-gc.ts).
 *
 * Space in older chunks that newer layers shadow (overwritten or deleted
 * keys) is reclaimed by rewriting, in place, a chunk that is mostly garbage
 * (at most one per compaction, see {@link GARBAGE_SHARE}).
 */
import {
  CHUNKED_FORMAT_VERSION,
  CHUNKS_ANNOTATION,
  CHUNKS_IN_MANIFEST,
  CHUNK_ANNOTATION_BYTES,
  CHUNK_DATA_BYTES,
  CHUNK_STORED_BYTES,
  FORMAT_ANNOTATION,
  INDEX_ANNOTATION,
  MANIFEST_ANNOTATION,
  MANIFEST_FORMAT_VERSION,
  REVISION_ANNOTATION,
  TOMBSTONES_ANNOTATION,
  entryStoredSize,
  serializeIndex,
  serializeManifest,
  serializeManifestRef,
  type ChunkRef,
  type StoredEntry,
} from '../codec/index.js';
import type { BucketPatch } from './bucket-api.js';
import type { BucketState, Entry } from './bucket-state.js';
import type { EntriesChunk } from './chunk-set.js';

/** Default of the head's inline part (bytes etcd stores for its entries, index and tombstones) past which a writer compacts. */
export const DEFAULT_COMPACT_BYTES = 16 * 1024;

/** A chunk at least this large (estimated stored bytes) is full: it is not merged by size any more. */
export const FULL_CHUNK_BYTES = Math.floor(CHUNK_STORED_BYTES / 2);

/** One chunk a compaction creates: entries and deletion markers (ConfigMap key -> revision). */
export interface CompactionOutput {
  readonly entries: readonly StoredEntry[];
  readonly deleted: ReadonlyMap<string, number>;
}

/** A planned compaction. */
export interface CompactionPlan {
  /** The chunks to create, in the order they take in the manifest (disjoint key ranges). */
  readonly outputs: readonly CompactionOutput[];
  /** The entries chunks merged into the outputs (dropped from the manifest). */
  readonly merged: readonly ChunkRef[];
  /** ConfigMap keys of the inline entries moved out of the head. */
  readonly moved: readonly { cmKey: string; field: 'data' | 'binaryData' }[];
  /**
   * An older chunk that is mostly shadowed (see {@link GARBAGE_SHARE}),
   * rewritten with only what is still visible through it; the new chunk
   * takes its place in the manifest (none: the whole chunk was garbage).
   */
  readonly rewrite?: { readonly replaces: ChunkRef; readonly output: CompactionOutput | undefined } | undefined;
}

/**
 * A chunk outside the merge run is rewritten once less than this share of
 * it is still visible (the rest overwritten or deleted by newer layers), so
 * each rewrite frees at least as many bytes as it writes: heavy overwriting
 * costs etcd about twice the written bytes, instead of growing the bucket
 * for ever.
 */
export const GARBAGE_SHARE = 0.5;

/**
 * Plans a compaction of `state`, or undefined when its head holds nothing
 * to move. `chunk(name)` gives a held entries chunk of the state's manifest.
 */
export function planCompaction(state: BucketState, chunk: (name: string) => EntriesChunk | undefined): CompactionPlan | undefined {
  const movable = [...state.inline.values()].filter((e) => isMovable(state, e));
  if (movable.length === 0 && state.tombstones.size === 0) return undefined;
  let runBytes = state.inlineStoredBytes;
  const entriesChunks = state.chunks.filter((ref) => !ref.value);
  let start = entriesChunks.length;
  while (start > 0) {
    const candidate = entriesChunks[start - 1]!;
    if (candidate.bytes >= FULL_CHUNK_BYTES || candidate.bytes > 2 * runBytes) break;
    runBytes += candidate.bytes;
    start--;
  }
  const merged = entriesChunks.slice(start);
  // The run's content, oldest first: later layers win.
  const content = new Map<string, StoredEntry | { cmKey: string; revision: number; deleted: true }>();
  for (const ref of merged) {
    const loaded = chunk(ref.name);
    if (!loaded) throw new Error(`compaction: chunk ${ref.name} is not held`);
    for (const [key, marker] of loaded.deleted) content.set(key, { ...marker, deleted: true });
    for (const entry of loaded.entries) content.set(entry.key, stored(entry));
  }
  for (const [key, tomb] of state.tombstones) content.set(key, { ...tomb, deleted: true });
  for (const entry of movable) content.set(entry.key, stored(entry));
  // Nothing older remains for a marker to hide.
  const keepMarkers = start > 0;
  const outputs: CompactionOutput[] = [];
  let entries: StoredEntry[] = [];
  let deleted = new Map<string, number>();
  let data = 0;
  let annotations = 0;
  let etcd = 0;
  for (const key of [...content.keys()].sort()) {
    const item = content.get(key)!;
    if ('deleted' in item && !keepMarkers) continue;
    const size = 'deleted' in item ? 0 : valueBytes(item);
    const meta = item.cmKey.length + 24;
    const bytes = 'deleted' in item ? meta : entryStoredSize(item.cmKey, size) + meta;
    if ((entries.length > 0 || deleted.size > 0) && (data + size > CHUNK_DATA_BYTES || annotations + meta > CHUNK_ANNOTATION_BYTES || etcd + bytes > CHUNK_STORED_BYTES - 4096)) {
      outputs.push({ entries, deleted });
      entries = [];
      deleted = new Map();
      data = annotations = etcd = 0;
    }
    if ('deleted' in item) deleted.set(item.cmKey, item.revision);
    else entries.push(item);
    data += size;
    annotations += meta;
    etcd += bytes;
  }
  if (entries.length > 0 || deleted.size > 0) outputs.push({ entries, deleted });
  const rewrite = planRewrite(state, entriesChunks.slice(0, start), chunk);
  return { outputs, merged, moved: movable.map((e) => ({ cmKey: e.cmKey, field: e.field })), rewrite };
}

/**
 * Older chunks a compaction examines for a rewrite, at most this many:
 * measuring a chunk's visible share walks all its entries, and doing that
 * for every chunk of a 64 MiB bucket on every compaction (under the commit
 * lock) made 64 concurrent writers CPU-bound.
 */
export const REWRITE_CANDIDATES = 8;

/**
 * The positions in `older` a compaction at bucket `revision` examines: all
 * of them when there are at most {@link REWRITE_CANDIDATES}, else that many
 * in a row from a start the revision's hash picks. A hash, not the revision
 * itself: compactions often come a fixed number of commits apart, and a
 * start stepping by a fixed stride could visit only some of the chunks. A
 * chunk's visible share only falls as newer layers shadow its keys, so one
 * that became mostly garbage is examined after about `older.length /
 * REWRITE_CANDIDATES` compactions on average. A pure function of the state,
 * like the rest of the plan.
 */
export function rewriteCandidates(older: readonly ChunkRef[], revision: number): number[] {
  const count = Math.min(older.length, REWRITE_CANDIDATES);
  const start = older.length <= REWRITE_CANDIDATES ? 0 : mix32(revision) % older.length;
  return Array.from({ length: count }, (_, i) => (start + i) % older.length);
}

/** A 32-bit integer hash whose every output bit depends on every input bit (MurmurHash3's finaliser), so `mix32(x) % n` spreads for any stride of x. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Of the older chunks (before the merge run) it examines
 * ({@link rewriteCandidates}), the one with the smallest visible share,
 * if that share is below {@link GARBAGE_SHARE}, with what it must keep: its
 * entries that no newer layer shadows, and its deletion markers that may
 * still hide a key in an older chunk (none when it is the oldest). The
 * rewrite takes the chunk's place in the manifest, so the layer order, and
 * with it every read, stays as it was.
 */
function planRewrite(state: BucketState, older: readonly ChunkRef[], chunk: (name: string) => EntriesChunk | undefined): CompactionPlan['rewrite'] {
  // Shadowed for good: by what this compaction moves into chunks newer than
  // the rewritten one (the head's tombstones, its movable entries). A key
  // made by hand stays in the head, where kubectl may remove it again: what
  // it hides must still be there (or still hidden) then.
  const shadowed = (key: string) => {
    if (state.tombstones.has(key)) return true;
    const inline = state.inline.get(key);
    return inline !== undefined && isMovable(state, inline);
  };
  let best: { replaces: ChunkRef; live: Entry[]; deleted: Map<string, number>; share: number } | undefined;
  rewriteCandidates(older, state.revision).forEach((position) => {
    const ref = older[position]!;
    const loaded = chunk(ref.name);
    if (!loaded || ref.bytes <= 0) return;
    // Entries, not their stored form yet: an entry of a chunk makes its
    // string anew (packed-entry.ts), and only the chosen chunk is written.
    const live: Entry[] = [];
    let liveBytes = 0;
    for (const entry of loaded.entries) {
      if (shadowed(entry.key) || state.layer.entries.get(entry.key)?.chunk !== ref.name) continue;
      live.push(entry);
      // entry.size is what valueBytes gives for its stored form.
      liveBytes += entryStoredSize(entry.cmKey, entry.size) + entry.cmKey.length + 24;
    }
    const deleted = new Map<string, number>();
    if (position > 0) {
      for (const [key, marker] of loaded.deleted) {
        // Conservative: kept unless a newer layer holds the key (then it hides nothing any more).
        if (shadowed(key) || state.layer.entries.has(key)) continue;
        deleted.set(marker.cmKey, marker.revision);
        liveBytes += marker.cmKey.length + 24;
      }
    }
    const share = liveBytes / ref.bytes;
    if (share < GARBAGE_SHARE && (!best || share < best.share)) best = { replaces: ref, live, deleted, share };
  });
  if (!best) return undefined;
  const entries = best.live.map(stored).sort((a, b) => (a.cmKey < b.cmKey ? -1 : a.cmKey > b.cmKey ? 1 : 0));
  return { replaces: best.replaces, output: entries.length > 0 || best.deleted.size > 0 ? { entries, deleted: best.deleted } : undefined };
}

/**
 * The chunk list after a planned compaction: the merged chunks leave it,
 * `created` (the outputs, in order) take their place, `rewritten` replaces
 * the chunk the plan rewrites (dropped when the plan rewrites it to nothing).
 */
export function compactedChunks(state: BucketState, plan: CompactionPlan, created: readonly ChunkRef[], rewritten?: ChunkRef): ChunkRef[] {
  const merged = new Set(plan.merged.map((ref) => ref.name));
  const replaced = plan.rewrite?.replaces.name;
  const kept = state.chunks
    .filter((ref) => !ref.value && !merged.has(ref.name))
    .flatMap((ref) => (ref.name !== replaced ? [ref] : rewritten ? [rewritten] : []));
  return [...kept, ...created, ...state.chunks.filter((ref) => ref.value)];
}

/**
 * The head patch that makes a planned compaction real: the moved entries
 * and the tombstones leave the head, and the head lists `chunks`
 * ({@link compactedChunks}) itself, or names `manifest`, the manifest chunk
 * made for that list (format 3). A CAS on the state it was planned on; the
 * revision goes up by one like every kubekv write, no key's lastIndex
 * changes.
 */
export function compactionPatch(state: BucketState, plan: CompactionPlan, chunks: readonly ChunkRef[], manifest?: { readonly name: string; readonly uid: string }): BucketPatch {
  const data: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  const binaryData: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  const moved = new Set<string>();
  for (const { cmKey, field } of plan.moved) {
    (field === 'data' ? data : binaryData)[cmKey] = null;
    moved.add(cmKey);
  }
  const index = new Map<string, number>();
  for (const entry of state.inline.values()) if (!moved.has(entry.cmKey) && entry.lastIndex > 0) index.set(entry.cmKey, entry.lastIndex);
  return {
    metadata: {
      resourceVersion: state.resourceVersion,
      annotations: {
        [FORMAT_ANNOTATION]: String(manifest ? MANIFEST_FORMAT_VERSION : CHUNKED_FORMAT_VERSION),
        [REVISION_ANNOTATION]: String(state.revision + 1),
        [INDEX_ANNOTATION]: serializeIndex(index),
        [TOMBSTONES_ANNOTATION]: null,
        [CHUNKS_ANNOTATION]: manifest ? CHUNKS_IN_MANIFEST : serializeManifest(chunks),
        [MANIFEST_ANNOTATION]: manifest ? serializeManifestRef(manifest.name, manifest.uid, chunks) : null,
      },
    },
    data: { ...data },
    binaryData: { ...binaryData },
  };
}

/** An empty plan: a compaction that only moves the head's chunk list into a manifest chunk. */
export const LIST_ONLY: CompactionPlan = Object.freeze({ outputs: [], merged: [], moved: [] });

/**
 * Whether compaction may move an inline entry into a chunk: only entries
 * kubekv wrote (a key made with kubectl stays where its author put it), and
 * only keys with one ConfigMap name (a hand-made alias left in the head
 * would surface from under the moved entry).
 */
function isMovable(state: BucketState, entry: Entry): boolean {
  return entry.lastIndex > 0 && !state.aliases.has(entry.key);
}

function stored(entry: Entry): StoredEntry {
  return { cmKey: entry.cmKey, field: entry.field, stored: entry.stored, lastIndex: entry.lastIndex };
}

function valueBytes(entry: StoredEntry): number {
  return entry.field === 'data' ? Buffer.byteLength(entry.stored, 'utf8') : Math.floor((entry.stored.replace(/=+$/, '').length * 3) / 4);
}
