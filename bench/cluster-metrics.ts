/**
 * What a workload costs the cluster, read from the cluster's own metrics:
 * etcd's /metrics on its client URL (plain HTTP on loopback in the test
 * control plane) and the apiserver's /metrics (the admin identity may read
 * it). A scrape is one snapshot of the cumulative counters and gauges below;
 * {@link costBetween} turns two snapshots into what happened in between.
 *
 * Counters are cluster-wide: everything else the control plane does in the
 * interval (the apiserver's own lease renewals, other benchmarks) is in them
 * too. On an otherwise idle control plane that is a few hundred bytes per
 * ten seconds (see {@link idleWalBytesPerSecond}).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeTransport } from '../src/kube/transport.js';
import { requestTimesOf } from './apiserver-time.js';

/** One snapshot of the figures a bucket's cost is judged by. */
export interface ClusterSnapshot {
  /** performance.now() when the scrape began. */
  at: number;
  /** etcd_disk_wal_write_bytes_total: bytes etcd appended to its write-ahead log. */
  walBytes: number;
  /** etcd_mvcc_db_total_size_in_bytes: the backend's size (what the quota is checked against). */
  dbTotalBytes: number;
  /** etcd_mvcc_db_total_size_in_use_in_bytes: the same minus free pages (NaN if etcd does not export it). */
  dbInUseBytes: number;
  /** etcd_server_quota_backend_bytes: the database quota (2 GiB by default). */
  quotaBytes: number;
  /** etcd_debugging_mvcc_compact_revision (NaN if absent): changes when anyone compacts. */
  compactRevision: number;
  /** etcd_debugging_mvcc_current_revision (NaN if absent). */
  currentRevision: number;
  /** apiserver_watch_events_sizes sum / count for configmaps: bytes (and events) sent to watchers. */
  watchBytes: number;
  watchEvents: number;
  /** apiserver_request_duration_seconds sum / count per verb for configmaps (no subresource). */
  requestSeconds: Map<string, { seconds: number; count: number }>;
}

/** What happened between two snapshots. */
export interface ClusterCost {
  seconds: number;
  walBytes: number;
  dbTotalBytes: number;
  dbInUseBytes: number;
  watchBytes: number;
  watchEvents: number;
  /** True when a compaction (by the apiserver every 5 minutes, or by us) ran in between: db deltas then understate. */
  compacted: boolean;
  /** etcd revisions made in between (every write in the cluster). */
  revisions: number;
  /** Mean apiserver ms per configmaps request of `verb` in between (NaN when none). */
  requestMs(verb: string): number;
  /** configmaps requests of `verb` in between. */
  requests(verb: string): number;
}

/** The unlabelled (or only-labelled) value of `name` in Prometheus text, NaN when absent. */
function gauge(text: string, name: string): number {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

/** Scrapes etcd (`etcdUrl`) and the apiserver (through `kc`) once, both at about the same moment. */
export async function scrapeCluster(kc: KubeConfig, etcdUrl: string): Promise<ClusterSnapshot> {
  const at = performance.now();
  const [etcdText, apiText] = await Promise.all([
    fetch(`${etcdUrl}/metrics`).then(async (res) => {
      if (!res.ok) throw new Error(`etcd /metrics answered ${res.status}`);
      return res.text();
    }),
    KubeTransport.for(kc).sendText({ method: 'GET', path: '/metrics' }),
  ]);
  let watchBytes = 0;
  let watchEvents = 0;
  const requestSeconds = requestTimesOf(apiText);
  for (const line of apiText.split('\n')) {
    const watch = /^apiserver_watch_events_sizes_(sum|count)\{(.*)\} (\S+)$/.exec(line);
    if (watch && /(^|,)resource="configmaps"/.test(watch[2]!)) {
      if (watch[1] === 'sum') watchBytes += Number(watch[3]);
      else watchEvents += Number(watch[3]);
    }
  }
  return {
    at,
    walBytes: gauge(etcdText, 'etcd_disk_wal_write_bytes_total'),
    dbTotalBytes: gauge(etcdText, 'etcd_mvcc_db_total_size_in_bytes'),
    dbInUseBytes: gauge(etcdText, 'etcd_mvcc_db_total_size_in_use_in_bytes'),
    quotaBytes: gauge(etcdText, 'etcd_server_quota_backend_bytes'),
    compactRevision: gauge(etcdText, 'etcd_debugging_mvcc_compact_revision'),
    currentRevision: gauge(etcdText, 'etcd_debugging_mvcc_current_revision'),
    watchBytes,
    watchEvents,
    requestSeconds,
  };
}

/** The difference `after - before`. */
export function costBetween(before: ClusterSnapshot, after: ClusterSnapshot): ClusterCost {
  const verbDelta = (verb: string) => {
    const a = before.requestSeconds.get(verb) ?? { seconds: 0, count: 0 };
    const b = after.requestSeconds.get(verb) ?? { seconds: 0, count: 0 };
    return { seconds: b.seconds - a.seconds, count: b.count - a.count };
  };
  return {
    seconds: (after.at - before.at) / 1000,
    walBytes: after.walBytes - before.walBytes,
    dbTotalBytes: after.dbTotalBytes - before.dbTotalBytes,
    dbInUseBytes: after.dbInUseBytes - before.dbInUseBytes,
    watchBytes: after.watchBytes - before.watchBytes,
    watchEvents: after.watchEvents - before.watchEvents,
    compacted: after.compactRevision !== before.compactRevision,
    revisions: after.currentRevision - before.currentRevision,
    requestMs(verb) {
      const d = verbDelta(verb);
      return d.count > 0 ? (d.seconds * 1000) / d.count : Number.NaN;
    },
    requests: (verb) => verbDelta(verb).count,
  };
}

/**
 * etcd WAL bytes per second while nothing but the control plane itself runs,
 * over `ms` (the apiserver renews its identity lease every 10 s, so short
 * windows see 0 or one renewal).
 */
export async function idleWalBytesPerSecond(kc: KubeConfig, etcdUrl: string, ms: number): Promise<number> {
  const before = await scrapeCluster(kc, etcdUrl);
  await new Promise((resolve) => setTimeout(resolve, ms));
  const cost = costBetween(before, await scrapeCluster(kc, etcdUrl));
  return cost.walBytes / cost.seconds;
}

/**
 * Waits until etcd's backend has committed what was written: bbolt commits
 * its batch every 100 ms and the size gauges change only then. Scrape
 * after this, not right after the last write.
 */
export async function settleBackend(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 250));
}
