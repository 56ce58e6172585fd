/**
 * `npm run bench -- capacity [--sustained <s>] [--put-keys <n>]`: what one
 * bucket costs the cluster per write as it grows to issue 19's 64 MiB and
 * 100,000 keys, how fast it is to write and to follow, and how fast it fills
 * etcd, judged by the cluster's own metrics (cluster-metrics.ts: etcd's
 * /metrics and the apiserver's). It is the instrument for issue 19 (head
 * object + immutable chunks): today's single-ConfigMap layout is the
 * baseline column, and a new layout becomes another column by adding it to
 * capacity-layouts.ts (or KUBEKV_BENCH_CAPACITY_LAYOUTS).
 *
 * Parts, all in one run against one control plane, each timed:
 * 1. Per bucket size (SIZES) and column (capacity-subjects.ts: every kubekv
 *    layout, bare PATCH same, GET+PUT same, bare PATCH 1-key):
 *    - a fast fill with incompressible values in batches (capacity-fill.ts);
 *      a layout that refuses stops at the first BucketFullError and its
 *      cells say which limit refused and at what size;
 *    - PUTS sequential 100-byte puts, FOLLOWERS followers watching: etcd WAL
 *      bytes, db growth, watch bytes, apiserver requests and time per put;
 *      put p50 / p99;
 *    - WRITERS concurrent writers for CONCURRENT_MS: acknowledged puts/s,
 *      and WAL / watch bytes and commits per acknowledged put;
 *    - through a delaying TCP proxy on loopback for each of RTTS_MS
 *      (test/support/delay-proxy.ts, in a process of its own so the
 *      followers' decoding here does not hold its timers), a further writer, the followers
 *      still watching: put p50 / p99, and for kubekv columns concurrent
 *      puts/s;
 *    - a follower in a fresh process (kubekv columns, FOLLOWER_RUNS runs):
 *      open-to-synced time and RSS, also relative to the data, once synced
 *      and after a list (`npm run bench -- follower` measures this part
 *      alone, on one bucket filled once: follower.bench.ts);
 *    - the bucket's objects (count, bytes, of which the head).
 *    Then the ratios of each size to the smallest, and issue 19's targets
 *    beside the measured figures (nothing asserts them).
 * 2. Capacity, per kubekv layout: the largest size's fill (what it
 *    accepted, what refused), whether every accepted key reads back from a
 *    fresh store by get, list({ consistent: true }) and watchTree's initial
 *    snapshot, and whether one 8 MiB value round-trips.
 * 3. Paired (capacity-paired.ts): put latency on each kubekv layout's
 *    smallest and largest bucket in alternation, so machine load weighs on
 *    both alike; the put p50 ratio target is read from here.
 * 4. Sustained (capacity-sustained.ts): sequential puts into each layout's
 *    largest bucket (the largest size it held) for `--sustained` seconds
 *    (default SUSTAINED_DEFAULT_S), etcd db growth and the projected time to
 *    its quota; stops early at half the quota.
 * Figures print as markdown tables and are written as JSON to
 * .bench/capacity-<time>.json (and capacity-latest.json).
 *
 * Bytes are stable under load; times are not (the machine is shared):
 * judge by bytes, read times as indications. Everything is bounded in time
 * and count, and all traffic goes to 127.0.0.1. Environment knobs:
 * KUBEKV_BENCH_CAPACITY_SIZES (default 10K,100K,900K,64M:100000; a bare
 * number is KiB, `:n` sets the key count), KUBEKV_BENCH_CAPACITY_RTTS (ms,
 * default 1,10), KUBEKV_BENCH_CAPACITY_FILL_BATCH_KIB (default 256),
 * KUBEKV_BENCH_CAPACITY_LAYOUTS (capacity-layouts.ts).
 */
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeTransport } from '../src/kube/transport.js';
import type { ControlPlane } from '../test/controlplane/index.js';
import { DelayProxyProcess, measureAddedRttMs } from '../test/support/delay-proxy.js';
import { numberOption } from './args.js';
import { describeRefusal, fillKey, fillValue, parseShapes, valueSize, type BucketShape, type FillResult } from './capacity-fill.js';
import { openLayout, storeLayouts, type StoreLayout } from './capacity-layouts.js';
import {
  printCapacity,
  printLegend,
  printRatios,
  printPaired,
  printSizeTable,
  printSustained,
  printTargets,
  printTimings,
  type CapacityFigures,
  type CellFigures,
  type ConcurrentFigures,
  type RunFigures,
  type SequentialFigures,
} from './capacity-print.js';
import { runPaired, type PairedBucket } from './capacity-paired.js';
import { runSustained } from './capacity-sustained.js';
import { medianFollower } from './follower-process.js';
import { bareSubject, FOLLOWERS, GaveUp, kubekvSubject, type Context, type CostSubject, type PreparedBucket, type Writer } from './capacity-subjects.js';
import { costBetween, idleWalBytesPerSecond, scrapeCluster, settleBackend, type ClusterCost } from './cluster-metrics.js';
import { writeJsonReport } from './report.js';
import { quantile, timeEach } from './stats.js';

