/**
 * The sustained part of the capacity benchmark (`-- capacity --sustained
 * <seconds>`, default 20): one writer, no followers, sequential 100-byte
 * puts into a layout's largest bucket for that long, and what it does to
 * etcd's database (etcd_mvcc_db_total_size_in_bytes, and
 * etcd_mvcc_db_total_size_in_use_in_bytes, scraped every second).
 *
 * etcd is compacted first (as the apiserver does every 5 minutes) and
 * defragmented, so the in-use and total sizes start at the live data. The growth figure is the sum of the
 * in-use size's increases between scrapes: what the puts added, with any
 * compaction during the run (the apiserver's own, every 5 minutes) not
 * subtracted, i.e. what one compaction window has to hold. The projection
 * to the quota assumes the rate holds and nothing compacts, as the issue's
 * measurement on main did (1,954 MiB in 253 s from a 900 KiB bucket).
 *
 * It stops by itself: after the given seconds, or as soon as the database
 * (total or in use) passes PROJECTION_STOP_AT_QUOTA_SHARE of etcd's quota,
 * so it never drives etcd to NOSPACE. Traffic stays on loopback.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ControlPlane } from '../test/controlplane/index.js';
import { openLayout, type StoreLayout } from './capacity-layouts.js';
import type { Context } from './capacity-subjects.js';
import { costBetween, scrapeCluster, settleBackend } from './cluster-metrics.js';
import { quantile } from './stats.js';

const execFileAsync = promisify(execFile);

/** Share of etcd's quota at which the run stops early. */
export const STOP_AT_QUOTA_SHARE = 0.5;
/** The apiserver's default --etcd-compaction-interval, in s. */
export const COMPACTION_WINDOW_S = 300;

/** Figures of one sustained run (JSON-friendly). */
export interface SustainedFigures {
  layout: string;
  bucket: string;
  /** The bucket's size row (e.g. "900 KiB"). */
  shape: string;
  targetSeconds: number;
  /** Seconds of the put loop. */
  seconds: number;
  puts: number;
  failed: number;
  putsPerSecond: number;
  putP50Ms: number;
  putP99Ms: number;
  /** Why it stopped before targetSeconds, if it did. */
  stoppedEarly: string | undefined;
  quotaBytes: number;
  walBytes: number;
  start: { dbTotal: number; dbInUse: number };
  end: { dbTotal: number; dbInUse: number };
  afterCompaction: { dbTotal: number; dbInUse: number };
  /** Sum of the in-use size's increases between scrapes (compactions not subtracted). */
  inUseAddedBytes: number;
  /** The same for the first COMPACTION_WINDOW_S of the run (NaN when the run was shorter). */
  inUseAddedFirstWindowBytes: number;
  /** A compaction (the apiserver's) happened during the put loop. */
  compactedDuring: boolean;
  /** One sample per scrape: seconds into the loop, puts so far, db total and in use. */
  samples: { t: number; puts: number; dbTotal: number; dbInUse: number }[];
}

/** Compacts etcd at its current revision, as the apiserver does every 5 minutes (no apiserver restart: no watch spans it here). */
export async function compactEtcd(cp: ControlPlane): Promise<void> {
  await execFileAsync(cp.binary, ['compact', '--etcd', cp.etcdUrl]);
  await settleBackend();
}

/**
 * Defragments etcd (its gRPC gateway's maintenance endpoint, on loopback), so
 * the database's total size shrinks to what is in use. Compaction alone
 * frees pages but keeps the file: without this, one layout's sustained run
 * would leave the total past the early-stop share for the next layout's.
 */
export async function defragmentEtcd(cp: ControlPlane): Promise<void> {
  const answer = await fetch(new URL('/v3/maintenance/defragment', cp.etcdUrl), { method: 'POST', body: '{}', signal: AbortSignal.timeout(120_000) });
  if (!answer.ok) throw new Error(`etcd defragment: HTTP ${answer.status} ${await answer.text()}`);
  await settleBackend();
}

