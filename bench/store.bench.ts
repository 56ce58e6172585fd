/**
 * ConfigMapStore figures next to the naive pattern every earlier ConfigMap
 * KV library uses (one GET + one CAS PUT per operation, retried on 409):
 * put throughput by concurrency, cached vs API reads, write-to-watch latency
 * in another process vs a bare client-node watch, put latency by bucket size.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore } from '../src/index.js';
import { repoRoot } from '../test/controlplane/build.js';
import type { ControlPlane } from '../test/controlplane/index.js';
import { ms, quantile, timeEach } from './stats.js';

const RUN_MS = 3000;

/** Runs every store benchmark and prints the figures. */
export async function benchStore(cp: ControlPlane): Promise<void> {
  const kc = cp.adminKubeConfig();
  const namespace = await cp.freshNamespace('bench-store');
  console.log('\nConfigMapStore');
  await putThroughput(kc, namespace);
  await readLatency(kc, namespace);
  await watchLatency(cp, kc, namespace);
  await putLatencyBySize(kc, namespace);
}

/** Runs `writers` loops of `op` for RUN_MS and returns completed operations per second. */
async function throughput(writers: number, op: (writer: number, i: number) => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + RUN_MS;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; performance.now() < deadline; i++) {
        await op(w, i);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/** The k8s-kv / mapstore pattern: read the ConfigMap, change one key, PUT it back with its resourceVersion; retry on 409. */
async function naivePut(api: CoreV1Api, namespace: string, name: string, key: string, value: string): Promise<void> {
  for (;;) {
    const cm = await api.readNamespacedConfigMap({ name, namespace });
    cm.data = { ...cm.data, [key]: value };
    try {
      await api.replaceNamespacedConfigMap({ name, namespace, body: cm });
      return;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) throw err;
    }
  }
}

async function putThroughput(kc: KubeConfig, namespace: string): Promise<void> {
  const api = kc.makeApiClient(CoreV1Api);
  console.log(`  put throughput (${RUN_MS / 1000} s per cell, distinct keys per writer)`);
  console.log('    writers   kubekv ops/s   naive GET+PUT ops/s   ratio');
  for (const writers of [1, 16, 64]) {
    const bucket = `tput-${writers}`;
    const store = await ConfigMapStore.open({ name: bucket, namespace, kubeConfig: kc, create: true });
    const kubekv = await throughput(writers, (w, i) => store.put(`w${w}/${i % 50}`, `v${i}`));
    await store.close();
    const naiveName = `naive-${writers}`;
    await api.createNamespacedConfigMap({ namespace, body: { metadata: { name: naiveName }, data: {} } });
    const naive = await throughput(writers, (w, i) => naivePut(api, namespace, naiveName, `w${w}.${i % 50}`, `v${i}`));
    console.log(`    ${String(writers).padStart(7)}   ${kubekv.toFixed(0).padStart(12)}   ${naive.toFixed(0).padStart(19)}   ${(kubekv / naive).toFixed(1)}x`);
  }
}

async function readLatency(kc: KubeConfig, namespace: string): Promise<void> {
  const store = await ConfigMapStore.open({ name: 'reads', namespace, kubeConfig: kc, create: true });
  await store.put('key', 'value');
  const api = kc.makeApiClient(CoreV1Api);
  const cached = await timeEach(20_000, () => store.get('key'));
  const remote = await timeEach(300, () => api.readNamespacedConfigMap({ name: 'reads', namespace }));
  await store.close();
  const ratio = quantile(remote, 0.5) / quantile(cached, 0.5);
  console.log(`  get latency: cache p50 ${ms(quantile(cached, 0.5))} p99 ${ms(quantile(cached, 0.99))}; API GET p50 ${ms(quantile(remote, 0.5))} p99 ${ms(quantile(remote, 0.99))}; ${ratio.toFixed(0)}x`);
}

async function watchLatency(cp: ControlPlane, kc: KubeConfig, namespace: string): Promise<void> {
  const count = 200;
  const store = await ConfigMapStore.open({ name: 'probe', namespace, kubeConfig: kc, create: true });
  await store.put('probe', '0:0');
  const reader = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench/watch-reader.ts'), cp.adminKubeconfigPath, namespace, 'probe', String(count)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: reader.stdout });
  const ready = new Promise<void>((resolve) => lines.once('line', () => resolve()));
  const result = new Promise<string>((resolve) => lines.on('line', (line) => line.startsWith('{') && resolve(line)));
  await ready;
  for (let i = 1; i <= count; i++) {
    await store.put('probe', `${i}:${performance.timeOrigin + performance.now()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const { kubekv, bare } = JSON.parse(await result) as { kubekv: number[]; bare: number[] };
  await once(reader, 'exit');
  await store.close();
  console.log(`  write -> watch-visible in another process (n=${count}):`);
  console.log(`    kubekv store watch  p50 ${ms(quantile(kubekv, 0.5))}  p99 ${ms(quantile(kubekv, 0.99))}`);
  console.log(`    bare client-node    p50 ${ms(quantile(bare, 0.5))}  p99 ${ms(quantile(bare, 0.99))}`);
  console.log(`    ratio p50 ${(quantile(kubekv, 0.5) / quantile(bare, 0.5)).toFixed(2)}x  p99 ${(quantile(kubekv, 0.99) / quantile(bare, 0.99)).toFixed(2)}x`);
}

async function putLatencyBySize(kc: KubeConfig, namespace: string): Promise<void> {
  console.log('  put latency (one small key) as the bucket grows:');
  for (const kib of [10, 100, 900]) {
    const store = await ConfigMapStore.open({ name: `size-${kib}`, namespace, kubeConfig: kc, create: true });
    // Incompressible filler in 8 KiB values, so the bucket really holds `kib` KiB.
    for (let filled = 0; filled < kib; filled += 8) {
      await store.put(`fill/${filled}`, randomBytes(Math.min(8, kib - filled) * 1024));
    }
    const samples = await timeEach(100, (i) => store.put('small', String(i)));
    await store.close();
    console.log(`    ${String(kib).padStart(4)} KiB bucket: p50 ${ms(quantile(samples, 0.5))}  p99 ${ms(quantile(samples, 0.99))}`);
  }
}