const MIB = 1024 * 1024;
const SIZES = parseShapes(process.env.KUBEKV_BENCH_CAPACITY_SIZES ?? '10K,100K,900K,64M:100000');
/** Sequential puts per bucket size and column. */
const PUTS = 100;
/** Size of each measured put's value (text, so it is stored as is). */
export const VALUE_BYTES = 100;
/** Concurrent writers, and how long they write (per bucket size and column). */
const WRITERS = 64;
const CONCURRENT_MS = 3000;
/** Added round trips of the delaying proxy, in ms. */
const RTTS_MS = (process.env.KUBEKV_BENCH_CAPACITY_RTTS ?? '1,10').split(',').filter(Boolean).map(Number);
/** Through the proxy: sequential puts, and how long the concurrent writers write. */
const RTT_PUTS = 20;
const RTT_CONCURRENT_MS = 2000;
/** Follower processes per bucket; the figures are their medians (RSS especially varies from process to process). */
const FOLLOWER_RUNS = 3;
/** The single large value of the capacity part. */
const ROUNDTRIP_BYTES = 8 * MIB;
const SUSTAINED_DEFAULT_S = 20;
const SUSTAINED_S = numberOption('--sustained', SUSTAINED_DEFAULT_S, 1, 3600);
/** Distinct keys the sequential (and sustained) puts cycle through: 1 is one key rewritten. */
const PUT_KEYS = numberOption('--put-keys', 1, 1, 100_000);

/** The key of sequential put `i` ([a-z0-9.], valid in a ConfigMap too). */
const putKey = (i: number) => (PUT_KEYS === 1 ? 'small' : `hot.${i % PUT_KEYS}`);
const randomText = () => randomBytes(VALUE_BYTES / 2).toString('hex');
const seconds = (since: number) => (performance.now() - since) / 1000;