/** Runs sequential puts of `value()` to `key(i)` into `bucket` for `seconds`; see the module doc. */
export async function runSustained(
  cp: ControlPlane,
  ctx: Context,
  layout: StoreLayout,
  bucket: { name: string; shape: string },
  seconds: number,
  key: (i: number) => string,
  value: () => string,
): Promise<SustainedFigures> {
  const store = await openLayout(layout, { name: bucket.name, namespace: ctx.namespace, kubeConfig: ctx.kc, create: false });
  try {
    await store.put(key(0), value());
    await compactEtcd(cp);
    await defragmentEtcd(cp);
    const before = await scrapeCluster(ctx.kc, cp.etcdUrl);
    const samples: SustainedFigures['samples'] = [];
    const latencies: number[] = [];
    let failed = 0;
    let stop = false;
    let stoppedEarly: string | undefined;
    let inUseAdded = 0;
    let inUseAddedFirstWindow = Number.NaN;
    let lastInUse = before.dbInUseBytes;
    const loopStarted = performance.now();
    const deadline = loopStarted + seconds * 1000;
    const monitor = (async () => {
      while (!stop) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const now = await scrapeCluster(ctx.kc, cp.etcdUrl);
        const t = (now.at - loopStarted) / 1000;
        if (now.dbInUseBytes > lastInUse) inUseAdded += now.dbInUseBytes - lastInUse;
        lastInUse = now.dbInUseBytes;
        if (t >= COMPACTION_WINDOW_S && Number.isNaN(inUseAddedFirstWindow)) inUseAddedFirstWindow = inUseAdded;
        samples.push({ t, puts: latencies.length, dbTotal: now.dbTotalBytes, dbInUse: now.dbInUseBytes });
        const limit = now.quotaBytes * STOP_AT_QUOTA_SHARE;
        if (now.dbTotalBytes > limit || now.dbInUseBytes > limit) {
          stoppedEarly = `etcd db passed ${STOP_AT_QUOTA_SHARE * 100}% of its quota after ${t.toFixed(0)} s`;
          stop = true;
        }
      }
    })();
    for (let i = 1; !stop && performance.now() < deadline; i++) {
      const started = performance.now();
      try {
        await store.put(key(i), value());
        latencies.push(performance.now() - started);
      } catch (err) {
        failed++;
        console.error(`[capacity] sustained put failed: ${String(err)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const loopSeconds = (performance.now() - loopStarted) / 1000;
    stop = true;
    await monitor;
    await settleBackend();
    const after = await scrapeCluster(ctx.kc, cp.etcdUrl);
    if (after.dbInUseBytes > lastInUse) inUseAdded += after.dbInUseBytes - lastInUse;
    const cost = costBetween(before, after);
    await compactEtcd(cp);
    const compacted = await scrapeCluster(ctx.kc, cp.etcdUrl);
    return {
      layout: layout.label,
      bucket: bucket.name,
      shape: bucket.shape,
      targetSeconds: seconds,
      seconds: loopSeconds,
      puts: latencies.length,
      failed,
      putsPerSecond: latencies.length / loopSeconds,
      putP50Ms: quantile(latencies, 0.5),
      putP99Ms: quantile(latencies, 0.99),
      stoppedEarly,
      quotaBytes: after.quotaBytes,
      walBytes: cost.walBytes,
      start: { dbTotal: before.dbTotalBytes, dbInUse: before.dbInUseBytes },
      end: { dbTotal: after.dbTotalBytes, dbInUse: after.dbInUseBytes },
      afterCompaction: { dbTotal: compacted.dbTotalBytes, dbInUse: compacted.dbInUseBytes },
      inUseAddedBytes: inUseAdded,
      inUseAddedFirstWindowBytes: inUseAddedFirstWindow,
      compactedDuring: cost.compacted,
      samples,
    };
  } finally {
    await store.close();
  }
}
