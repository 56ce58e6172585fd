/**
 * The figures of the capacity benchmark (capacity.bench.ts) as plain data
 * (written as JSON too) and their markdown tables.
 */
import type { BucketShape, FillResult } from './capacity-fill.js';
import type { ObjectSizes } from './capacity-subjects.js';
import { PAIRED_WINDOWS, type PairedFigures } from './capacity-paired.js';
import { COMPACTION_WINDOW_S, STOP_AT_QUOTA_SHARE, type SustainedFigures } from './capacity-sustained.js';
import type { FollowerFigures } from './follower-process.js';
import { fixed, int, printTable, ratio } from './report.js';

const MIB = 1024 * 1024;
const mib = (n: number) => fixed(n / MIB, 1);

/** Per-put figures from the cluster's counters. */
export interface PerPutCost {
  walBytesPerPut: number;
  dbTotalBytesPerPut: number;
  dbInUseBytesPerPut: number;
  watchBytesPerPut: number;
  watchEventsPerPut: number;
  watchBytesPerEvent: number;
  /** Mean apiserver ms per write request (PATCH, PUT, POST, DELETE). */
  apiserverWriteMs: number;
  apiserverWritesPerPut: number;
  /** ConfigMap requests per put by verb (those with any). */
  apiserverRequestsPerPut: Record<string, number>;
  /** A compaction ran in between: db figures understate. */
  compacted: boolean;
}

export interface SequentialFigures extends PerPutCost {
  puts: number;
  putP50Ms: number;
  putP99Ms: number;
  watchers: number;
}

export interface ConcurrentFigures {
  writers: number;
  seconds: number;
  acked: number;
  putsPerSecond: number;
  /** Failed puts by error code. */
  failed: Record<string, number>;
  /** GET+PUT puts still retrying conflicts when the phase ended. */
  gaveUp: number;
  walBytesPerPut: number;
  watchBytesPerPut: number;
  /** apiserver write requests per acknowledged put (below 1: commits carried several puts). */
  apiserverWritesPerPut: number;
}

export interface RttFigures {
  rttMs: number;
  putP50Ms: number;
  putP99Ms: number;
  /** NaN for the bare PATCH columns (no concurrent figures). */
  concurrentPutsPerSecond: number;
  concurrentFailed: Record<string, number>;
  concurrentGaveUp: number;
}

/** One column at one bucket size. */
export interface CellFigures {
  subject: string;
  shape: string;
  bucket: string;
  fill: FillResult | undefined;
  /** Why there are no figures (e.g. "full: data (1,048,700 > 1,048,576)"). */
  unavailable: string | undefined;
  sequential?: SequentialFigures;
  concurrent?: ConcurrentFigures;
  follower?: FollowerFigures;
  rtt?: RttFigures[];
  objects?: ObjectSizes;
  /** Seconds per phase of this cell. */
  seconds: { fill?: number | undefined; sequential?: number; concurrent?: number; follower?: number; rtt?: number; total?: number };
}

export interface CapacityFigures {
  layout: string;
  shape: BucketShape;
  fill: FillResult;
  readBack:
    | {
        expected: number;
        getMatched: number;
        listConsistent: number;
        watchTreeSnapshot: number;
        openSeconds: number;
        getSeconds: number;
        listSeconds: number;
        watchTreeSeconds: number;
      }
    | undefined;
  roundTrip: { bytes: number; ok?: boolean; refusedBy?: string; putSeconds?: number; getSeconds?: number };
}

/** Everything one run measured (the JSON file). */
export interface RunFigures {
  startedAt: string;
  kubernetesVersion: string;
  config: {
    sizes: BucketShape[];
    puts: number;
    valueBytes: number;
    putKeys: number;
    followers: number;
    writers: number;
    concurrentMs: number;
    rtts: { rttMs: number; measuredAddedMs: number }[];
    rttPuts: number;
    rttConcurrentMs: number;
    followerRuns: number;
    sustainedSeconds: number;
    layouts: { id: string; label: string; options: object }[];
  };
  etcd: { quotaBytes: number; dbTotalAtStart: number; idleWalBytesPerSecond: number };
  columns: string[];
  sizes: { shape: BucketShape; cells: CellFigures[] }[];
  capacity: CapacityFigures[];
  paired: PairedFigures[];
  sustained: SustainedFigures[];
  timings: { part: string; seconds: number }[];
  /** What stopped the run early, if anything. */
  error?: string;
}