/** Runs the capacity benchmark and prints its tables. */
export async function benchCapacity(cp: ControlPlane): Promise<void> {
  const started = performance.now();
  for (const rtt of RTTS_MS) if (!(rtt >= 0 && rtt <= 1000)) throw new Error(`KUBEKV_BENCH_CAPACITY_RTTS: ${rtt} is not a round trip of 0-1000 ms`);
  const kc = cp.adminKubeConfig();
  const ctx: Context = { kc, namespace: await cp.freshNamespace('bench-capacity'), transport: KubeTransport.for(kc) };
  const layouts = storeLayouts();
  const subjects: CostSubject[] = [...layouts.map(kubekvSubject), bareSubject('bare PATCH same', 'patch-same'), bareSubject('GET+PUT same', 'get-put-same'), bareSubject('bare PATCH 1-key', 'patch-1key')];
  const timings: { part: string; seconds: number }[] = [];

  const setupStarted = performance.now();
  const first = await scrapeCluster(kc, cp.etcdUrl);
  const idle = await idleWalBytesPerSecond(kc, cp.etcdUrl, 3000);
  const proxies: { proxy: DelayProxyProcess; kc: KubeConfig; addedMs: number }[] = [];
  for (const rtt of RTTS_MS) {
    const proxy = await DelayProxyProcess.start(Number(new URL(kc.getCurrentCluster()!.server).port), rtt);
    const via = proxy.kubeConfigFor(kc);
    const version = (t: KubeTransport) => () => t.sendText({ method: 'GET', path: '/version' });
    proxies.push({ proxy, kc: via, addedMs: await measureAddedRttMs(version(ctx.transport), version(KubeTransport.for(via))) });
  }
  const run: RunFigures = {
    startedAt: new Date().toISOString(),
    kubernetesVersion: cp.stats().kubernetesVersion,
    config: {
      sizes: SIZES,
      puts: PUTS,
      valueBytes: VALUE_BYTES,
      putKeys: PUT_KEYS,
      followers: FOLLOWERS,
      writers: WRITERS,
      concurrentMs: CONCURRENT_MS,
      rtts: proxies.map((p) => ({ rttMs: p.proxy.rttMs, measuredAddedMs: p.addedMs })),
      rttPuts: RTT_PUTS,
      rttConcurrentMs: RTT_CONCURRENT_MS,
      followerRuns: FOLLOWER_RUNS,
      sustainedSeconds: SUSTAINED_S,
      layouts: layouts.map((l) => ({ id: l.id, label: l.label, options: l.options })),
    },
    etcd: { quotaBytes: first.quotaBytes, dbTotalAtStart: first.dbTotalBytes, idleWalBytesPerSecond: idle },
    columns: subjects.map((s) => s.label),
    sizes: [],
    capacity: [],
    paired: [],
    sustained: [],
    timings,
  };
  timings.push({ part: 'setup (idle scrape, proxies)', seconds: seconds(setupStarted) });
  printLegend(run);

  let failure: Error | undefined;
  try {
    /** Per layout, its largest bucket that held the whole fill (for the sustained part). */
    const largest = new Map<string, PairedBucket>();
    /** Per layout, its smallest bucket that held the whole fill (for the paired part). */
    const smallest = new Map<string, PairedBucket>();
    for (const [index, shape] of SIZES.entries()) {
      const sizeStarted = performance.now();
      const cells: CellFigures[] = [];
      for (const subject of subjects) {
        const cell = await measureCell(ctx, cp, subject, shape, index, proxies);
        cells.push(cell);
        if (subject.layout && !cell.unavailable) {
          largest.set(subject.layout.id, { name: cell.bucket, shape: shape.label });
          if (!smallest.has(subject.layout.id)) smallest.set(subject.layout.id, { name: cell.bucket, shape: shape.label });
        }
      }
      run.sizes.push({ shape, cells });
      timings.push({ part: `size ${shape.label}`, seconds: seconds(sizeStarted) });
      printSizeTable(run, run.sizes.at(-1)!);
    }
    printRatios(run);

    const capacityStarted = performance.now();
    const big = SIZES.reduce((a, b) => (b.bytes > a.bytes || (b.bytes === a.bytes && b.keys > a.keys) ? b : a));
    const bigIndex = SIZES.indexOf(big);
    for (const layout of layouts) {
      const cell = run.sizes[bigIndex]!.cells.find((c) => c.subject === layout.label)!;
      run.capacity.push(await measureCapacity(ctx, layout, big, cell));
    }
    timings.push({ part: 'capacity (read-back, 8 MiB value)', seconds: seconds(capacityStarted) });
    printCapacity(run);

    const pairedStarted = performance.now();
    for (const layout of layouts) {
      const [small, big] = [smallest.get(layout.id), largest.get(layout.id)];
      if (small && big && small.name !== big.name) run.paired.push(await runPaired(ctx, layout, small, big, putKey, randomText));
    }
    timings.push({ part: 'paired (alternating puts, smallest and largest)', seconds: seconds(pairedStarted) });
    printPaired(run);

    const sustainedStarted = performance.now();
    for (const layout of layouts) {
      const bucket = largest.get(layout.id);
      if (!bucket) continue;
      run.sustained.push(await runSustained(cp, ctx, layout, bucket, SUSTAINED_S, putKey, randomText));
    }
    timings.push({ part: `sustained (${SUSTAINED_S} s per layout)`, seconds: seconds(sustainedStarted) });
    printSustained(run);
    printTargets(run);
  } catch (err) {
    // The figures so far still go to the JSON file, with what stopped the run.
    failure = err instanceof Error ? err : new Error(String(err));
    run.error = failure.stack ?? failure.message;
  } finally {
    for (const { proxy } of proxies) await proxy.close();
  }
  timings.push({ part: 'total', seconds: seconds(started) });
  printTimings(run);
  const path = await writeJsonReport('capacity', run);
  console.log(`\nfigures as JSON: ${path} (and .bench/capacity-latest.json)${failure ? '; the run FAILED, see "error" there' : ''}`);
  if (failure) throw failure;
}

