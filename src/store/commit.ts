/**
 * Plans one commit: applies queued writes, in order, to a base state and
 * produces the single merge patch that makes them all real. Pure: no I/O.
 *
 * Each write is all-or-nothing: its conditions (absent / lastIndex) are
 * checked against the base plus the writes before it in the same commit, its
 * size against the limits; a write that fails gets its own error and leaves
 * no trace, the others go ahead. The patch carries the base resourceVersion,
 * so the server applies it only to exactly the state it was planned on.
 *
 * On a chunked bucket (codec/chunk-format.ts) the patch still touches the
 * head only: a put writes an inline entry (which shadows the key's chunked
 * value and drops its tombstone), a delete of a key held in a chunk writes
 * a tombstone, and a put of a value kept in value chunks (created before
 * the plan) adds them to the manifest; replacing or deleting such a value
 * drops its value chunks from the manifest (garbage collection removes them).
 */
import {
  FORMAT_ANNOTATION,
  CHUNKS_ANNOTATION,
  MANIFEST_ANNOTATION,
  TOMBSTONES_ANNOTATION,
  serializeManifest,
  serializeTombstones,
  type ChunkRef,
  INDEX_ANNOTATION,
  MAX_ANNOTATIONS_BYTES,
  MAX_DATA_BYTES,
  MAX_STORED_BYTES,
  REQUEST_OVERHEAD_BYTES,
  entryStoredSize,
  EXPIRED_ANNOTATION,
  EXPIRY_ANNOTATION,
  expiryRecordBytes,
  serializeExpired,
  serializeExpiry,
  type ExpiryRecord,
  REVISION_ANNOTATION,
  EPOCH_ANNOTATION,
  LEADER_ANNOTATION,
  WRITERS_ANNOTATION,
  WRITERS_PRUNED_ANNOTATION,
  recordCommit,
  serializeIndex,
  type EncodedValue,
} from '../codec/index.js';
import { BucketFullError, FencedError, KeyExistsError, KeyModifiedError, KeyNotFoundError, type KubekvError } from '../errors.js';
import type { BucketPatch } from './bucket-api.js';
import { headFormatVersion, type BucketState, type Entry, type Tombstone } from './bucket-state.js';

/** One validated operation. */
export type WriteOp =
  | {
    kind: 'put';
    key: string;
    cmKey: string;
    encoded: EncodedValue;
    expect?: 'absent' | number | undefined;
    /** The value chunks holding the value when `encoded` is a reference to them (created before the plan; see store/value-chunks.ts). */
    parts?: readonly ChunkRef[] | undefined;
    /**
     * With `parts`: the value as given (encoded), the bucket revision the
     * chunks were made at and the uid of the head that owns them, to write
     * the value into new chunks when those are too old to reference (see
     * CHUNK_REUSE_REVISIONS) or belong to another incarnation of the bucket.
     */
    partsMade?: { readonly revision: number; readonly value: EncodedValue; readonly owner: string } | undefined;
    /** The key expires: recorded in the head's expiry annotation with this commit's revision (codec/expiry.ts). */
    expiry?: { readonly ttlMs: number; readonly session?: string | undefined } | undefined;
  }
  /** `expired`: a sweeper's delete (watchers see reason 'expired'); always with `expect`. */
  | { kind: 'delete'; key: string; cmKey: string; expect?: number | undefined; expired?: true | undefined }
  /**
   * Deletes every key bound to session `session` (its close, or a sweeper
   * that saw it end); watchers see reason 'expired'. Decided on the state
   * the commit is planned on, like deleteTree.
   */
  | { kind: 'endSession'; session: string }
  | { kind: 'deleteTree'; prefix: string }
  /**
   * Raise the leader epoch to `epoch` (the raiser's Lease term). Fails with
   * FencedError when the bucket's epoch is already higher, or equal but
   * raised by someone else: epochs never go back. (Equal and raised by no
   * one is a new bucket at epoch 0, taken by a leader of term 0.)
   */
  | { kind: 'epoch'; epoch: number; leader: string };