export function printLegend(run: RunFigures): void {
  const c = run.config;
  console.log('\ncapacity: what one bucket costs the cluster (etcd and apiserver metrics) as it grows, how fast it is to write and follow, how fast it fills etcd');
  console.log(`Kubernetes ${run.kubernetesVersion}; etcd quota ${mib(run.etcd.quotaBytes)} MiB, db ${mib(run.etcd.dbTotalAtStart)} MiB at start; idle etcd WAL ~${int(run.etcd.idleWalBytesPerSecond)} B/s (in every figure below)`);
  console.log(`layouts: ${c.layouts.map((l) => `${l.label} = ConfigMapStore.open(${JSON.stringify(l.options)})`).join('; ')}`);
  console.log(`delaying proxy: ${c.rtts.map((r) => `+${r.rttMs} ms RTT (measured +${fixed(r.measuredAddedMs, 2)} ms on GET /version)`).join(', ') || 'none'}`);
  console.log(`
Columns: one per kubekv layout (capacity-layouts.ts, public API only), then
  bare PATCH same    a plain ConfigMap holding the same values in binaryData, one conditional merge PATCH per put
  GET+PUT same       the same object, a GET then a PUT with its resourceVersion per put, retried on 409
                     (a read-then-write store: two round trips per put)
  bare PATCH 1-key   the PATCH of a ConfigMap holding only the changed keys (the floor)
  (no concurrent figures for the bare PATCH columns: 64 conditional PATCHes of one object only conflict)
Rows per bucket size (values incompressible; puts are ${c.valueBytes}-byte text values to ${c.putKeys === 1 ? 'one key' : `${c.putKeys} keys in turn`}):
  fill                     what was written before the measurement: MiB, keys, commits, seconds
  etcd WAL B/put ...       ${c.puts} sequential puts, ${c.followers} followers watching; deltas of cluster-wide counters / ${c.puts}:
                           etcd_disk_wal_write_bytes_total, etcd_mvcc_db_total_size_in_bytes (total) and
                           _in_use_in_bytes (in-use), apiserver_watch_events_sizes (configmaps: bytes sent to all watchers),
                           apiserver_request_duration_seconds (configmaps: requests per put by verb, ms per write)
  put p50 / p99 ms         the sequential writer's own latency (this machine is shared: indicative only)
  ${String(c.writers).padEnd(2)} writers ...          ${c.writers} concurrent writers, own keys, ${c.concurrentMs / 1000} s: acknowledged puts/s, and per acknowledged put:
                           WAL and watch bytes, apiserver writes (below 1: commits carried several puts)
  follower ...             a fresh process opening the bucket (median of ${c.followerRuns}): open-to-synced; RSS growth once synced,
                           then after one list of every key (each after a GC), in MiB and relative to the data (keys + values);
                           V8 heap used and external memory growth after the list
  +N ms RTT ...            a further writer through the delaying proxy, followers still watching: ${c.rttPuts} sequential puts (p50),
                           ${c.writers} writers for ${c.rttConcurrentMs / 1000} s (puts/s, kubekv only)
  objects                  the ConfigMaps making up the bucket after the run: count, bytes (JSON), the head's bytes
A * marks a db figure with a compaction inside its interval (then it understates).`);
}

/** The value of `f` for a cell; '-' when it has none (an unavailable cell says why in its `refused by` row). */
function cellText(cell: CellFigures, f: (c: CellFigures) => string | undefined): string {
  if (cell.unavailable) return '-';
  return f(cell) ?? '-';
}

