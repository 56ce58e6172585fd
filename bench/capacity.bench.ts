/**
 * `npm run bench -- capacity`: what one bucket costs the cluster per write,
 * how large it may grow, and how fast it fills etcd, judged by the cluster's
 * own metrics (cluster-metrics.ts: etcd's /metrics and the apiserver's). It
 * is the instrument for issue 19 (head object + immutable chunks): today's
 * single-ConfigMap layout is one column, and the new layout becomes another
 * by adding it to capacity-layouts.ts.
 *
 * Sections, all in one run against one control plane:
 * 1. Cost per put. For buckets pre-filled with incompressible values to
 *    each of SIZES_KIB, PUTS sequential puts of a VALUE_BYTES value to one
 *    key, with FOLLOWERS followers watching. Columns: every kubekv layout,
 *    then a bare merge PATCH (conditional on resourceVersion, like a kubekv
 *    put) of a plain ConfigMap holding the same data, then the floor: the
 *    same PATCH of a one-key ConfigMap. Rows: etcd WAL bytes, etcd db growth
 *    (total and in use), watch bytes and events sent by the apiserver, the
 *    apiserver's mean time per PATCH, put p50 / p99, and the object's size.
 *    Then the ratios largest / smallest bucket.
 * 2. Capacity: per layout, the largest bucket it accepts, filled with
 *    64 KiB incompressible values (halving the value size after each
 *    refusal, down to 1 KiB), and with short keys of 1-byte values (batches
 *    halving after each refusal); keys, bytes and the limit that refused
 *    (BucketFullError.limitName). Capped at CAP_BYTES / CAP_KEYS for
 *    layouts that would never refuse.
 * 3. A follower (a fresh process, FOLLOWER_RUNS times) opening each of
 *    those buckets: open and open-to-synced time, RSS and heap growth.
 * 4. A bounded projection: one writer, no followers, sequential puts into a
 *    PROJECTION_KIB bucket for PROJECTION_MS, etcd compacted before and
 *    after; etcd db growth per second and the projected time to its quota.
 *    Stops early if the database passes half its quota; never drives etcd to
 *    NOSPACE.
 *
 * Bytes are stable under load; times are not (the machine is shared):
 * judge by bytes, read times as indications. Environment knobs:
 * KUBEKV_BENCH_CAPACITY_SIZES (KiB, comma-separated, default 10,100,900),
 * KUBEKV_BENCH_CAPACITY_PROJECTION_KIB (default 900),
 * KUBEKV_BENCH_CAPACITY_PROJECTION_MS (default 20000). For issue 19's
 * closing figures: SIZES 10,100,900,65536, PROJECTION_KIB 65536 and
 * PROJECTION_MS 300000 (a layout that cannot hold a size shows why in its
 * cells instead of figures).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Watch, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { BucketFullError, type BatchOperation, type Store } from '../src/index.js';
import { KubeTransport } from '../src/kube/transport.js';
import { repoRoot } from '../test/controlplane/build.js';
import type { ControlPlane } from '../test/controlplane/index.js';
import { storeLayouts, type StoreLayout } from './capacity-layouts.js';
import { costBetween, idleWalBytesPerSecond, scrapeCluster, settleBackend, type ClusterCost } from './cluster-metrics.js';
import { quantile, timeEach } from './stats.js';

const execFileAsync = promisify(execFile);

const KIB = 1024;
const MIB = 1024 * KIB;
const SIZES_KIB = (process.env.KUBEKV_BENCH_CAPACITY_SIZES ?? '10,100,900').split(',').map(Number);
/** Sequential puts per bucket size and column. */
const PUTS = 100;
/** Size of each measured put's value (text, so it is stored as is). */
const VALUE_BYTES = 100;
/** Stores (or bare watches) following the bucket while it is written. */
const FOLLOWERS = 3;
/** Pre-fill: incompressible values of this size, written in commits of at most FILL_COMMIT_BYTES. */
const FILL_VALUE_BYTES = 8 * KIB;
const FILL_COMMIT_BYTES = 256 * KIB;
/** Capacity fill: start value size and the size below which it stops halving. */
const CAPACITY_VALUE_BYTES = 64 * KIB;
const CAPACITY_MIN_VALUE_BYTES = KIB;
/** Capacity fill: keys per batch at first (halved after each refusal). */
const CAPACITY_KEYS_BATCH = 1024;
/** Where the capacity fill stops for a layout that never refuses (issue 19's targets). */
const CAP_BYTES = 64 * MIB;
const CAP_KEYS = 100_000;
/** Projection: bucket size, run time, and the share of etcd's quota at which it stops early. */
const PROJECTION_KIB = Number(process.env.KUBEKV_BENCH_CAPACITY_PROJECTION_KIB ?? 900);
const PROJECTION_MS = Number(process.env.KUBEKV_BENCH_CAPACITY_PROJECTION_MS ?? 20_000);
const PROJECTION_STOP_AT_QUOTA_SHARE = 0.5;
/** The apiserver's default --etcd-compaction-interval. */
const COMPACTION_WINDOW_S = 300;
/** Follower processes per full bucket; the figures are their medians (RSS especially varies from process to process). */
const FOLLOWER_RUNS = 3;
/** Longest wait for followers to see the last put. */
const FOLLOW_TIMEOUT_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const mib = (n: number) => fixed(n / MIB, 1);
/** a / b, or '-' when either is not a positive figure (in-use deltas of a tiny workload are noise around 0). */
const ratio = (a: number, b: number) => (Number.isFinite(a / b) && a >= 0 && b > 0 ? `${(a / b).toFixed(1)}x` : '-');