/** What a successful write did. */
export interface WriteResult {
  /** Bucket revision after the commit (unchanged when the write changed nothing). */
  revision: number;
  /** For each op: put -> 1, delete -> 1 if the key existed else 0, deleteTree -> keys deleted, epoch -> 1 if raised else 0 (already held). */
  counts: number[];
}

/** Outcome of one write within a commit. */
export type WriteOutcome = { ok: true; result: WriteResult } | { ok: false; error: KubekvError };

/** The planned commit. */
export interface CommitPlan {
  /** The patch to send; undefined when no write changes anything. */
  patch: BucketPatch | undefined;
  /** Revision the bucket will have after the patch. */
  revision: number;
  /** One outcome per write, in order. */
  outcomes: WriteOutcome[];
  /** Upper estimate of the bytes etcd will store for the bucket after the patch, its request overhead included (codec/stored-size.ts). */
  storedBytes: number;
  /** The same estimate for the base with none of the writes applied. */
  baseStoredBytes: number;
}

/** Context of a plan. */
export interface PlanContext {
  /** Bucket name, for errors. */
  bucket: string;
  /** The committing writer's id and commit number, recorded so it can recognise this commit later (codec/writers.ts). */
  writer: { id: string; seq: number };
  /**
   * Most bytes etcd may be asked to store for the object (default
   * MAX_STORED_BYTES, etcd's default request limit). A store that saw etcd
   * refuse a commit its estimate admitted lowers it (write-pipeline.ts).
   */
  maxStoredBytes?: number | undefined;
}

// Headroom for the annotations kubekv rewrites besides the index (revision,
// format, this writer's entry in the writers record, epoch) so the size check
// can be made per write.
const ANNOTATION_HEADROOM = 1024;

// The same for the bytes etcd stores: what those annotations can grow by in
// one commit (a new writer's entry, a longer revision, an epoch raise).
const STORED_HEADROOM = 256;