export function printSizeTable(run: RunFigures, size: RunFigures['sizes'][number]): void {
  const { shape, cells } = size;
  const rows: string[][] = [];
  const row = (label: string, f: (c: CellFigures) => string | undefined) => rows.push([label, ...cells.map((c) => cellText(c, f))]);
  const seq = (f: (s: SequentialFigures) => string) => (c: CellFigures) => (c.sequential ? f(c.sequential) : undefined);
  const conc = (f: (s: ConcurrentFigures) => string) => (c: CellFigures) => (c.concurrent ? f(c.concurrent) : undefined);
  const fol = (f: (s: FollowerFigures) => string) => (c: CellFigures) => (c.follower ? f(c.follower) : undefined);
  const star = (s: SequentialFigures) => (s.compacted ? '*' : '');
  rows.push(['fill', ...cells.map((c) => (c.fill ? `${fixed(c.fill.bytes / MIB, 2)} MiB, ${int(c.fill.keys)} keys` : '-'))]);
  rows.push(['  commits, s', ...cells.map((c) => (c.fill ? `${int(c.fill.commits)}, ${fixed(c.fill.seconds, 1)} s` : '-'))]);
  rows.push(['  refused by', ...cells.map((c) => c.unavailable ?? '-')]);
  row('etcd WAL B/put', seq((s) => int(s.walBytesPerPut)));
  row('etcd db total B/put', seq((s) => int(s.dbTotalBytesPerPut) + star(s)));
  row('etcd db in-use B/put', seq((s) => int(s.dbInUseBytesPerPut) + star(s)));
  row('watch B/put', seq((s) => int(s.watchBytesPerPut)));
  row('watch events/put', seq((s) => `${fixed(s.watchEventsPerPut, 2)} (${s.watchers})`));
  row('watch B/event', seq((s) => int(s.watchBytesPerEvent)));
  row('apiserver requests/put', seq((s) => Object.entries(s.apiserverRequestsPerPut).map(([verb, n]) => `${verb} ${fixed(n, 2)}`).join(', ') || '-'));
  row('apiserver ms/write', seq((s) => fixed(s.apiserverWriteMs, 2)));
  row('put p50 ms', seq((s) => fixed(s.putP50Ms, 2)));
  row('put p99 ms', seq((s) => fixed(s.putP99Ms, 2)));
  row(`${run.config.writers} writers puts/s`, conc((s) => fixed(s.putsPerSecond, 0) + failures(s.failed, s.gaveUp)));
  row(`${run.config.writers} writers WAL B/put`, conc((s) => int(s.walBytesPerPut)));
  row(`${run.config.writers} writers watch B/put`, conc((s) => int(s.watchBytesPerPut)));
  row(`${run.config.writers} writers writes/put`, conc((s) => fixed(s.apiserverWritesPerPut, 2)));
  row('follower open-to-synced ms', fol((s) => fixed(s.syncedMs, 0) + (s.synced ? '' : ' NOT SYNCED')));
  const perData = (bytes: number, s: FollowerFigures) => `${fixed(bytes / MIB, 1)} (${s.keyBytes + s.valueBytes > 0 ? fixed(bytes / (s.keyBytes + s.valueBytes), 2) : '-'}x)`;
  row('follower RSS at synced MiB (/data)', fol((s) => perData(s.atSynced.rss, s)));
  row('follower RSS after list MiB (/data)', fol((s) => perData(s.rssDelta, s)));
  row('  heap / external MiB', fol((s) => `${fixed(s.afterList.heapUsed / MIB, 1)} / ${fixed(s.afterList.external / MIB, 1)}`));
  row('follower keys seen', fol((s) => int(s.keys)));
  for (const [i, { rttMs }] of run.config.rtts.entries()) {
    const rtt = (f: (r: RttFigures) => string) => (c: CellFigures) => (c.rtt?.[i] ? f(c.rtt[i]) : undefined);
    row(`+${rttMs} ms RTT put p50 ms`, rtt((r) => fixed(r.putP50Ms, 2)));
    row(`+${rttMs} ms RTT ${run.config.writers} writers/s`, rtt((r) => fixed(r.concurrentPutsPerSecond, 0) + failures(r.concurrentFailed, r.concurrentGaveUp)));
  }
  row('objects', (c) => (c.objects ? `${c.objects.count}, ${int(c.objects.bytes)} B` : undefined));
  row('  head object B', (c) => (c.objects ? int(c.objects.headBytes) : undefined));
  row('  managedFields B', (c) => (c.objects ? int(c.objects.managedFieldsBytes) : undefined));
  row('  annotations B', (c) => (c.objects ? int(c.objects.annotationBytes) : undefined));
  rows.push(['time s', ...cells.map((c) => fixed(c.seconds.total ?? Number.NaN, 1))]);
  printTable(`### bucket of ${shape.label} (${int(shape.bytes)} bytes of incompressible values in ${int(shape.keys)} keys)`, ['', ...cells.map((c) => c.subject)], rows);
}