/** What the benchmark's phases share. */
interface Context {
  cp: ControlPlane;
  kc: KubeConfig;
  namespace: string;
  transport: KubeTransport;
}

/** A bucket ready for the measured puts, its followers already watching. */
interface PreparedBucket {
  /** One put of `value` to one key; resolves with the resourceVersion it made. */
  put(value: string): Promise<string>;
  /** Resolves once every follower has seen `resourceVersion` (or a later one). */
  followersAt(resourceVersion: string): Promise<void>;
  /** Clients receiving each commit on a watch (followers, plus the writer's own cache if it has one). */
  watchers: number;
  /** ConfigMaps making up the bucket, for the size rows. */
  objects: string[];
  close(): Promise<void>;
}

/** One column of the cost table. */
interface CostSubject {
  label: string;
  /** A bucket `name` holding about `fillBytes` of incompressible values, or why this subject cannot hold it. */
  prepare(ctx: Context, name: string, fillBytes: number): Promise<PreparedBucket | { unavailable: string }>;
}

/** One cell of the cost table. */
interface CostCell {
  cost: ClusterCost;
  latencies: number[];
  watchers: number;
  objectBytes: number;
  managedFieldsBytes: number;
  annotationBytes: number;
}

/** Runs the capacity benchmark and prints its tables. */
export async function benchCapacity(cp: ControlPlane): Promise<void> {
  const kc = cp.adminKubeConfig();
  const ctx: Context = { cp, kc, namespace: await cp.freshNamespace('bench-capacity'), transport: KubeTransport.for(kc) };
  const started = performance.now();
  const first = await scrapeCluster(kc, cp.etcdUrl);
  const idle = await idleWalBytesPerSecond(kc, cp.etcdUrl, 3000);
  console.log('\ncapacity: what one bucket costs the cluster (etcd and apiserver metrics), how large it grows, how fast it fills etcd');
  console.log(`  Kubernetes ${cp.stats().kubernetesVersion}; etcd quota ${mib(first.quotaBytes)} MiB, db ${mib(first.dbTotalBytes)} MiB at start; idle etcd WAL ~${int(idle)} B/s (in every figure below)`);
  printLegend();

  const subjects: CostSubject[] = [...storeLayouts.map(kubekvSubject), barePatchSubject('bare PATCH same', true), barePatchSubject('bare PATCH 1-key', false)];
  const bySize = new Map<number, Map<string, CostCell | string>>();
  for (const kib of SIZES_KIB) {
    const row = new Map<string, CostCell | string>();
    for (const subject of subjects) row.set(subject.label, await measureCost(ctx, subject, kib));
    bySize.set(kib, row);
    printCostTable(kib, subjects, row);
  }
  printRatios(subjects, bySize);

  const capacities = new Map<string, Capacity>();
  for (const layout of storeLayouts) capacities.set(layout.label, await measureCapacity(ctx, layout));
  printCapacity(capacities);

  const projections = new Map<string, Projection | string>();
  for (const layout of storeLayouts) projections.set(layout.label, await measureProjection(ctx, layout));
  printProjection(projections);
  console.log(`  (capacity benchmark took ${fixed((performance.now() - started) / 1000, 0)} s)`);
}

