/**
 * What a writing store does with chunks, beside its commits: writes large
 * values into value chunks before their commit (value-chunks.ts), compacts
 * the head after a commit left it over `compactBytes` (compaction.ts), and
 * collects chunks no head references (chunk-gc.ts). All of it runs in the
 * store's write pipeline, under its commit lock, so it never interleaves
 * with the store's own commits.
 *
 * Guaranteed: maintenance never fails or delays a user write beyond the
 * requests it makes while holding the lock (a compaction: its chunk creates
 * and one head CAS). A compaction that loses its CAS (another writer
 * committed) is dropped, not retried at once: the next commit tries again
 * on the newer state. A failure is logged and backs off.
 *
 * Not guaranteed: that a bucket written only by stores with `chunks: false`
 * is ever compacted.
 */
import type { Clock } from '../clock.js';
import { CHUNK_REUSE_REVISIONS, MANIFEST_INLINE_REFS, entriesChunkObject, manifestChunkObject, newChunkName, storedSize, type BucketKind, type ChunkOwner, type ChunkRef } from '../codec/index.js';
import type { ResourceClient } from '../kube/api.js';
import type { ConfigMapObject } from '../kube/types.js';
import type { Logger } from '../logger.js';
import type { BucketState } from './bucket-state.js';
import { ChunkCollector } from './chunk-gc.js';
import type { ChunkSet } from './chunk-set.js';
import { createChunk } from './chunk-writer.js';
import type { WriteOp } from './commit.js';
import { LIST_ONLY, compactedChunks, compactionPatch, planCompaction } from './compaction.js';
import { storeValue } from './value-chunks.js';

/** What {@link ChunkMaintenance} needs from its store. */
export interface MaintenanceHost {
  readonly bucket: string;
  /** The bucket label's value. */
  readonly label: string;
  /** The kind of object the bucket is stored in (chunks are of the same kind, owned by the head). */
  readonly kind: BucketKind;
  readonly client: ResourceClient<ConfigMapObject>;
  readonly chunks: ChunkSet;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The settings (store/inputs.ts resolveChunkOptions). */
  readonly options: { readonly compactBytes: number; readonly largeValueBytes: number; readonly gcGraceMs: number };
  /** The newest state the store holds. */
  current(): BucketState;
  /** Feeds the answer of a head write into the store's cache. */
  apply(object: ConfigMapObject): Promise<BucketState>;
  /** Keeps chunks this store made in its chunk set until their commit settled (see {@link ChunkMaintenance.unpin}). */
  pin(names: readonly string[]): void;
  /** Lets go of pinned chunks; those the current head does not reference are dropped. */
  unpin(names: readonly string[]): void;
  /**
   * False when this store may not write on `state` now (a StateManager's
   * fencing: not the leader, or a newer leader epoch): a compaction changes
   * no value, yet a deposed leader must not write at all.
   */
  mayWrite(state: BucketState): boolean;
  /** Takes the bytes etcd stores for a request that may have landed (the etcd budget and its metric). */
  charge(bytes: number): void;
}

/** Pause after a failed compaction or collection before the next try. */
const FAILURE_PAUSE_MS = 5_000;

/** Result of one compaction attempt, for logs and tests. */
export type CompactionResult = 'compacted' | 'nothing' | 'lost' | 'failed';

/** See the module doc. */
export class ChunkMaintenance {
  readonly #host: MaintenanceHost;
  readonly #collector: ChunkCollector;
  #compactAfter = -Infinity;
  #collectAfter = -Infinity;

