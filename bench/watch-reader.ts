/**
 * The "other process" of the write-to-watch benchmark: follows one key with a
 * kubekv store watch AND a bare client-node Watch of the same ConfigMap, and
 * records for each probe value how long after its write (timestamp inside the
 * value) each one saw it. Prints "ready", then one JSON line with both lists.
 * Usage: watch-reader.ts <kubeconfig> <namespace> <bucket> <count>
 */
import { KubeConfig, Watch, type V1ConfigMap } from '@kubernetes/client-node';
import { ConfigMapStore } from '../src/index.js';

const [kubeconfig, namespace, bucket, countArg] = process.argv.slice(2) as [string, string, string, string];
const count = Number(countArg);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const now = () => performance.timeOrigin + performance.now();

const kubekv = new Map<number, number>();
const bare = new Map<number, number>();
const record = (into: Map<number, number>, value: string | undefined) => {
  const [i, sentAt] = (value ?? '').split(':').map(Number);
  if (i && sentAt && !into.has(i)) into.set(i, now() - sentAt);
};

const store = await ConfigMapStore.open({ name: bucket, namespace, kubeConfig: kc });
const stop = new AbortController();
const following = (async () => {
  for await (const event of store.watch('probe', { signal: stop.signal })) record(kubekv, event.pair?.text);
})();
const controller = await new Watch(kc).watch(
  `/api/v1/namespaces/${namespace}/configmaps`,
  { fieldSelector: `metadata.name=${bucket}`, resourceVersion: store.status().resourceVersion },
  (_type: string, object: V1ConfigMap) => record(bare, object.data?.probe),
  () => {},
);
console.log('ready');
const deadline = Date.now() + 120_000;
while ((kubekv.size < count || bare.size < count) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
stop.abort();
controller.abort();
await following;
await store.close();
console.log(JSON.stringify({ kubekv: [...kubekv.values()], bare: [...bare.values()] }));
