/**
 * The "follower" process of the capacity benchmark: a fresh Node process
 * (run with --expose-gc) that opens an existing bucket the way a new replica
 * would, and reports how long it took and what it costs in memory.
 *
 * It first opens and closes a tiny warm-up bucket, so module loading, the
 * TLS connection and JIT warm-up are not counted; then it measures
 * - openMs: ConfigMapStore.open() (GET + decode) until it resolves,
 * - syncedMs: until the store's watch is connected and its cache synced,
 * - memory twice, each after a full GC with the store open, minus the same
 *   before opening it: `atSynced` right after synced, and `afterList` after
 *   one list('') of every key (what reading costs on top; the pairs listed
 *   are garbage by then). Each gives RSS, V8 heap used, external memory and
 *   ArrayBuffers (process.memoryUsage()); `rssDelta` and `heapDelta` (heap
 *   used plus external) are those of `afterList`, as the capacity table
 *   has always reported them.
 * With KUBEKV_BENCH_HEAP_SNAPSHOT=<dir> it also writes a heap snapshot there
 * at each of the two points (slow: seconds per 100 MiB of heap).
 * Prints one JSON line. Usage:
 *   capacity-follower.ts <kubeconfig> <namespace> <bucket> <warm-up bucket> <layout id>
 */
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { KubeConfig } from '@kubernetes/client-node';
import { layoutById, openLayout } from './capacity-layouts.js';

const [kubeconfig, namespace, bucket, warmup, layoutId] = process.argv.slice(2) as [string, string, string, string, string];
const layout = layoutById(layoutId);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const snapshots = process.env.KUBEKV_BENCH_HEAP_SNAPSHOT;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const collect = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await sleep(50);
  }
};
/** What memoryUsage() reports, as growth since `from`. */
const growth = (from: NodeJS.MemoryUsage) => {
  const now = process.memoryUsage();
  return { rss: now.rss - from.rss, heapUsed: now.heapUsed - from.heapUsed, heapTotal: now.heapTotal - from.heapTotal, external: now.external - from.external, arrayBuffers: now.arrayBuffers - from.arrayBuffers };
};

const warm = await openLayout(layout, { name: warmup, namespace, kubeConfig: kc, create: true });
await warm.put('warm', 'up');
await warm.list('');
await warm.close();
await collect();
const before = process.memoryUsage();

const started = performance.now();
const store = await openLayout(layout, { name: bucket, namespace, kubeConfig: kc, create: false });
const openMs = performance.now() - started;
const deadline = Date.now() + 60_000;
while (!(store.status().connected && store.status().synced) && Date.now() < deadline) await sleep(2);
const syncedMs = performance.now() - started;
await collect();
const atSynced = growth(before);
if (snapshots) writeHeapSnapshot(join(snapshots, `follower-${process.pid}-synced.heapsnapshot`));
// Counted in a function of its own, so the listed pairs are garbage before the second measurement.
const { keys, keyBytes, valueBytes } = await (async () => {
  const pairs = await store.list('');
  return {
    keys: pairs.length,
    keyBytes: pairs.reduce((sum, p) => sum + Buffer.byteLength(p.key), 0),
    valueBytes: pairs.reduce((sum, p) => sum + p.value.byteLength, 0),
  };
})();
await collect();
const afterList = growth(before);
if (snapshots) writeHeapSnapshot(join(snapshots, `follower-${process.pid}-listed.heapsnapshot`));
const status = store.status();
await store.close();
console.log(
  JSON.stringify({
    openMs,
    syncedMs,
    synced: status.connected && status.synced,
    keys,
    keyBytes,
    valueBytes,
    rssBefore: before.rss,
    rssDelta: afterList.rss,
    heapDelta: afterList.heapUsed + afterList.external,
    atSynced,
    afterList,
  }),
);