function failures(failed: Record<string, number>, gaveUp: number): string {
  const parts = Object.entries(failed).map(([code, n]) => `${n} ${code}`);
  if (gaveUp > 0) parts.push(`${gaveUp} gave up`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** Each larger size / the smallest, per column. */
export function printRatios(run: RunFigures): void {
  if (run.sizes.length < 2) return;
  const small = run.sizes[0]!;
  const rows: string[][] = [];
  for (const size of run.sizes.slice(1)) {
    const row = (what: string, f: (c: CellFigures) => number) =>
      rows.push([
        `${size.shape.label}: ${what}`,
        ...size.cells.map((c, i) => {
          const base = small.cells[i]!;
          if (c.unavailable) return c.unavailable.split(':')[0]!;
          return base.unavailable ? '-' : ratio(f(c), f(base));
        }),
      ]);
    row('etcd WAL B/put', (c) => c.sequential?.walBytesPerPut ?? Number.NaN);
    row('watch B/put', (c) => c.sequential?.watchBytesPerPut ?? Number.NaN);
    row('etcd db in-use B/put', (c) => c.sequential?.dbInUseBytesPerPut ?? Number.NaN);
    row('put p50', (c) => c.sequential?.putP50Ms ?? Number.NaN);
    row(`${run.config.writers} writers puts/s`, (c) => c.concurrent?.putsPerSecond ?? Number.NaN);
  }
  printTable(`### ratio of each bucket size to the ${small.shape.label} bucket, per column`, ['', ...run.columns], rows);
}

export function printCapacity(run: RunFigures): void {
  if (run.capacity.length === 0) return;
  const rows: string[][] = [];
  const row = (label: string, f: (c: CapacityFigures) => string) => rows.push([label, ...run.capacity.map(f)]);
  const shape = run.capacity[0]!.shape;
  row('accepted', (c) => `${fixed(c.fill.bytes / MIB, 2)} MiB, ${int(c.fill.keys)} keys`);
  row('refused by', (c) => c.fill.refusedBy ?? 'nothing (all of it fit)');
  row('fill commits, s', (c) => `${int(c.fill.commits)}, ${fixed(c.fill.seconds, 1)} s`);
  row('fill MiB/s', (c) => fixed(c.fill.bytes / MIB / c.fill.seconds, 2));
  const rb = (f: (r: NonNullable<CapacityFigures['readBack']>) => string) => (c: CapacityFigures) => (c.readBack ? f(c.readBack) : '-');
  row('fresh store open s', rb((r) => fixed(r.openSeconds, 2)));
  row('get: values matching', rb((r) => `${int(r.getMatched)} / ${int(r.expected)}`));
  row('list({ consistent }) keys', rb((r) => `${int(r.listConsistent)} (${fixed(r.listSeconds, 2)} s)`));
  row('watchTree snapshot keys', rb((r) => `${int(r.watchTreeSnapshot)} (${fixed(r.watchTreeSeconds, 2)} s)`));
  row(`one ${int(run.capacity[0]!.roundTrip.bytes / MIB)} MiB value`, (c) =>
    c.roundTrip.refusedBy ? `refused: ${c.roundTrip.refusedBy}` : c.roundTrip.ok ? `round-trips (put ${fixed(c.roundTrip.putSeconds ?? Number.NaN, 2)} s, get ${fixed(c.roundTrip.getSeconds ?? Number.NaN, 2)} s)` : 'DIFFERS',
  );
  printTable(`### capacity: the ${shape.label} fill, read back by a store that did not write it`, ['', ...run.capacity.map((c) => c.layout)], rows);
}

export function printSustained(run: RunFigures): void {
  if (run.sustained.length === 0) return;
  const rows: string[][] = [];
  const row = (label: string, f: (s: SustainedFigures) => string) => rows.push([label, ...run.sustained.map(f)]);
  const rate = (s: SustainedFigures) => s.inUseAddedBytes / s.seconds;
  row('bucket', (s) => s.shape);
  row('seconds', (s) => fixed(s.seconds, 0) + (s.stoppedEarly ? ` (stopped: ${s.stoppedEarly})` : ''));
  row('puts (failed)', (s) => `${int(s.puts)} (${int(s.failed)})`);
  row('puts/s', (s) => fixed(s.putsPerSecond, 1));
  row('put p50 / p99 ms', (s) => `${fixed(s.putP50Ms, 1)} / ${fixed(s.putP99Ms, 1)}`);
  row('etcd WAL MiB (B/put)', (s) => `${mib(s.walBytes)} (${int(s.walBytes / s.puts)})`);
  row('db in-use added MiB', (s) => mib(s.inUseAddedBytes) + (s.compactedDuring ? '*' : ''));
  row('  per put B', (s) => int(s.inUseAddedBytes / s.puts));
  row('  MiB/s', (s) => fixed(rate(s) / MIB, 2));
  row(`  in the first ${COMPACTION_WINDOW_S / 60} min MiB`, (s) => (Number.isNaN(s.inUseAddedFirstWindowBytes) ? `${int((rate(s) * COMPACTION_WINDOW_S) / MIB)} (projected)` : mib(s.inUseAddedFirstWindowBytes)));
  row('db total MiB start -> end', (s) => `${mib(s.start.dbTotal)} -> ${mib(s.end.dbTotal)}`);
  row('db in-use MiB start -> end', (s) => `${mib(s.start.dbInUse)} -> ${mib(s.end.dbInUse)}`);
  row('  after compaction', (s) => `${mib(s.afterCompaction.dbInUse)} in use, ${mib(s.afterCompaction.dbTotal)} total`);
  row(`s to the ${mib(run.etcd.quotaBytes)} MiB quota from end`, (s) => int((s.quotaBytes - s.end.dbInUse) / rate(s)));
  row('s to quota from an empty db', (s) => int(s.quotaBytes / rate(s)));
  row('puts to quota from empty', (s) => int(s.quotaBytes / (s.inUseAddedBytes / s.puts)));
  printTable(
    `### sustained: one writer, sequential ${run.config.valueBytes}-byte puts into the largest bucket each layout held, ${run.config.sustainedSeconds} s (--sustained), no followers, etcd compacted first`,
    ['', ...run.sustained.map((s) => s.layout)],
    rows,
  );
  console.log(`(db in-use added: the sum of the in-use size's increases between 1 s scrapes, compactions not subtracted; * = the apiserver
 compacted during the run. Projections assume the rate holds and nothing compacts; the run stops early past ${STOP_AT_QUOTA_SHARE * 100}% of the quota.)`);
}

/** Issue 19's Benchmark targets beside the measured figures, per kubekv layout (nothing asserts them). */
export function printTargets(run: RunFigures): void {
  if (run.sizes.length === 0) return;
  const small = run.sizes[0]!;
  const big = run.sizes.reduce((a, b) => (b.shape.bytes > a.shape.bytes || (b.shape.bytes === a.shape.bytes && b.shape.keys > a.shape.keys) ? b : a));
  const layouts = run.config.layouts.map((l) => l.label);
  const rows: string[][] = [];
  const cellOf = (size: RunFigures['sizes'][number], label: string) => size.cells.find((c) => c.subject === label)!;
  /** The largest size at which `label` held its fill (for a layout that refused the largest). */
  const heldOf = (label: string) => [...run.sizes].reverse().find((size) => size !== small && !cellOf(size, label).unavailable);
  const vs = (f: (c: CellFigures) => number | undefined) => (label: string) => {
    const measure = (size: RunFigures['sizes'][number]) => ratio(f(cellOf(size, label)) ?? Number.NaN, f(cellOf(small, label)) ?? Number.NaN);
    const a = cellOf(big, label);
    if (!a.unavailable) return measure(big);
    const held = heldOf(label);
    return `- (${a.unavailable.split(':')[0]})${held ? `; ${measure(held)} at ${held.shape.label}` : ''}`;
  };
  const row = (target: string, f: (label: string) => string) => rows.push([target, ...layouts.map(f)]);
  row(`holds ${big.shape.label}`, (l) => {
    const c = run.capacity.find((x) => x.layout === l);
    return c ? (c.fill.refusedBy ? `no: ${fixed(c.fill.bytes / MIB, 2)} MiB, ${int(c.fill.keys)} keys, then ${c.fill.refusedBy}` : 'yes') : '-';
  });
  row('all of it readable (get, list, watchTree)', (l) => {
    const r = run.capacity.find((x) => x.layout === l)?.readBack;
    return r ? (r.getMatched === r.expected && r.listConsistent === r.expected && r.watchTreeSnapshot === r.expected ? `yes, ${int(r.expected)} keys` : 'NO') : '-';
  });
  row('one 8 MiB value round-trips', (l) => {
    const c = run.capacity.find((x) => x.layout === l)?.roundTrip;
    return c ? (c.ok ? 'yes' : c.refusedBy ? 'no (refused)' : 'NO (differs)') : '-';
  });
  row('WAL B/put, largest / smallest <= 2x', vs((c) => c.sequential?.walBytesPerPut));
  row('watch B/put, largest / smallest <= 2x', vs((c) => c.sequential?.watchBytesPerPut));
  row('put p50, largest / smallest <= 1.5x (paired)', (l) => {
    const p = run.paired.find((x) => x.layout === l);
    return p ? `${fixed(p.p50Ratio, 2)}x (${fixed(p.big.putP50Ms, 2)} vs ${fixed(p.small.putP50Ms, 2)} ms${p.big.shape === big.shape.label ? '' : `, largest held ${p.big.shape}`})` : '-';
  });
  row('put p50, largest / smallest (sizes part, minutes apart)', vs((c) => c.sequential?.putP50Ms));
  row(`${run.config.writers} writers puts/s, largest / smallest >= 0.8x (paired)`, (l) => {
    const p = run.paired.find((x) => x.layout === l);
    return p ? `${fixed(p.concurrent.ratio, 2)}x (${int(p.concurrent.big)} vs ${int(p.concurrent.small)}/s)` : '-';
  });
  row(`${run.config.writers} writers puts/s, largest / smallest (sizes part)`, vs((c) => c.concurrent?.putsPerSecond));
  row('follower RSS / data (at synced), largest <= 3x', (l) => {
    const c = cellOf(big, l);
    const held = c.unavailable ? heldOf(l) : big;
    const f = held && cellOf(held, l).follower;
    if (!f) return '-';
    const data = f.keyBytes + f.valueBytes;
    const figure = `${fixed(f.atSynced.rss / data, 2)}x at synced, ${fixed(f.rssDelta / data, 2)}x after a list (open-to-synced ${fixed(f.syncedMs, 0)} ms)`;
    return held === big ? figure : `- (${c.unavailable!.split(':')[0]}); ${figure} at ${held.shape.label}`;
  });
  row(`db growth in ${COMPACTION_WINDOW_S / 60} min of puts into the largest <= 200 MiB`, (l) => {
    const s = run.sustained.find((x) => x.layout === l);
    if (!s) return '-';
    const window = Number.isNaN(s.inUseAddedFirstWindowBytes) ? `${int(((s.inUseAddedBytes / s.seconds) * COMPACTION_WINDOW_S) / MIB)} MiB projected from ${fixed(s.seconds, 0)} s` : `${mib(s.inUseAddedFirstWindowBytes)} MiB`;
    return s.shape === big.shape.label ? window : `- (not held); ${window} at ${s.shape}`;
  });
  printTable(
    `### issue 19's Benchmark targets beside this run (largest = ${big.shape.label}, smallest = ${small.shape.label}; per kubekv layout; nothing asserts them)`,
    ['target', ...layouts],
    rows,
  );
}

/** The paired part: put latency on the smallest and largest bucket in alternation. */
export function printPaired(run: RunFigures): void {
  if (run.paired.length === 0) return;
  printTable(
    `### put latency and 64 writers' throughput, smallest and largest bucket in alternation (${run.paired[0]!.rounds} rounds, then ${PAIRED_WINDOWS} 1 s windows each; no followers)`,
    ['layout', 'smallest', 'p50 / p99 ms', 'largest', 'p50 / p99 ms', 'p50 largest / smallest', '64 writers puts/s smallest / largest (ratio)'],
    run.paired.map((p) => [
      p.layout,
      p.small.shape,
      `${fixed(p.small.putP50Ms, 2)} / ${fixed(p.small.putP99Ms, 2)}`,
      p.big.shape,
      `${fixed(p.big.putP50Ms, 2)} / ${fixed(p.big.putP99Ms, 2)}`,
      `${fixed(p.p50Ratio, 2)}x`,
      `${int(p.concurrent.small)} / ${int(p.concurrent.big)} (${fixed(p.concurrent.ratio, 2)}x${p.concurrent.failed > 0 ? `, ${p.concurrent.failed} failed` : ''})`,
    ]),
  );
}

export function printTimings(run: RunFigures): void {
  printTable('### time per part', ['part', 's'], run.timings.map((t) => [t.part, fixed(t.seconds, 1)]));
}