function printLegend(): void {
  console.log(`
  Columns: one per bucket layout measured through kubekv's public API (capacity-layouts.ts), then
    bare PATCH same   a plain ConfigMap holding the same values in binaryData, changed by one
                      conditional merge PATCH per put (the cost of the object's size alone)
    bare PATCH 1-key  the same PATCH of a ConfigMap holding only the changed key (the floor)
  Rows of the cost tables (${PUTS} sequential puts of a ${VALUE_BYTES}-byte text value to one key, ${FOLLOWERS} followers watching;
  deltas of cluster-wide counters between just before the first and just after the last put, / ${PUTS}):
    etcd WAL B/put        etcd_disk_wal_write_bytes_total: what etcd logs (and replicates) per put
    etcd db total B/put   etcd_mvcc_db_total_size_in_bytes: database growth (what the quota counts)
    etcd db in-use B/put  etcd_mvcc_db_total_size_in_use_in_bytes: the same without free pages
    watch B/put           apiserver_watch_events_sizes sum (configmaps): bytes sent to all watchers
    watch events/put      its count per put (in parentheses: watchers, incl. a kubekv writer's own cache)
    watch B/event         the two divided: what one watcher is sent per commit
    apiserver ms/PATCH    apiserver_request_duration_seconds sum/count, configmaps PATCH (count in parentheses)
    put p50 / p99 ms      the writer's own latency per put (this machine is shared: indicative only)
    object B              the bucket's ConfigMap(s) as JSON after the puts (GET), of which
    managedFields B       metadata.managedFields and
    annotations B         metadata.annotations
  A * marks a db figure with a compaction inside its interval (then it understates).`);
}

/** A kubekv layout as a column: a writer store and FOLLOWERS follower stores, all through the public API. */
function kubekvSubject(layout: StoreLayout): CostSubject {
  return {
    label: layout.label,
    async prepare(ctx, name, fillBytes) {
      const open = (create: boolean) => layout.open({ name, namespace: ctx.namespace, kubeConfig: ctx.kc, create });
      const writer = await open(true);
      try {
        await fillStore(writer, fillBytes);
      } catch (err) {
        await writer.close();
        if (err instanceof BucketFullError) return { unavailable: `full (${err.limitName})` };
        throw err;
      }
      // One put before the measurement: a first write may carry one-time bookkeeping.
      await writer.put('small', randomText());
      const followers: Store[] = [];
      for (let i = 0; i < FOLLOWERS; i++) followers.push(await open(false));
      await waitFor(() => followers.every((f) => f.status().connected && f.status().synced), 'followers connected');
      return {
        async put(value) {
          await writer.put('small', value);
          return writer.status().resourceVersion;
        },
        followersAt: (rv) => waitFor(() => followers.every((f) => Number(f.status().resourceVersion) >= Number(rv)), 'followers caught up'),
        watchers: FOLLOWERS + 1,
        objects: [name],
        async close() {
          for (const store of [...followers, writer]) await store.close();
        },
      };
    },
  };
}

/** Writes about `fillBytes` of incompressible FILL_VALUE_BYTES values into `store`, in commits of at most FILL_COMMIT_BYTES. */
async function fillStore(store: Store, fillBytes: number): Promise<void> {
  let written = 0;
  let key = 0;
  while (written < fillBytes) {
    const ops: BatchOperation[] = [];
    for (let commit = 0; commit < FILL_COMMIT_BYTES && written < fillBytes; key++) {
      const size = Math.min(FILL_VALUE_BYTES, fillBytes - written);
      ops.push({ op: 'put', key: `fill/${key}`, value: randomBytes(size) });
      written += size;
      commit += size;
    }
    await store.batch(ops);
  }
}

/**
 * A plain ConfigMap changed by a conditional merge PATCH through kubekv's
 * transport (the connection kubekv itself uses), followed by FOLLOWERS bare
 * client-node watches. With `sameData`, it holds the same amount of
 * incompressible values as the kubekv bucket; without, only the changed key.
 */