/** Plans a commit of `writes` on `base`. */
export function planCommit(base: BucketState, writes: readonly (readonly WriteOp[])[], ctx: PlanContext): CommitPlan {
  const revision = nextRevision(base);
  const maxStored = ctx.maxStoredBytes ?? MAX_STORED_BYTES;
  const view = new Map<string, Entry | null>(); // changes so far: entry, or null = deleted
  const lookup = (key: string): Entry | undefined => {
    const changed = view.get(key);
    return changed === null ? undefined : (changed ?? base.entries.get(key));
  };
  // Tombstones and value chunks changed so far (null: removed).
  const tombView = new Map<string, Tombstone | null>();
  const refView = new Map<string, ChunkRef | null>();
  const tombstoneOf = (key: string) => (tombView.has(key) ? (tombView.get(key) ?? undefined) : base.tombstones.get(key));
  // Expiry records changed so far (null: removed), and the keys expired.
  const expiryView = new Map<string, KeyedExpiry | null>();
  const expiryOf = (key: string): ExpiryRecord | undefined => (expiryView.has(key) ? (expiryView.get(key) ?? undefined) : base.expiries.get(key));
  const expiredKeys = new Set<string>();
  let dataBytes = base.dataBytes;
  let indexBytes = estimateIndexBytes(base, revision);
  // Bytes the tombstones and the manifest grow by (shrinking is not
  // counted: the estimate errs high, never low).
  let chunkMetaBytes = 0;
  // Whether chunkMetaBytes counts the chunk list a manifest chunk held: it
  // comes back into the head with the first change to it (addChunkChanges).
  let listCounted = base.manifestRef === undefined;
  // What etcd stores besides the index (rewritten whole by every commit,
  // so counted from indexBytes) and the annotations' headroom.
  let storedBytes = base.storedBytes - base.indexStoredBytes + STORED_HEADROOM + REQUEST_OVERHEAD_BYTES;
  const baseStoredBytes = storedBytes + indexBytes;
  const outcomes: WriteOutcome[] = [];
  // Annotations set by epoch raises in this commit.
  let raised: Record<string, string> | undefined;

  for (const ops of writes) {
    const staged = new Map<string, Entry | null>();
    const stagedTombs = new Map<string, Tombstone | null>();
    const stagedRefs = new Map<string, ChunkRef | null>();
    const stagedExpiry = new Map<string, KeyedExpiry | null>();
    const stagedExpired = new Set<string>();
    const current = (key: string) => (staged.has(key) ? (staged.get(key) ?? undefined) : lookup(key));
    const currentExpiry = (key: string) => (stagedExpiry.has(key) ? (stagedExpiry.get(key) ?? undefined) : expiryOf(key));
    let bytes = dataBytes;
    let index = indexBytes;
    let stored = storedBytes;
    let meta = chunkMetaBytes;
    let counted = listCounted;
    const stageRef = (name: string, ref: ChunkRef | null) => {
      stagedRefs.set(name, ref);
      if (ref) meta += manifestEntryBytes(ref);
      if (!counted) {
        for (const listed of base.chunks) meta += manifestEntryBytes(listed);
        counted = true;
      }
    };
    const counts: number[] = [];
    let error: KubekvError | undefined;
    const remove = (entry: Entry) => {
      staged.set(entry.key, null);
      if (currentExpiry(entry.key)) stagedExpiry.set(entry.key, null);
      if (entry.chunk === undefined) {
        bytes -= entry.size;
        stored -= entryStoredSize(entry.cmKey, entry.size);
        if (entry.lastIndex > 0) index -= indexEntryBytes(entry.cmKey, revision);
      }
      // Its value chunks are no longer referenced by any visible entry.
      for (const name of entry.blob?.ref.parts ?? []) stageRef(name, null);
      // A key the chunks hold stays deleted only behind a tombstone.
      const tomb = stagedTombs.has(entry.key) ? stagedTombs.get(entry.key) : tombstoneOf(entry.key);
      if (base.layer.entries.has(entry.key) && !tomb) {
        stagedTombs.set(entry.key, { cmKey: base.layer.entries.get(entry.key)!.cmKey, revision });
        meta += indexEntryBytes(base.layer.entries.get(entry.key)!.cmKey, revision);
      }
    };
    let raise: Record<string, string> | undefined;
    for (const op of ops) {
      if (op.kind === 'epoch') {
        const epoch = raise ? Number(raise[EPOCH_ANNOTATION]) : (raised ? Number(raised[EPOCH_ANNOTATION]) : base.epoch);
        const leader = raise?.[LEADER_ANNOTATION] ?? raised?.[LEADER_ANNOTATION] ?? base.leader;
        if (epoch === op.epoch && leader === op.leader) {
          counts.push(0);
          continue;
        }
        // Equal but raised by no one is a bucket never raised (epoch 0): the
        // first leader of a new Lease holds term 0 and may take it.
        if (epoch > op.epoch || (epoch === op.epoch && leader !== '')) {
          error = new FencedError(op.epoch, epoch);
          break;
        }
        raise = { [EPOCH_ANNOTATION]: String(op.epoch), [LEADER_ANNOTATION]: op.leader };
        counts.push(1);
        continue;
      }
      if (op.kind === 'endSession') {
        let count = 0;
        const bound = new Set([...base.expiries.keys(), ...expiryView.keys(), ...stagedExpiry.keys()]);
        for (const key of bound) {
          const entry = current(key);
          if (entry && currentExpiry(key)?.session === op.session) {
            remove(entry);
            stagedExpired.add(entry.cmKey);
            count++;
          }
        }
        counts.push(count);
        continue;
      }
      if (op.kind === 'deleteTree') {
        let count = 0;
        for (const key of keysWithPrefix(base, view, staged, op.prefix)) {
          const entry = current(key);
          if (entry) {
            remove(entry);
            count++;
          }
        }
        counts.push(count);
        continue;
      }
      const existing = current(op.key);
      error = checkCondition(op, existing);
      if (error) break;
      if (op.kind === 'delete') {
        if (existing) remove(existing);
        if (existing && op.expired) stagedExpired.add(existing.cmKey);
        counts.push(existing ? 1 : 0);
        continue;
      }
      if (existing) remove(existing);
      // The inline entry shadows the chunks: a tombstone would only take room.
      if (stagedTombs.get(op.key) ?? tombstoneOf(op.key)) stagedTombs.set(op.key, null);
      for (const ref of op.parts ?? []) stageRef(ref.name, ref);
      staged.set(op.key, {
        key: op.key,
        cmKey: op.cmKey,
        field: op.encoded.field,
        stored: op.encoded.stored,
        size: op.encoded.size,
        lastIndex: revision,
        blob: op.parts ? { ref: { field: 'binaryData', size: 0, parts: op.parts.map((p) => p.name) }, parts: [] } : undefined,
      });
      if (op.expiry) {
        const record: KeyedExpiry = { cmKey: op.cmKey, revision, ttlMs: op.expiry.ttlMs, session: op.expiry.session };
        stagedExpiry.set(op.key, record);
        meta += expiryRecordBytes(op.cmKey, record);
      } else if (currentExpiry(op.key)) stagedExpiry.set(op.key, null);
      stagedExpired.delete(op.cmKey);
      bytes += op.encoded.size;
      index += indexEntryBytes(op.cmKey, revision);
      stored += entryStoredSize(op.cmKey, op.encoded.size);
      counts.push(1);
    }
    if (!error && bytes > MAX_DATA_BYTES) error = new BucketFullError(ctx.bucket, bytes, MAX_DATA_BYTES);
    const annotationBytes = base.otherAnnotationBytes + ANNOTATION_HEADROOM + index + meta;
    if (!error && annotationBytes > MAX_ANNOTATIONS_BYTES) error = new BucketFullError(ctx.bucket, annotationBytes, MAX_ANNOTATIONS_BYTES, { limitName: 'annotations' });
    // etcd stores every key three times (data, index, managedFields): a
    // bucket within both limits above can still be too large for it.
    const etcdBytes = stored + index + meta;
    if (!error && etcdBytes > maxStored && etcdBytes > storedBytes + indexBytes + chunkMetaBytes) {
      error = new BucketFullError(ctx.bucket, etcdBytes, maxStored, { limitName: 'etcd' });
    }
    if (error) {
      outcomes.push({ ok: false, error });
      continue;
    }
    for (const [key, entry] of staged) view.set(key, entry);
    for (const [key, tomb] of stagedTombs) tombView.set(key, tomb);
    for (const [name, ref] of stagedRefs) refView.set(name, ref);
    for (const [key, record] of stagedExpiry) expiryView.set(key, record);
    // A key an earlier write of this commit expired and this one writes
    // again is not expired: only what the commit leaves deleted is.
    for (const entry of staged.values()) if (entry) expiredKeys.delete(entry.cmKey);
    for (const cmKey of stagedExpired) expiredKeys.add(cmKey);
    if (raise) raised = raise;
    dataBytes = bytes;
    indexBytes = index;
    storedBytes = stored;
    chunkMetaBytes = meta;
    listCounted = counted;
    outcomes.push({ ok: true, result: { revision: staged.size > 0 || raise ? revision : base.revision, counts } });
  }

  if (view.size === 0 && !raised) {
    return {
      patch: undefined,
      revision: base.revision,
      outcomes: outcomes.map((o) => (o.ok ? { ok: true, result: { ...o.result, revision: base.revision } } : o)),
      storedBytes: storedBytes + indexBytes,
      baseStoredBytes,
    };
  }
  const patch = buildPatch(base, view, revision, ctx, raised);
  addChunkChanges(patch, base, tombView, refView);
  addExpiryChanges(patch, base, expiryView, expiredKeys, view, revision);
  return { patch, revision, outcomes, storedBytes: storedBytes + indexBytes + chunkMetaBytes, baseStoredBytes };
}

