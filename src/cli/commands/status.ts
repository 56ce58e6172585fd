/**
 * `kubekv status [bucket]`: one bucket's health at a glance: keys, bytes
 * used of the 1 MiB a ConfigMap holds (and of the 256 KiB of annotations,
 * where the per-key index lives), revision, format, leader epoch and who
 * raised it, whether a StateManager leads it now (so whether writes need
 * `--force`), and the last writer (the writers record's newest commit).
 *
 * @module
 */
import { MAX_ANNOTATIONS_BYTES, MAX_DATA_BYTES, annotationsSize } from '../../codec/index.js';
import { KubekvError } from '../../errors.js';
import type { BucketState } from '../../store/bucket-state.js';
import type { Command } from '../command.js';
import { bucketName, readBucket } from '../connection.js';
import { formatAge } from '../duration.js';
import { findBucketLeader } from '../leadership.js';
import { renderFields, safeCell } from '../output.js';
import { usedCell } from './buckets.js';

/** `status -o json`. */
export interface StatusView {
  namespace: string;
  bucket: string;
  keys: number;
  /** Bytes of stored values (compressed values count compressed), out of `limit`. */
  bytes: number;
  limit: number;
  usedPercent: number;
  annotationBytes: number;
  annotationLimit: number;
  revision: number;
  resourceVersion: string;
  /** Format version; null for a ConfigMap kubekv never wrote. */
  format: number | null;
  epoch: number;
  /** Identity that raised the epoch ("" when none did). */
  epochRaisedBy: string;
  /** The StateManager leader holding the bucket now (writes need --force), or null. */
  ledBy: { lease: string; holder: string; transitions: number; renewTime: string | undefined } | null;
  /** Why leadership could not be checked (e.g. FORBIDDEN on leases), when it could not. */
  ledByError?: string;
  /** The newest commit in the writers record: writer id, its commit number, the revision it made. */
  lastWriter: { id: string; commit: number; revision: number } | null;
  writers: number;
  immutable: boolean;
}

/** The last writer: the writers record's entry with the highest revision. */
export function lastWriter(state: Pick<BucketState, 'writers'>): StatusView['lastWriter'] {
  let last: StatusView['lastWriter'] = null;
  for (const [id, entry] of state.writers) {
    if (!last || entry.revision > last.revision) last = { id, commit: entry.seq, revision: entry.revision };
  }
  return last;
}

/** `kubekv status [bucket]`. */
export const statusCommand: Command = {
  name: 'status',
  options: ['bucket', 'kind', 'lease'],
  positionals: ['bucket?'],
  summary: 'show a bucket: size used of 1 MiB, keys, revision, epoch, leader, last writer',
  async run(ctx) {
    const bucket = bucketName(ctx.options, ctx.positionals[0]);
    const conn = await ctx.connection();
    const state = await readBucket(conn, bucket, ctx.signal, ctx.options.kind);
    let ledBy: StatusView['ledBy'] = null;
    let ledByError: string | undefined;
    try {
      const lease = await findBucketLeader(conn, state, ctx.options.lease, ctx.signal);
      if (lease) ledBy = { lease: lease.name, holder: lease.holderIdentity, transitions: lease.leaseTransitions, renewTime: lease.renewTime?.toISOString() };
    } catch (err) {
      // The rest of the status is still worth showing when Leases cannot be read.
      if (!(err instanceof KubekvError) || err.code !== 'FORBIDDEN') throw err;
      ledByError = `${err.code}: ${err.message}`;
    }
    const view: StatusView = {
      namespace: conn.namespace,
      bucket,
      keys: state.entries.size,
      bytes: state.dataBytes,
      limit: MAX_DATA_BYTES,
      usedPercent: Math.round((state.dataBytes / MAX_DATA_BYTES) * 1000) / 10,
      annotationBytes: annotationsSize(state.annotations),
      annotationLimit: MAX_ANNOTATIONS_BYTES,
      revision: state.revision,
      resourceVersion: state.resourceVersion,
      format: state.formatVersion ?? null,
      epoch: state.epoch,
      epochRaisedBy: state.leader,
      ledBy,
      ...(ledByError === undefined ? {} : { ledByError }),
      lastWriter: lastWriter(state),
      writers: state.writers.size,
      immutable: state.immutable,
    };
    const now = Date.now();
    await ctx.print(view, () =>
      renderFields([
        ['Bucket', `${view.namespace}/${bucket}`],
        ['Keys', String(view.keys)],
        ['Used', `${usedCell(view.bytes)} of 1 MiB`],
        ['Annotations', `${view.annotationBytes} B of 256 KiB`],
        ['Revision', `${view.revision} (resourceVersion ${view.resourceVersion})`],
        ['Format', view.format === null ? '<none: not written by kubekv yet>' : String(view.format)],
        ['Epoch', view.epochRaisedBy ? `${view.epoch} (raised by ${safeCell(view.epochRaisedBy)})` : `${view.epoch} (never raised)`],
        ['Led by', ledByCell(view, now)],
        ['Last writer', view.lastWriter ? `${view.lastWriter.id} (commit ${view.lastWriter.commit}, revision ${view.lastWriter.revision})` : '<none>'],
        ['Writers', `${view.writers} recorded`],
        ...(view.immutable ? [['Immutable', 'yes: no write can succeed'] as const] : []),
      ]),
    );
  },
};

function ledByCell(view: StatusView, now: number): string {
  if (view.ledByError) return `<unknown: ${view.ledByError}>`;
  if (!view.ledBy) return '<none>: writes need no --force';
  const renewed = view.ledBy.renewTime ? `, renewed ${formatAge(now - Date.parse(view.ledBy.renewTime))} ago` : '';
  return `${safeCell(view.ledBy.holder)} (Lease ${view.ledBy.lease}${renewed}): writes need --force`;
}