function barePatchSubject(label: string, sameData: boolean): CostSubject {
  return {
    label,
    async prepare(ctx, name, fillBytes) {
      const path = `/api/v1/namespaces/${ctx.namespace}/configmaps`;
      const binaryData: Record<string, string> = {};
      for (let written = 0, key = 0; sameData && written < fillBytes; key++) {
        const size = Math.min(FILL_VALUE_BYTES, fillBytes - written);
        binaryData[`fill.${key}`] = randomBytes(size).toString('base64');
        written += size;
      }
      let created: V1ConfigMap;
      try {
        created = await ctx.transport.send<V1ConfigMap>({ method: 'POST', path, body: { metadata: { name }, data: { small: randomText() }, binaryData } });
      } catch (err) {
        return { unavailable: `refused (${String((err as { status?: number }).status ?? err)})` };
      }
      let rv = created.metadata!.resourceVersion!;
      const patch = async (value: string) => {
        const answer = await ctx.transport.send<V1ConfigMap>({
          method: 'PATCH',
          path: `${path}/${name}`,
          contentType: 'application/merge-patch+json',
          body: { metadata: { resourceVersion: rv }, data: { small: value } },
        });
        rv = answer.metadata!.resourceVersion!;
        return rv;
      };
      await patch(randomText());
      const seen = Array.from({ length: FOLLOWERS }, () => 0);
      const watches = await Promise.all(
        seen.map((_, i) =>
          new Watch(ctx.kc).watch(
            path,
            { fieldSelector: `metadata.name=${name}`, resourceVersion: rv },
            (_type: string, object: V1ConfigMap) => (seen[i] = Math.max(seen[i]!, Number(object.metadata?.resourceVersion ?? 0))),
            () => {},
          ),
        ),
      );
      // A watch from `rv` gets every later event whenever it connects; one probe PATCH shows all three are live.
      const probe = await patch(randomText());
      await waitFor(() => seen.every((s) => s >= Number(probe)), 'bare watches connected');
      return {
        put: patch,
        followersAt: (target) => waitFor(() => seen.every((s) => s >= Number(target)), 'bare watches caught up'),
        watchers: FOLLOWERS,
        objects: [name],
        close() {
          for (const watch of watches) watch.abort();
          return Promise.resolve();
        },
      };
    },
  };
}

/** Polls `condition` every 5 ms; throws naming `what` after FOLLOW_TIMEOUT_MS. */
async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`capacity bench: timed out waiting for ${what}`);
    await sleep(5);
  }
}

function randomText(): string {
  return randomBytes(VALUE_BYTES / 2).toString('hex');
}

/** Sizes of one ConfigMap as the API serves it. */
async function objectSizes(ctx: Context, name: string): Promise<{ objectBytes: number; managedFieldsBytes: number; annotationBytes: number }> {
  const text = await ctx.transport.sendText({ method: 'GET', path: `/api/v1/namespaces/${ctx.namespace}/configmaps/${name}` });
  const object = JSON.parse(text) as V1ConfigMap;
  return {
    objectBytes: Buffer.byteLength(text),
    managedFieldsBytes: Buffer.byteLength(JSON.stringify(object.metadata?.managedFields ?? [])),
    annotationBytes: Buffer.byteLength(JSON.stringify(object.metadata?.annotations ?? {})),
  };
}