/**
 * The revision of the next commit: one more than the bucket's. A bucket
 * kubekv never committed to (new, or recreated under the same name) starts
 * above its resourceVersion instead of at 1. Each commit raises the
 * resourceVersion by at least one, so a bucket's revision never exceeds its
 * resourceVersion, and a recreated bucket (whose resourceVersion is newer than
 * every state of the old one) continues above every lastIndex the old one
 * handed out: a lastIndex never goes back, and a `previous` pair from before
 * the recreation cannot match a newer value by chance.
 */
function nextRevision(base: BucketState): number {
  if (base.revision > 0) return base.revision + 1;
  const rv = /^[0-9]{1,15}$/.test(base.resourceVersion) ? Number(base.resourceVersion) : 0;
  return rv + 1;
}

function checkCondition(op: Extract<WriteOp, { key: string }>, existing: Entry | undefined): KubekvError | undefined {
  if (op.expect === undefined) return undefined;
  if (op.expect === 'absent') return existing ? new KeyExistsError(op.key) : undefined;
  if (!existing) return new KeyNotFoundError(op.key);
  if (existing.lastIndex !== op.expect) return new KeyModifiedError(op.key, op.expect, existing.lastIndex);
  return undefined;
}

function keysWithPrefix(base: BucketState, view: Map<string, Entry | null>, staged: Map<string, Entry | null>, prefix: string): string[] {
  const keys = new Set<string>();
  for (const source of [base.entries.keys(), view.keys(), staged.keys()]) {
    for (const key of source) if (key.startsWith(prefix)) keys.add(key);
  }
  return [...keys];
}

