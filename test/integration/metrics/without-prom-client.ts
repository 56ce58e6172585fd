/**
 * Child process of optional-peer.test.ts: makes `prom-client` unresolvable
 * (as when it is not installed) BEFORE loading kubekv, then uses the
 * library and prints what happened as one JSON line.
 *
 * Usage: node --import tsx without-prom-client.ts <kubeconfig path> <namespace>
 */
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'prom-client' || specifier.startsWith('prom-client/')) {
      throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' });
    }
    return nextResolve(specifier, context);
  },
});

const [kubeconfigPath, namespace] = process.argv.slice(2);
const { KubeConfig } = await import('@kubernetes/client-node');
const kubekv = await import('../../../src/index.js');
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(kubeconfigPath!);

const promClientLoads = await import('prom-client').then(() => true, () => false);
const store = await kubekv.ConfigMapStore.open({ name: 'no-prom', namespace: namespace!, kubeConfig, create: true });
await store.put('k', 'v');
const readBack = (await store.get('k'))?.text;
const lock = await store.newLock('l', { ttlMs: 3000 }).lock({ signal: AbortSignal.timeout(20_000) });
await lock.unlock();
await store.close();

const registry = { registerMetric() {}, getSingleMetric() {} };
const refusals: Record<string, { name: string; code: string; option: string; hasCause: boolean } | 'accepted'> = {};
const refusal = (err: unknown) => {
  const e = err as { name: string; code: string; option: string; cause?: unknown };
  return { name: e.name, code: e.code, option: e.option, hasCause: e.cause !== undefined };
};
await kubekv.ConfigMapStore.open({ name: 'no-prom', namespace: namespace!, kubeConfig, metrics: { registry } }).then(
  async (s) => ((refusals.store = 'accepted'), await s.close()),
  (err: unknown) => (refusals.store = refusal(err)),
);
await kubekv.StateManager.start({ name: 'no-prom-app', namespace: namespace!, kubeConfig, metrics: { registry } }).then(
  async (m) => ((refusals.manager = 'accepted'), await m.close()),
  (err: unknown) => (refusals.manager = refusal(err)),
);
console.log(JSON.stringify({ promClientLoads, readBack, refusals }));