async function measureCost(ctx: Context, subject: CostSubject, kib: number): Promise<CostCell | string> {
  const name = `cost-${kib}k-${subject.label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
  const bucket = await subject.prepare(ctx, name, kib * KIB);
  if ('unavailable' in bucket) return bucket.unavailable;
  try {
    await settleBackend();
    const before = await scrapeCluster(ctx.kc, ctx.cp.etcdUrl);
    let last = '';
    const latencies = await timeEach(PUTS, async () => (last = await bucket.put(randomText())));
    await bucket.followersAt(last);
    await settleBackend();
    const cost = costBetween(before, await scrapeCluster(ctx.kc, ctx.cp.etcdUrl));
    const sizes = { objectBytes: 0, managedFieldsBytes: 0, annotationBytes: 0 };
    for (const object of bucket.objects) {
      const s = await objectSizes(ctx, object);
      sizes.objectBytes += s.objectBytes;
      sizes.managedFieldsBytes += s.managedFieldsBytes;
      sizes.annotationBytes += s.annotationBytes;
    }
    return { cost, latencies, watchers: bucket.watchers, ...sizes };
  } finally {
    await bucket.close();
  }
}

const COL = 18;
const LABEL = 24;
function line(label: string, cells: string[]): void {
  console.log(`  ${label.padEnd(LABEL)}${cells.map((c) => c.padStart(COL)).join('')}`);
}

function printCostTable(kib: number, subjects: CostSubject[], row: Map<string, CostCell | string>): void {
  console.log(`\n  bucket of ${kib} KiB incompressible values (${FILL_VALUE_BYTES / KIB} KiB each), ${PUTS} sequential ${VALUE_BYTES}-byte puts, ${FOLLOWERS} followers`);
  line('', subjects.map((s) => s.label));
  const rowOf = (label: string, f: (c: CostCell) => string) => line(label, subjects.map((s) => {
    const cell = row.get(s.label)!;
    return typeof cell === 'string' ? cell : f(cell);
  }));
  const star = (c: CostCell) => (c.cost.compacted ? '*' : '');
  rowOf('etcd WAL B/put', (c) => int(c.cost.walBytes / PUTS));
  rowOf('etcd db total B/put', (c) => int(c.cost.dbTotalBytes / PUTS) + star(c));
  rowOf('etcd db in-use B/put', (c) => int(c.cost.dbInUseBytes / PUTS) + star(c));
  rowOf('watch B/put', (c) => int(c.cost.watchBytes / PUTS));
  rowOf('watch events/put', (c) => `${fixed(c.cost.watchEvents / PUTS, 2)} (${c.watchers})`);
  rowOf('watch B/event', (c) => int(c.cost.watchBytes / c.cost.watchEvents));
  rowOf('apiserver ms/PATCH', (c) => `${fixed(c.cost.requestMs('PATCH'), 2)} (${c.cost.requests('PATCH')})`);
  rowOf('put p50 ms', (c) => fixed(quantile(c.latencies, 0.5), 2));
  rowOf('put p99 ms', (c) => fixed(quantile(c.latencies, 0.99), 2));
  rowOf('object B', (c) => int(c.objectBytes));
  rowOf('  managedFields B', (c) => int(c.managedFieldsBytes));
  rowOf('  annotations B', (c) => int(c.annotationBytes));
}

function printRatios(subjects: CostSubject[], bySize: Map<number, Map<string, CostCell | string>>): void {
  const small = Math.min(...SIZES_KIB);
  const large = Math.max(...SIZES_KIB);
  if (small === large) return;
  console.log(`\n  ratio ${large} KiB bucket / ${small} KiB bucket (issue 19's target after the change: <= 2x for 64 MiB / 10 KiB)`);
  line('', subjects.map((s) => s.label));
  const rowOf = (label: string, f: (c: CostCell) => number) => line(label, subjects.map((s) => {
    const a = bySize.get(large)!.get(s.label)!;
    const b = bySize.get(small)!.get(s.label)!;
    return typeof a === 'string' || typeof b === 'string' ? '-' : ratio(f(a), f(b));
  }));
  rowOf('etcd WAL B/put', (c) => c.cost.walBytes);
  rowOf('watch B/put', (c) => c.cost.watchBytes);
  rowOf('etcd db in-use B/put', (c) => c.cost.dbInUseBytes);
  rowOf('apiserver ms/PATCH', (c) => c.cost.requestMs('PATCH'));
  rowOf('put p50', (c) => quantile(c.latencies, 0.5));
  const floor = bySize.get(small)!.get(subjects.at(-1)!.label)!;
  if (typeof floor === 'string') return;
  console.log(`\n  ratio to the floor (${subjects.at(-1)!.label}, ${small} KiB row: ${int(floor.cost.walBytes / PUTS)} WAL B/put, ${int(floor.cost.watchBytes / PUTS)} watch B/put)`);
  line('', SIZES_KIB.map((k) => `${k} KiB`));
  for (const subject of subjects.slice(0, -1)) {
    for (const [what, f] of [['WAL', (c: CostCell) => c.cost.walBytes], ['watch', (c: CostCell) => c.cost.watchBytes]] as const) {
      line(`${subject.label} ${what}`, SIZES_KIB.map((k) => {
        const cell = bySize.get(k)!.get(subject.label)!;
        return typeof cell === 'string' ? '-' : ratio(f(cell), f(floor));
      }));
    }
  }
}

/** Figures of {@link measureCapacity}. */
interface Capacity {
  values: Fill;
  keys: Fill;
  valuesFollower: FollowerFigures;
  keysFollower: FollowerFigures;
}

interface Fill {
  keys: number;
  /** Bytes of values (and, for the keys fill, of keys). */
  bytes: number;
  /** Commits that were accepted. */
  commits: number;
  /** The first refusal, at the starting size. */
  firstLimit: string;
  /** The last refusal, at the smallest size; or "cap" when the cap stopped it. */
  lastLimit: string;
  objectBytes: number;
  managedFieldsBytes: number;
  annotationBytes: number;
  seconds: number;
}

interface FollowerFigures {
  openMs: number;
  syncedMs: number;
  synced: boolean;
  keys: number;
  keyBytes: number;
  valueBytes: number;
  rssBefore: number;
  rssDelta: number;
  heapDelta: number;
}

const describeRefusal = (err: BucketFullError) => `${err.limitName} (${int(err.size)} > ${int(err.limit)})`;

async function measureCapacity(ctx: Context, layout: StoreLayout): Promise<Capacity> {
  const slug = layout.id;
  const valuesName = `capacity-values-${slug}`;
  const keysName = `capacity-keys-${slug}`;
  const values = await fillCapacity(ctx, layout, valuesName, async (store) => {
    const fill: Fill = emptyFill();
    for (let size = CAPACITY_VALUE_BYTES; size >= CAPACITY_MIN_VALUE_BYTES && fill.bytes < CAP_BYTES; ) {
      try {
        await store.put(`v/${fill.keys}`, randomBytes(size));
        fill.keys++;
        fill.bytes += size;
        fill.commits++;
      } catch (err) {
        if (!(err instanceof BucketFullError)) throw err;
        fill.firstLimit ||= describeRefusal(err);
        fill.lastLimit = describeRefusal(err);
        size /= 2;
      }
    }
    if (fill.bytes >= CAP_BYTES) fill.lastLimit = `none up to the ${CAP_BYTES / MIB} MiB cap`;
    return fill;
  });
  const keys = await fillCapacity(ctx, layout, keysName, async (store) => {
    const fill: Fill = emptyFill();
    for (let batch = CAPACITY_KEYS_BATCH; batch >= 1 && fill.keys < CAP_KEYS; ) {
      const ops: BatchOperation[] = [];
      for (let i = 0; i < batch; i++) ops.push({ op: 'put', key: `k${(fill.keys + i).toString(36)}`, value: 'x' });
      try {
        await store.batch(ops);
        fill.keys += batch;
        fill.bytes += ops.reduce((sum, op) => sum + op.key.length + 1, 0);
        fill.commits++;
      } catch (err) {
        if (!(err instanceof BucketFullError)) throw err;
        fill.firstLimit ||= describeRefusal(err);
        fill.lastLimit = describeRefusal(err);
        batch = Math.floor(batch / 2);
      }
    }
    if (fill.keys >= CAP_KEYS) fill.lastLimit = `none up to the ${CAP_KEYS} key cap`;
    return fill;
  });
  const valuesFollower = await medianFollower(ctx, layout, valuesName);
  const keysFollower = await medianFollower(ctx, layout, keysName);
  return { values, keys, valuesFollower, keysFollower };
}

function emptyFill(): Fill {
  return { keys: 0, bytes: 0, commits: 0, firstLimit: '', lastLimit: '', objectBytes: 0, managedFieldsBytes: 0, annotationBytes: 0, seconds: 0 };
}

async function fillCapacity(ctx: Context, layout: StoreLayout, name: string, fill: (store: Store) => Promise<Fill>): Promise<Fill> {
  const started = performance.now();
  const store = await layout.open({ name, namespace: ctx.namespace, kubeConfig: ctx.kc, create: true });
  try {
    const result = await fill(store);
    result.seconds = (performance.now() - started) / 1000;
    // For a layout of several objects, the head's sizes; the bucket's own figures are above.
    return { ...result, ...(await objectSizes(ctx, name)) };
  } finally {
    await store.close();
  }
}

/** FOLLOWER_RUNS runs of {@link runFollower}, each figure the median of its runs (synced: all of them). */
async function medianFollower(ctx: Context, layout: StoreLayout, bucket: string): Promise<FollowerFigures> {
  const runs: FollowerFigures[] = [];
  for (let i = 0; i < FOLLOWER_RUNS; i++) runs.push(await runFollower(ctx, layout, bucket));
  const median = (f: (x: FollowerFigures) => number) => quantile(runs.map(f), 0.5);
  return {
    openMs: median((x) => x.openMs),
    syncedMs: median((x) => x.syncedMs),
    synced: runs.every((x) => x.synced),
    keys: median((x) => x.keys),
    keyBytes: median((x) => x.keyBytes),
    valueBytes: median((x) => x.valueBytes),
    rssBefore: median((x) => x.rssBefore),
    rssDelta: median((x) => x.rssDelta),
    heapDelta: median((x) => x.heapDelta),
  };
}

/** Opens `bucket` in a fresh process (capacity-follower.ts) and returns what it measured. */
async function runFollower(ctx: Context, layout: StoreLayout, bucket: string): Promise<FollowerFigures> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(repoRoot, 'bench/capacity-follower.ts'), ctx.cp.adminKubeconfigPath, ctx.namespace, bucket, `capacity-warmup-${layout.id}`, layout.id],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const timer = setTimeout(() => child.kill(), 120_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  const json = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !json) throw new Error(`capacity follower for ${bucket} exited ${code}: ${out}`);
  return JSON.parse(json) as FollowerFigures;
}