/** Everything measured for one column at one bucket size (see the module doc). */
async function measureCell(ctx: Context, cp: ControlPlane, subject: CostSubject, shape: BucketShape, index: number, proxies: { proxy: DelayProxyProcess; kc: KubeConfig }[]): Promise<CellFigures> {
  const started = performance.now();
  const slug = subject.label.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const name = `cost-${index}-${slug}`;
  const cell: CellFigures = { subject: subject.label, shape: shape.label, bucket: name, fill: undefined, unavailable: undefined, seconds: {} };
  const bucket = await subject.prepare(ctx, name, name, shape);
  if ('unavailable' in bucket) {
    cell.unavailable = bucket.unavailable;
    cell.fill = bucket.fill;
    cell.seconds.fill = bucket.fill?.seconds;
    cell.seconds.total = seconds(started);
    return cell;
  }
  try {
    cell.fill = bucket.fill;
    cell.seconds.fill = bucket.fill.seconds;
    let phase = performance.now();
    const followers = await bucket.follow();
    try {
      cell.sequential = await sequentialPuts(ctx, cp, bucket, followers.at);
      cell.seconds.sequential = seconds(phase);
      if (bucket.writer.putConcurrently) {
        phase = performance.now();
        cell.concurrent = await concurrentPuts(ctx, cp, bucket.writer, followers.at, CONCURRENT_MS);
        cell.seconds.concurrent = seconds(phase);
      }
      // Through the proxies with the followers still watching, so these puts compare with the direct ones above.
      phase = performance.now();
      cell.rtt = [];
      for (const { proxy, kc } of proxies) {
        const writer = await bucket.writerVia(kc);
        try {
          const latencies = await timeEach(RTT_PUTS, (i) => writer.put(putKey(i), randomText()));
          // Concurrent puts through the proxy for kubekv only: a GET+PUT store already gave up at 64 writers without it.
          const concurrent = subject.layout && writer.putConcurrently ? await concurrently(writer, RTT_CONCURRENT_MS) : undefined;
          cell.rtt.push({
            rttMs: proxy.rttMs,
            putP50Ms: quantile(latencies, 0.5),
            putP99Ms: quantile(latencies, 0.99),
            concurrentPutsPerSecond: concurrent ? concurrent.acked / concurrent.seconds : Number.NaN,
            concurrentFailed: concurrent?.failed ?? {},
            concurrentGaveUp: concurrent?.gaveUp ?? 0,
          });
        } finally {
          await writer.close();
        }
      }
      cell.seconds.rtt = seconds(phase);
    } finally {
      await followers.close();
    }
    if (subject.layout) {
      phase = performance.now();
      cell.follower = await medianFollower({ kubeconfigPath: cp.adminKubeconfigPath, namespace: ctx.namespace, layout: subject.layout, bucket: name }, FOLLOWER_RUNS);
      cell.seconds.follower = seconds(phase);
    }
    cell.objects = await bucket.objects();
  } finally {
    await bucket.close();
  }
  cell.seconds.total = seconds(started);
  return cell;
}

