/**
 * One writer process of the multi-process contention benchmark: opens its own
 * store on the shared bucket and puts its own keys (`p<id>/<n % keys>`) in a
 * loop until its time is up, one put at a time. Prints one JSON line: puts
 * acknowledged, failed (by code), unknown, and for each key the last
 * acknowledged value plus any later values whose outcome is not "definitely
 * not stored" (so the parent can tell a lost put from an unknown one).
 * Usage: contention-writer.ts <kubeconfig> <namespace> <bucket> <id> <ms> <keys>
 */
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore, KubekvError } from '../src/index.js';

const [kubeconfig, namespace, bucket, id, runMsArg, keysArg] = process.argv.slice(2) as [string, string, string, string, string, string];
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const store = await ConfigMapStore.open({ name: bucket, namespace, kubeConfig: kc });
process.stdout.write('ready\n');
// Start together: the parent releases every writer at once through stdin.
await new Promise((resolve) => process.stdin.once('data', resolve));

const deadline = performance.now() + Number(runMsArg);
const keys = Number(keysArg);
let acked = 0;
let unknown = 0;
const failed: Record<string, number> = {};
const last: Record<string, string> = {};
const maybe: Record<string, string[]> = {};
for (let n = 0; performance.now() < deadline; n++) {
  const key = `p${id}/${n % keys}`;
  const value = `${id}-${n}`;
  try {
    await store.put(key, value);
    acked++;
    last[key] = value;
    delete maybe[key];
  } catch (err) {
    const code = err instanceof KubekvError ? err.code : 'NOT_KUBEKV';
    if (code === 'OUTCOME_UNKNOWN' || code === 'NOT_KUBEKV') {
      unknown++;
      (maybe[key] ??= []).push(value);
    } else failed[code] = (failed[code] ?? 0) + 1;
  }
}
await store.close();
process.stdout.write(`${JSON.stringify({ id, acked, unknown, failed, last, maybe })}\n`);
process.stdin.destroy();
