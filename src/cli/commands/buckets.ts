/**
 * `kubekv buckets`: the kubekv buckets of a namespace (or all, with -A):
 * ConfigMaps carrying the kubekv.dev/bucket label, with their size, keys,
 * revision and leader epoch. One list request; values are not decoded.
 *
 * @module
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import { MAX_DATA_BYTES } from '../../codec/index.js';
import { KubekvError } from '../../errors.js';
import { parseBucket } from '../../store/bucket-state.js';
import { listBucketConfigMaps } from '../cluster-reads.js';
import type { Command } from '../command.js';
import { formatAge } from '../duration.js';
import { renderTable, safeCell } from '../output.js';

/** One bucket as `-o json` shows it. */
export interface BucketSummary {
  namespace: string;
  name: string;
  keys?: number;
  /** Bytes of stored values, out of `limit`. */
  bytes?: number;
  limit: number;
  revision?: number;
  epoch?: number;
  /** Identity that raised the epoch ("" when none did). */
  leader?: string;
  created: string | undefined;
  /** Why the bucket cannot be decoded (then the counts are absent). */
  error?: string;
}

/** Summarises one bucket ConfigMap without decoding values. */
export function summarize(cm: V1ConfigMap): BucketSummary {
  const base = { namespace: cm.metadata?.namespace ?? '', name: cm.metadata?.name ?? '', limit: MAX_DATA_BYTES, created: timestamp(cm.metadata?.creationTimestamp) };
  try {
    const state = parseBucket(cm);
    return { ...base, keys: state.entries.size, bytes: state.dataBytes, revision: state.revision, epoch: state.epoch, leader: state.leader };
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
  options: ['all-namespaces'],
  positionals: [],
  summary: 'list the buckets (kubekv ConfigMaps) of the namespace, or of all with -A',
  async run(ctx) {
    const conn = ctx.connection();
    const all = ctx.options.allNamespaces;
    const buckets = (await listBucketConfigMaps(conn, all, ctx.signal)).map(summarize);
    if (ctx.options.output === 'table' && buckets.length === 0) {
      await ctx.note(all ? 'No buckets found.' : `No buckets found in namespace ${conn.namespace}.`);
      return;
    }
    const now = Date.now();
    await ctx.print(buckets, () =>
      renderTable({
        columns: [...(all ? ['NAMESPACE'] : []), 'NAME', 'KEYS', 'USED', 'REVISION', 'EPOCH', 'LEADER', 'AGE'],
        rows: buckets.map((b) => [
          ...(all ? [b.namespace] : []),
          b.name,
          b.keys === undefined ? '?' : String(b.keys),
          b.bytes === undefined ? (b.error ?? '?') : usedCell(b.bytes),
          b.revision === undefined ? '?' : String(b.revision),
          b.epoch === undefined ? '?' : String(b.epoch),
          b.leader ? safeCell(b.leader) : '<none>',
          b.created ? formatAge(now - Date.parse(b.created)) : '?',
        ]),
      }),
    );
  },
};

function timestamp(value: unknown): string | undefined {
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'string' ? value : undefined;
}