function printCapacity(capacities: Map<string, Capacity>): void {
  const labels = [...capacities.keys()];
  const rowOf = (label: string, f: (c: Capacity) => string) => line(label, labels.map((l) => f(capacities.get(l)!)));
  console.log(`\n  capacity: the largest bucket each layout accepts`);
  line('', labels);
  console.log(`  incompressible values, ${CAPACITY_VALUE_BYTES / KIB} KiB each, halved after each refusal down to ${CAPACITY_MIN_VALUE_BYTES / KIB} KiB:`);
  rowOf('keys', (c) => int(c.values.keys));
  rowOf('value bytes', (c) => int(c.values.bytes));
  rowOf('value MiB', (c) => fixed(c.values.bytes / MIB, 3));
  rowOf('object B', (c) => int(c.values.objectBytes));
  rowOf('  managedFields B', (c) => int(c.values.managedFieldsBytes));
  rowOf('  annotations B', (c) => int(c.values.annotationBytes));
  rowOf('fill time s', (c) => fixed(c.values.seconds, 1));
  for (const l of labels) {
    const c = capacities.get(l)!;
    console.log(`    ${l}: first refused by ${c.values.firstLimit || '-'}; last by ${c.values.lastLimit || '-'}`);
  }
  console.log(`  short keys (k<base36>), 1-byte values, batches of ${CAPACITY_KEYS_BATCH} halved after each refusal:`);
  rowOf('keys', (c) => int(c.keys.keys));
  rowOf('key + value bytes', (c) => int(c.keys.bytes));
  rowOf('commits', (c) => int(c.keys.commits));
  rowOf('object B', (c) => int(c.keys.objectBytes));
  rowOf('  managedFields B', (c) => int(c.keys.managedFieldsBytes));
  rowOf('  annotations B', (c) => int(c.keys.annotationBytes));
  rowOf('fill time s', (c) => fixed(c.keys.seconds, 1));
  for (const l of labels) {
    const c = capacities.get(l)!;
    console.log(`    ${l}: first refused by ${c.keys.firstLimit || '-'}; last by ${c.keys.lastLimit || '-'}`);
  }
  console.log(`  a follower opening the full bucket in a fresh process (values bucket / keys bucket; medians of ${FOLLOWER_RUNS} processes):`);
  const both = (f: (x: FollowerFigures) => string) => (c: Capacity) => `${f(c.valuesFollower)} / ${f(c.keysFollower)}`;
  rowOf('open ms', both((x) => fixed(x.openMs, 0)));
  rowOf('open-to-synced ms', both((x) => fixed(x.syncedMs, 0)));
  rowOf('synced', both((x) => (x.synced ? 'yes' : 'NO')));
  rowOf('keys seen', both((x) => int(x.keys)));
  rowOf('RSS delta MiB', both((x) => fixed(x.rssDelta / MIB, 1)));
  rowOf('heap+ext delta MiB', both((x) => fixed(x.heapDelta / MIB, 1)));
  rowOf('key+value bytes', both((x) => int(x.keyBytes + x.valueBytes)));
  rowOf('RSS delta / those', both((x) => (x.keyBytes + x.valueBytes > 0 ? `${fixed(x.rssDelta / (x.keyBytes + x.valueBytes), 1)}x` : '-')));
  rowOf('RSS before MiB', both((x) => fixed(x.rssBefore / MIB, 0)));
}