function buildPatch(base: BucketState, view: Map<string, Entry | null>, revision: number, ctx: PlanContext, raised: Record<string, string> | undefined): BucketPatch {
  // Null-prototype maps: a ConfigMap key named __proto__ (kubekv's key
  // `/proto/`) must become an own property that JSON.stringify sends, not
  // the object's prototype, which would silently drop it from the patch.
  const data: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  const binaryData: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  for (const [key, entry] of view) {
    if (entry) {
      (entry.field === 'data' ? data : binaryData)[entry.cmKey] = entry.stored;
      (entry.field === 'data' ? binaryData : data)[entry.cmKey] = null;
    }
    const old = base.inline.get(key);
    // The key may move to a new ConfigMap name only for a foreign,
    // non-canonical key; the old name goes so the user key is not duplicated,
    // and so do hand-made names it shadowed: once kubekv wrote or deleted
    // the key, no older value may surface from under it.
    const gone = [...(old && (!entry || old.cmKey !== entry.cmKey) ? [old.cmKey] : []), ...(base.aliases.get(key) ?? [])];
    for (const cmKey of gone) {
      if (entry && cmKey === entry.cmKey) continue;
      data[cmKey] = null;
      binaryData[cmKey] = null;
    }
  }
  const index = new Map<string, number>();
  for (const entry of base.inline.values()) if (!view.has(entry.key) && entry.lastIndex > 0) index.set(entry.cmKey, entry.lastIndex);
  for (const entry of view.values()) if (entry) index.set(entry.cmKey, entry.lastIndex);
  // A bucket with kubekv commits but no writers record had it stripped (or
  // predates it): whatever it held is lost, which the watermark says, so a
  // writer whose entry was there reports "unknown" instead of "not landed".
  const prunedBefore = !base.writersRecorded && base.revision > 0 ? Math.max(base.writersPruned, base.revision) : base.writersPruned;
  const writers = recordCommit(base.writers, prunedBefore, ctx.writer.id, { seq: ctx.writer.seq, revision });
  const annotations: Record<string, string | null> = {
    [FORMAT_ANNOTATION]: String(headFormatVersion(base.chunks, base.manifestRef)),
    [REVISION_ANNOTATION]: String(revision),
    [INDEX_ANNOTATION]: serializeIndex(index),
    [WRITERS_ANNOTATION]: writers.value,
    ...raised,
  };
  if (writers.pruned > base.writersPruned) annotations[WRITERS_PRUNED_ANNOTATION] = String(writers.pruned);
  return {
    metadata: {
      resourceVersion: base.resourceVersion,
      annotations,
    },
    data,
    binaryData,
  };
}