/** PUTS sequential puts, followers watching; the cluster's counters around them. */
async function sequentialPuts(ctx: Context, cp: ControlPlane, bucket: PreparedBucket, followersAt: (version: number) => Promise<void>): Promise<SequentialFigures> {
  await settleBackend();
  const before = await scrapeCluster(ctx.kc, cp.etcdUrl);
  let last = 0;
  const latencies = await timeEach(PUTS, async (i) => (last = await bucket.writer.put(putKey(i), randomText())));
  await followersAt(last);
  await settleBackend();
  const cost = costBetween(before, await scrapeCluster(ctx.kc, cp.etcdUrl));
  return {
    puts: PUTS,
    putP50Ms: quantile(latencies, 0.5),
    putP99Ms: quantile(latencies, 0.99),
    watchers: bucket.watchers,
    ...perPut(cost, PUTS),
  };
}

/** Mutating verbs whose apiserver time a put costs. */
const WRITE_VERBS = ['PATCH', 'PUT', 'POST', 'DELETE'];
/** Verbs reported per put. */
const REPORTED_VERBS = [...WRITE_VERBS, 'GET', 'LIST'];

function perPut(cost: ClusterCost, puts: number) {
  const writes = WRITE_VERBS.reduce((sum, verb) => sum + cost.requests(verb), 0);
  const writeMs = WRITE_VERBS.reduce((sum, verb) => sum + (cost.requests(verb) > 0 ? cost.requestMs(verb) * cost.requests(verb) : 0), 0);
  const requestsPerPut: Record<string, number> = {};
  for (const verb of REPORTED_VERBS) if (cost.requests(verb) > 0) requestsPerPut[verb] = cost.requests(verb) / puts;
  return {
    walBytesPerPut: cost.walBytes / puts,
    dbTotalBytesPerPut: cost.dbTotalBytes / puts,
    dbInUseBytesPerPut: cost.dbInUseBytes / puts,
    watchBytesPerPut: cost.watchBytes / puts,
    watchEventsPerPut: cost.watchEvents / puts,
    watchBytesPerEvent: cost.watchBytes / cost.watchEvents,
    apiserverWriteMs: writes > 0 ? writeMs / writes : Number.NaN,
    apiserverWritesPerPut: writes / puts,
    apiserverRequestsPerPut: requestsPerPut,
    compacted: cost.compacted,
  };
}

/** WRITERS writers putting their own keys for `ms`, followers watching; the cluster's counters around them. */
async function concurrentPuts(ctx: Context, cp: ControlPlane, writer: Writer, followersAt: (version: number) => Promise<void>, ms: number): Promise<ConcurrentFigures> {
  await settleBackend();
  const before = await scrapeCluster(ctx.kc, cp.etcdUrl);
  const result = await concurrently(writer, ms);
  await followersAt(result.lastVersion);
  await settleBackend();
  const cost = costBetween(before, await scrapeCluster(ctx.kc, cp.etcdUrl));
  const puts = Math.max(1, result.acked);
  return {
    writers: WRITERS,
    seconds: result.seconds,
    acked: result.acked,
    putsPerSecond: result.acked / result.seconds,
    failed: result.failed,
    gaveUp: result.gaveUp,
    walBytesPerPut: cost.walBytes / puts,
    watchBytesPerPut: cost.watchBytes / puts,
    apiserverWritesPerPut: WRITE_VERBS.reduce((sum, verb) => sum + cost.requests(verb), 0) / puts,
  };
}