  /** @param host - the store it works for */
  constructor(host: MaintenanceHost) {
    this.#host = host;
    this.#collector = new ChunkCollector({
      client: host.client,
      bucket: host.bucket,
      label: host.label,
      clock: host.clock,
      graceMs: host.options.gcGraceMs,
      logger: host.logger,
    });
  }

  /**
   * Before each plan (host.prepare of the pipeline): writes each put's large
   * value into value chunks owned by `base`'s bucket and makes the put carry
   * a reference instead. A put gets new chunks (the old ones are left to
   * garbage collection) when its chunks were made
   * {@link CHUNK_REUSE_REVISIONS} or more revisions before `base` (a
   * collector may delete them once the head is that far on; see
   * codec/chunk-format.ts), or belong to another incarnation of the bucket
   * (deleted and created again since: the old head's teardown deletes its
   * chunks, and a cluster's garbage collector deletes chunks whose owner uid
   * is gone). The chunks stay pinned until {@link ChunkMaintenance.release}.
   */
  async prepare(ops: WriteOp[], base: BucketState, signal: AbortSignal): Promise<void> {
    const host = this.#host;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.kind !== 'put') continue;
      const made = op.partsMade;
      const value = made?.value ?? op.encoded;
      if (made ? made.owner === base.uid && base.revision < made.revision + CHUNK_REUSE_REVISIONS : value.size <= host.options.largeValueBytes) continue;
      const owner = this.#owner(base);
      const stored = await storeValue({ client: host.client, clock: host.clock, signal, charge: (bytes) => host.charge(bytes) }, owner, value);
      for (const object of stored.objects) host.chunks.add(object);
      host.pin(stored.parts.map((p) => p.name));
      // The chunks made before: orphans for garbage collection.
      if (op.parts) host.unpin(op.parts.map((p) => p.name));
      ops[i] = { ...op, encoded: stored.encoded, parts: stored.parts, partsMade: { revision: owner.revision, value, owner: base.uid } };
    }
  }

  /** The write of `ops` settled: lets go of the value chunks {@link ChunkMaintenance.prepare} pinned for it (the head keeps those it references). */
  release(ops: readonly WriteOp[]): void {
    for (const op of ops) if (op.kind === 'put' && op.parts) this.#host.unpin(op.parts.map((p) => p.name));
  }

  /**
   * After a commit: compacts when the head's inline part is over the
   * threshold, or the head lists more than MANIFEST_INLINE_REFS chunks
   * itself (a commit that added or dropped value chunks writes the list
   * into the head), then collects garbage when due. Never throws.
   */
  async afterCommit(signal: AbortSignal): Promise<void> {
    const now = this.#host.clock.monotonic();
    const state = this.#host.current();
    const due = state.inlineStoredBytes > this.#host.options.compactBytes || listTooLong(state);
    if (state.resourceVersion !== '' && due && now >= this.#compactAfter) {
      const result = await this.compact(state, signal);
      if (result === 'failed') this.#compactAfter = now + FAILURE_PAUSE_MS;
    }
    if (state.chunks.length > 0 && now >= this.#collectAfter) await this.collect(signal);
  }

  /** One compaction of `state` (see compaction.ts). */
  async compact(state: BucketState, signal: AbortSignal): Promise<CompactionResult> {
    const host = this.#host;
    const created: ChunkRef[] = [];
    try {
      const plan = planCompaction(state, (name) => {
        const chunk = host.chunks.get(name);
        return chunk?.kind === 'entries' ? chunk : undefined;
      }) ?? (listTooLong(state) ? LIST_ONLY : undefined);
      if (!plan || !host.mayWrite(state)) return 'nothing';
      const owner = this.#owner(state);
      const ctx = { client: host.client, clock: host.clock, signal, charge: (bytes: number) => host.charge(bytes) };
      for (const output of plan.outputs) {
        const chunk = await createChunk(ctx, () => newChunkName(host.bucket), (name) => entriesChunkObject(owner, name, output.entries, output.deleted));
        host.chunks.add(chunk.object);
        host.pin([chunk.ref.name]);
        created.push(chunk.ref);
      }
      let rewritten: ChunkRef | undefined;
      if (plan.rewrite?.output) {
        const output = plan.rewrite.output;
        const chunk = await createChunk(ctx, () => newChunkName(host.bucket), (name) => entriesChunkObject(owner, name, output.entries, output.deleted));
        host.chunks.add(chunk.object);
        host.pin([chunk.ref.name]);
        created.push(chunk.ref);
        rewritten = chunk.ref;
      }
      const chunks = compactedChunks(state, plan, rewritten ? created.slice(0, -1) : created, rewritten);
      // A long list goes into a manifest chunk: every commit rewrites the
      // head, and the list would otherwise grow it with the bucket.
      let manifest: ChunkRef | undefined;
      if (chunks.length > MANIFEST_INLINE_REFS) {
        const chunk = await createChunk(ctx, () => newChunkName(host.bucket), (name) => manifestChunkObject(owner, name, chunks));
        host.chunks.add(chunk.object);
        host.pin([chunk.ref.name]);
        created.push(chunk.ref);
        manifest = chunk.ref;
      }
      // Checked again right before the CAS: leadership may have moved while the chunks were written.
      if (!host.mayWrite(host.current())) return 'lost';
      const result = await host.client.patch(host.bucket, compactionPatch(state, plan, chunks, manifest), { signal });
      if (result.ok && result.object) host.charge(storedSize(result.object));
      if (!result.ok) {
        host.logger.debug({ bucket: host.bucket, reason: result.reason }, 'compaction lost its race; the next commit tries again');
        return 'lost';
      }
      if (result.object) await host.apply(result.object);
      host.logger.debug({ bucket: host.bucket, created: created.length, merged: plan.merged.length, moved: plan.moved.length }, 'compacted the bucket head');
      return 'compacted';
    } catch (err) {
      if (signal.aborted) return 'failed';
      host.logger.warn({ bucket: host.bucket, err: errorSummary(err) }, 'compaction failed; will retry after a pause');
      return 'failed';
    } finally {
      host.unpin(created.map((ref) => ref.name));
    }
  }

  /** One garbage collection run, due every min(gcGraceMs, 60 s); failures are logged and retried later. */
  async collect(signal: AbortSignal): Promise<number> {
    const host = this.#host;
    const now = host.clock.monotonic();
    this.#collectAfter = now + Math.max(Math.min(host.options.gcGraceMs, 60_000), 1);
    try {
      return await this.#collector.collect(signal);
    } catch (err) {
      if (!signal.aborted) host.logger.warn({ bucket: host.bucket, err: errorSummary(err) }, 'chunk garbage collection failed; will retry later');
      this.#collectAfter = now + FAILURE_PAUSE_MS;
      return 0;
    }
  }

  #owner(state: BucketState): ChunkOwner {
    return { bucket: this.#host.bucket, uid: state.uid, label: this.#host.label, revision: state.revision, kind: this.#host.kind };
  }
}

/** True when the head of `state` lists more chunks itself than it should (see MANIFEST_INLINE_REFS). */
function listTooLong(state: BucketState): boolean {
  return !state.manifestRef && state.chunks.length > MANIFEST_INLINE_REFS;
}

function errorSummary(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
