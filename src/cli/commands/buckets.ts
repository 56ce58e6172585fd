/**
 * `kubekv buckets`: the kubekv buckets of a namespace (or all, with -A):
 * ConfigMaps and Secrets (or one kind, with `--kind`) carrying the
 * kubekv.dev/bucket label, with their kind, size, keys,
 * revision, leader epoch and the replica leading each now (the holder of
 * the Lease that raised the epoch, while it holds it; status's rule, see
 * leadership.ts). A list request per kind and one for Leases; values are
 * not decoded, nor shown. Without `list` on Leases the leader is shown as
 * unknown; without `list` on Secrets (operators grant it sparingly) the
 * Secret buckets are left out with a note, unless `--kind secret` asked
 * for them.
 *
 * @module
 */
import { BUCKET_KINDS, MAX_DATA_BYTES, type BucketKind, type BucketObject } from '../../codec/index.js';
import { ForbiddenError, KubekvError } from '../../errors.js';
import { NO_CHUNKS, parseBucket, type ChunkSource } from '../../store/bucket-state.js';

/** Parses a head without its chunks (summaries only). */
const HEAD_ONLY: ChunkSource = { layer: () => NO_CHUNKS, part: () => undefined, manifest: () => [] };
import { listBucketHeads, listLeases, type LeaseInfo } from '../cluster-reads.js';
import type { Command } from '../command.js';
import { formatAge } from '../duration.js';
import { leaderAmong } from '../leadership.js';
import { renderTable, safeCell } from '../output.js';

/** One bucket as `-o json` shows it. */
export interface BucketSummary {
  namespace: string;
  name: string;
  /** The object kind the bucket is stored in. */
  kind: BucketKind;
  keys?: number;
  /** Bytes of stored values, out of `limit`. */
  bytes?: number;
  limit: number;
  revision?: number;
  epoch?: number;
  /** Identity that raised the epoch ("" when none did). */
  epochRaisedBy?: string;
  /** Identity leading the bucket now: it raised the epoch and holds its Lease ("" when none does; absent when Leases could not be read). */
  leader?: string;
  created: string | undefined;
  /** Why the bucket cannot be decoded (then the counts are absent). */
  error?: string;
}

/**
 * Summarises one bucket head (in bucket form) without decoding values.
 *
 * @param kind - the object kind it is stored in
 * @param leases - the Leases of the bucket's namespace (undefined when they could not be read)
 * @param nowMs - wall time that judges Lease expiry
 */
export function summarize(cm: BucketObject, kind: BucketKind, leases?: readonly LeaseInfo[], nowMs = Date.now()): BucketSummary {
  const base = { namespace: cm.metadata?.namespace ?? '', name: cm.metadata?.name ?? '', kind, limit: MAX_DATA_BYTES, created: timestamp(cm.metadata?.creationTimestamp) };
  try {
    // The head alone (a listing fetches no chunks): a chunked bucket's keys
    // and bytes are the head's plus what its manifest says of its chunks
    // (keys overwritten or deleted since they were chunked count until compacted).
    const state = parseBucket(cm, undefined, HEAD_ONLY);
    const live = leases && { leader: leaderAmong(leases.filter((l) => l.namespace === base.namespace), state, nowMs)?.holderIdentity ?? '' };
    // A manifest chunk's totals are in the head's reference to it.
    const keys = state.inline.size + (state.manifestRef?.keys ?? state.chunks.reduce((n, ref) => n + ref.keys, 0));
    const bytes = state.dataBytes + (state.manifestRef?.bytes ?? state.chunks.reduce((n, ref) => n + ref.bytes, 0));
    return { ...base, keys, bytes, revision: state.revision, epoch: state.epoch, epochRaisedBy: state.leader, ...live };
  } catch (err) {
    if (!(err instanceof KubekvError)) throw err;
    return { ...base, error: `${err.code}: ${err.message}` };
  }
}

/** `n bytes` as a share of the 1 MiB limit, for tables: "12.3 KiB (1.2%)". */
export function usedCell(bytes: number): string {
  const size = bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  return `${size} (${((bytes / MAX_DATA_BYTES) * 100).toFixed(1)}%)`;
}

/** `kubekv buckets [-A]`. */
export const bucketsCommand: Command = {
  name: 'buckets',
  options: ['all-namespaces', 'kind'],
  positionals: [],
  summary: 'list the buckets (kubekv ConfigMaps and Secrets, or one --kind) of the namespace, or of all with -A',
  async run(ctx) {
    const conn = await ctx.connection();
    const all = ctx.options.allNamespaces;
    const asked = ctx.options.kind;
    const heads: { head: BucketObject; kind: BucketKind }[] = [];
    for (const kind of asked ? [asked] : BUCKET_KINDS) {
      try {
        for (const head of await listBucketHeads(conn, kind, all, ctx.signal)) heads.push({ head, kind });
      } catch (err) {
        // Secrets are often not granted: list what may be listed, and say what was left out.
        if (asked || kind !== 'Secret' || !(err instanceof ForbiddenError)) throw err;
        await ctx.note(`Secret buckets not listed: ${err.message}`);
      }
    }
    if (ctx.options.output === 'table' && heads.length === 0) {
      await ctx.note(all ? 'No buckets found.' : `No buckets found in namespace ${conn.namespace}.`);
      return;
    }
    let leases: LeaseInfo[] | undefined;
    if (heads.length > 0) {
      try {
        leases = await listLeases(conn, undefined, ctx.signal, all);
      } catch (err) {
        if (!(err instanceof ForbiddenError)) throw err;
        await ctx.note(`LEADER unknown: ${err.message}`);
      }
    }
    const now = Date.now();
    const buckets = heads
      .map(({ head, kind }) => summarize(head, kind, leases, now))
      .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name) || compare(a.kind, b.kind));
    await ctx.print(buckets, () =>
      renderTable({
        columns: [...(all ? ['NAMESPACE'] : []), 'NAME', 'KIND', 'KEYS', 'USED', 'REVISION', 'EPOCH', 'LEADER', 'AGE'],
        rows: buckets.map((b) => [
          ...(all ? [b.namespace] : []),
          b.name,
          b.kind,
          b.keys === undefined ? '?' : String(b.keys),
          b.bytes === undefined ? (b.error ?? '?') : usedCell(b.bytes),
          b.revision === undefined ? '?' : String(b.revision),
          b.epoch === undefined ? '?' : String(b.epoch),
          b.leader === undefined ? '?' : b.leader ? safeCell(b.leader) : '<none>',
          b.created ? formatAge(now - Date.parse(b.created)) : '?',
        ]),
      }),
    );
  },
};

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function timestamp(value: unknown): string | undefined {
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'string' ? value : undefined;
}