/** Figures of {@link measureProjection}. */
interface Projection {
  puts: number;
  /** Seconds of the put loop (every byte counted was written in it). */
  seconds: number;
  putLatencies: number[];
  stoppedEarly: boolean;
  cost: ClusterCost;
  dbTotalAtEnd: number;
  quota: number;
  afterCompaction: { dbTotal: number; dbInUse: number };
  beforeCompaction: { dbTotal: number; dbInUse: number };
}

/** Compacts etcd at its current revision, as the apiserver does every 5 minutes (the harness's compaction, without cp.compact()'s apiserver restart: no watch spans it here). */
async function compactEtcd(ctx: Context): Promise<void> {
  await execFileAsync(ctx.cp.binary, ['compact', '--etcd', ctx.cp.etcdUrl]);
  await settleBackend();
}

async function measureProjection(ctx: Context, layout: StoreLayout): Promise<Projection | string> {
  const name = `projection-${layout.id}`;
  await compactEtcd(ctx);
  const store = await layout.open({ name, namespace: ctx.namespace, kubeConfig: ctx.kc, create: true });
  try {
    try {
      await fillStore(store, PROJECTION_KIB * KIB);
    } catch (err) {
      if (err instanceof BucketFullError) return `full (${err.limitName})`;
      throw err;
    }
    await store.put('small', randomText());
    await compactEtcd(ctx);
    const before = await scrapeCluster(ctx.kc, ctx.cp.etcdUrl);
    const stopAt = before.quotaBytes * PROJECTION_STOP_AT_QUOTA_SHARE;
    let stop = false;
    let stoppedEarly = false;
    const deadline = performance.now() + PROJECTION_MS;
    const monitor = (async () => {
      while (!stop) {
        await sleep(1000);
        const now = await scrapeCluster(ctx.kc, ctx.cp.etcdUrl);
        if (now.dbTotalBytes > stopAt) stoppedEarly = stop = true;
      }
    })();
    const putLatencies: number[] = [];
    const loopStarted = performance.now();
    while (!stop && performance.now() < deadline) {
      const started = performance.now();
      await store.put('small', randomText());
      putLatencies.push(performance.now() - started);
    }
    const seconds = (performance.now() - loopStarted) / 1000;
    stop = true;
    await monitor;
    await settleBackend();
    const after = await scrapeCluster(ctx.kc, ctx.cp.etcdUrl);
    await compactEtcd(ctx);
    const compacted = await scrapeCluster(ctx.kc, ctx.cp.etcdUrl);
    return {
      puts: putLatencies.length,
      seconds,
      putLatencies,
      stoppedEarly,
      cost: costBetween(before, after),
      dbTotalAtEnd: after.dbTotalBytes,
      quota: after.quotaBytes,
      beforeCompaction: { dbTotal: after.dbTotalBytes, dbInUse: after.dbInUseBytes },
      afterCompaction: { dbTotal: compacted.dbTotalBytes, dbInUse: compacted.dbInUseBytes },
    };
  } finally {
    await store.close();
  }
}