/** WRITERS loops of `writer.putConcurrently` (which it must have) on keys cw.<writer> for `ms`. */
async function concurrently(writer: Writer, ms: number): Promise<{ acked: number; seconds: number; failed: Record<string, number>; gaveUp: number; lastVersion: number }> {
  const started = performance.now();
  const deadline = started + ms;
  const failed: Record<string, number> = {};
  let acked = 0;
  let gaveUp = 0;
  let lastVersion = 0;
  const put = writer.putConcurrently!;
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      while (performance.now() < deadline) {
        try {
          lastVersion = Math.max(lastVersion, await put(`cw.${w}`, randomText(), deadline));
          acked++;
        } catch (err) {
          if (err instanceof GaveUp) {
            gaveUp++;
            continue;
          }
          const code = (err as { code?: unknown }).code;
          const what = typeof code === 'string' ? code : (err as Error).name;
          failed[what] = (failed[what] ?? 0) + 1;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }),
  );
  return { acked, seconds: seconds(started), failed, gaveUp, lastVersion };
}

/** Part 2 for one layout: the largest size's fill, whether it reads back, and one 8 MiB value. */
async function measureCapacity(ctx: Context, layout: StoreLayout, shape: BucketShape, cell: CellFigures): Promise<CapacityFigures> {
  const fill: FillResult = cell.fill ?? { keys: 0, bytes: 0, commits: 0, seconds: 0, refusedBy: 'not filled' };
  const figures: CapacityFigures = { layout: layout.label, shape, fill, readBack: undefined, roundTrip: { bytes: ROUNDTRIP_BYTES } };
  const open = (name: string, create: boolean) => openLayout(layout, { name, namespace: ctx.namespace, kubeConfig: ctx.kc, create });
  // Read back what the fill stored (all of the shape, or what was accepted before the refusal), from a store that did not write it.
  let started = performance.now();
  const reader = await open(cell.bucket, false);
  try {
    const openSeconds = seconds(started);
    started = performance.now();
    let getMatched = 0;
    for (let i = 0; i < fill.keys; i++) {
      const pair = await reader.get(fillKey(i));
      if (pair && Buffer.from(pair.value).equals(fillValue(cell.bucket, i, valueSize(shape, i)))) getMatched++;
    }
    const getSeconds = seconds(started);
    started = performance.now();
    const listed = (await reader.list('fill/', { consistent: true })).length;
    const listSeconds = seconds(started);
    started = performance.now();
    const abort = new AbortController();
    let snapshot = Number.NaN;
    for await (const event of reader.watchTree('fill/', { signal: abort.signal })) {
      if (event.type === 'snapshot') snapshot = event.pairs.length;
      abort.abort();
      break;
    }
    figures.readBack = { expected: fill.keys, getMatched, listConsistent: listed, watchTreeSnapshot: snapshot, openSeconds, getSeconds, listSeconds, watchTreeSeconds: seconds(started) };
  } finally {
    await reader.close();
  }
  // One ROUNDTRIP_BYTES value: put, then read back by a fresh store.
  const name = `roundtrip-${layout.id}`;
  const value = fillValue(name, 0, ROUNDTRIP_BYTES);
  const writer = await open(name, true);
  try {
    started = performance.now();
    await writer.put('big', value);
    figures.roundTrip.putSeconds = seconds(started);
    started = performance.now();
    const fresh = await open(name, false);
    try {
      const pair = await fresh.get('big');
      figures.roundTrip.getSeconds = seconds(started);
      figures.roundTrip.ok = pair !== undefined && Buffer.from(pair.value).equals(value);
    } finally {
      await fresh.close();
    }
  } catch (err) {
    figures.roundTrip.refusedBy = describeRefusal(err);
    if (figures.roundTrip.refusedBy === undefined) throw err;
  } finally {
    await writer.close();
  }
  return figures;
}