/** Upper bound of one index entry's JSON bytes: "cmKey":revision, */
function indexEntryBytes(cmKey: string, revision: number): number {
  return cmKey.length + 4 + String(revision).length;
}

function estimateIndexBytes(base: BucketState, revision: number): number {
  let bytes = 2;
  for (const entry of base.inline.values()) if (entry.lastIndex > 0) bytes += indexEntryBytes(entry.cmKey, revision);
  return bytes + INDEX_ANNOTATION.length;
}

/** Upper bound of one manifest entry's JSON bytes. */
function manifestEntryBytes(ref: ChunkRef): number {
  return ref.name.length + ref.uid.length + 72;
}

/** An expiry record with the ConfigMap key it is written under. */
interface KeyedExpiry extends ExpiryRecord {
  readonly cmKey: string;
}

/**
 * Adds to `patch` the commit's changes of the head's expiry records (the
 * whole annotation rewritten when one changed, records that no longer
 * apply dropped) and the keys it expired ({@link EXPIRED_ANNOTATION}, or
 * that annotation removed: it speaks of one commit only).
 */
function addExpiryChanges(
  patch: BucketPatch,
  base: BucketState,
  expiryView: ReadonlyMap<string, KeyedExpiry | null>,
  expired: ReadonlySet<string>,
  view: ReadonlyMap<string, Entry | null>,
  revision: number,
): void {
  const annotations = patch.metadata.annotations!;
  if (expiryView.size > 0) {
    const records = new Map<string, ExpiryRecord>();
    for (const [key, record] of base.expiries) {
      if (expiryView.has(key) || view.get(key) === null) continue;
      const entry = view.get(key) ?? base.entries.get(key);
      if (entry && entry.lastIndex === record.revision) records.set(entry.cmKey, record);
    }
    for (const record of expiryView.values()) {
      if (record) records.set(record.cmKey, { revision: record.revision, ttlMs: record.ttlMs, session: record.session });
    }
    annotations[EXPIRY_ANNOTATION] = records.size > 0 ? serializeExpiry(records) : null;
  }
  if (expired.size > 0) annotations[EXPIRED_ANNOTATION] = serializeExpired(revision, expired);
  else if (base.annotations[EXPIRED_ANNOTATION] !== undefined) annotations[EXPIRED_ANNOTATION] = null;
}

/**
 * Adds to `patch` the commit's changes of the head's tombstones and chunk
 * list, and the format the head takes after it. A commit that changes the
 * list (value chunks of a large value added or dropped) writes it into the
 * head, also when a manifest chunk held it: the commit makes no object but
 * the head, and the next compaction moves a long list out again
 * (chunk-maintenance.ts).
 */
function addChunkChanges(patch: BucketPatch, base: BucketState, tombView: ReadonlyMap<string, Tombstone | null>, refView: ReadonlyMap<string, ChunkRef | null>): void {
  const annotations = patch.metadata.annotations!;
  if (tombView.size > 0) {
    const tombstones = new Map<string, number>();
    for (const [key, tomb] of base.tombstones) if (!tombView.has(key)) tombstones.set(tomb.cmKey, tomb.revision);
    for (const tomb of tombView.values()) if (tomb) tombstones.set(tomb.cmKey, tomb.revision);
    annotations[TOMBSTONES_ANNOTATION] = tombstones.size > 0 ? serializeTombstones(tombstones) : null;
  }
  if (refView.size === 0) {
    annotations[FORMAT_ANNOTATION] = String(headFormatVersion(base.chunks, base.manifestRef));
    return;
  }
  const chunks = [...base.chunks.filter((ref) => !refView.has(ref.name)), ...[...refView.values()].filter((ref): ref is ChunkRef => ref !== null)];
  annotations[CHUNKS_ANNOTATION] = chunks.length > 0 ? serializeManifest(chunks) : null;
  if (base.manifestRef) annotations[MANIFEST_ANNOTATION] = null;
  annotations[FORMAT_ANNOTATION] = String(headFormatVersion(chunks, undefined));
}