function printProjection(projections: Map<string, Projection | string>): void {
  const labels = [...projections.keys()];
  const rowOf = (label: string, f: (p: Projection) => string) => line(label, labels.map((l) => {
    const p = projections.get(l)!;
    return typeof p === 'string' ? p : f(p);
  }));
  console.log(`\n  projection: one writer, sequential ${VALUE_BYTES}-byte puts into a ${PROJECTION_KIB} KiB bucket for ${PROJECTION_MS / 1000} s, no followers, etcd compacted before and after`);
  console.log('  (rates are per second of the put loop; the projection assumes the rate holds and nothing compacts)');
  line('', labels);
  rowOf('puts', (p) => int(p.puts) + (p.stoppedEarly ? ' (stopped early)' : ''));
  rowOf('puts/s', (p) => fixed(p.puts / p.seconds, 1));
  rowOf('put p50 / p99 ms', (p) => `${fixed(quantile(p.putLatencies, 0.5), 0)} / ${fixed(quantile(p.putLatencies, 0.99), 0)}`);
  rowOf('WAL MiB/s', (p) => fixed(p.cost.walBytes / MIB / p.seconds, 2));
  rowOf('db total MiB/s', (p) => fixed(p.cost.dbTotalBytes / MIB / p.seconds, 2) + (p.cost.compacted ? '*' : ''));
  rowOf('db in-use MiB/s', (p) => fixed(p.cost.dbInUseBytes / MIB / p.seconds, 2) + (p.cost.compacted ? '*' : ''));
  rowOf('db in-use B/put', (p) => int(p.cost.dbInUseBytes / p.puts));
  const rate = (p: Projection) => Math.max(p.cost.dbTotalBytes, p.cost.dbInUseBytes) / p.seconds;
  rowOf(`growth per ${COMPACTION_WINDOW_S / 60} min MiB`, (p) => int((rate(p) * COMPACTION_WINDOW_S) / MIB));
  rowOf('s to quota from now', (p) => int((p.quota - p.dbTotalAtEnd) / rate(p)));
  rowOf('s to quota from 0', (p) => int(p.quota / rate(p)));
  // Bytes per put do not depend on this machine's load; puts per second do.
  const perPut = (p: Projection) => Math.max(p.cost.dbTotalBytes, p.cost.dbInUseBytes) / p.puts;
  rowOf('db MiB per 1,000 puts', (p) => fixed((perPut(p) * 1000) / MIB, 0));
  rowOf('puts to quota from 0', (p) => int(p.quota / perPut(p)));
  rowOf('db total MiB at end', (p) => mib(p.beforeCompaction.dbTotal));
  rowOf('db in-use MiB at end', (p) => mib(p.beforeCompaction.dbInUse));
  rowOf('  after compaction', (p) => mib(p.afterCompaction.dbInUse));
  rowOf('db total after compact', (p) => mib(p.afterCompaction.dbTotal));
  console.log(`  (growth uses the larger of total and in-use growth; the per-put rows hold under any load, the per-second ones`);
  console.log(`   scale with this machine's put rate; the quota is checked against the total, which compaction frees`);
  console.log(`   for reuse but never shrinks without a defragmentation; the apiserver compacts every ${COMPACTION_WINDOW_S / 60} min, so what one window`);
  console.log('   writes must fit under the quota; issue 19 wants <= 200 MiB per 5 min on a 64 MiB bucket)');
}
