/**
 * The "follower" process of the capacity benchmark: a fresh Node process
 * (run with --expose-gc) that opens an existing bucket the way a new replica
 * would, and reports how long it took and what it costs in memory.
 *
 * It first opens and closes a tiny warm-up bucket, so module loading, the
 * TLS connection and JIT warm-up are not counted; then it measures
 * - openMs: ConfigMapStore.open() (GET + decode) until it resolves,
 * - syncedMs: until the store's watch is connected and its cache synced,
 * - rssDelta / heapDelta: process RSS, and V8 heap plus external memory
 *   (Buffers), after a full GC with the store open, minus the same before
 *   opening it.
 * Prints one JSON line. Usage:
 *   capacity-follower.ts <kubeconfig> <namespace> <bucket> <warm-up bucket> <layout id>
 */
import { KubeConfig } from '@kubernetes/client-node';
import { layoutById, openLayout } from './capacity-layouts.js';

const [kubeconfig, namespace, bucket, warmup, layoutId] = process.argv.slice(2) as [string, string, string, string, string];
const layout = layoutById(layoutId);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const collect = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await sleep(50);
  }
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
const after = process.memoryUsage();
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
    rssDelta: after.rss - before.rss,
    heapDelta: after.heapUsed + after.external - (before.heapUsed + before.external),
  }),
);
