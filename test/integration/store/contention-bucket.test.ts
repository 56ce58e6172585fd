/**
 * Contention never fails a write (issue 7, defect 2). Several writers, each
 * with its own store (own cache, own watch), write one bucket holding about
 * 110 KB, so every commit is a round trip slow enough for the others to
 * commit in between: a write that gives up after a fixed number of conflicts
 * starves. A write may only end by its own condition failing, its deadline,
 * the caller's signal or a non-retryable error; so every plain put resolves,
 * every acknowledged increment is counted, and nothing is lost.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigMapStore, KubekvError } from '../../../src/index.js';
import { repoRoot } from '../../controlplane/build.js';
import { testControlPlane } from '../../controlplane/remote.js';
import type { WorkerJob, WorkerReport } from '../../support/bucket-worker.js';
import { readRaw } from '../../support/store.js';

const run = promisify(execFile);
const cp = testControlPlane();
/**
 * The writers' deadline. Contention alone must never end a write, however
 * long it lasts; the deadline is a separate bound, set well above what this
 * test needs on a slow, busy 2-core machine so that it measures the former,
 * not the machine (the code before the fix failed by attempt count, fast).
 */
const timeoutMs = 120_000;

/** Bytes of a ConfigMap's values (what counts toward its 1 MiB). */
function storedBytes(cm: Awaited<ReturnType<typeof readRaw>>): number {
  const sum = (m: Record<string, string> | undefined) => Object.entries(m ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
  return sum(cm.data) + sum(cm.binaryData);
}

/** A fresh bucket filled with ~110 KB of incompressible values under `fill/`. */
async function bigBucket(prefix: string): Promise<{ namespace: string; name: string }> {
  const namespace = await cp.freshNamespace(prefix);
  const name = 'big';
  const setup = await ConfigMapStore.open({ name, namespace, kubeConfig: cp.adminKubeConfig(), create: true });
  try {
    await setup.batch(Array.from({ length: 75 }, (_, i) => ({ op: 'put' as const, key: `fill/${String(i).padStart(3, '0')}`, value: randomBytes(1100) })));
  } finally {
    await setup.close();
  }
  const bytes = storedBytes(await readRaw(namespace, name));
  assert.ok(bytes >= 100_000 && bytes <= 130_000, `the bucket should hold about 110 KB, holds ${bytes} bytes`);
  return { namespace, name };
}

async function worker(job: WorkerJob): Promise<WorkerReport> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/support/bucket-worker.ts'), JSON.stringify(job)], {
    cwd: repoRoot,
    timeout: 400_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as WorkerReport;
}

describe('contention on a ~110 KB bucket never fails a write', () => {
  it('4 processes, each putting its own keys while incrementing a shared counter: all puts resolve, no increment is lost', async () => {
    const bucket = await bigBucket('contention-big');
    const ids = ['p1', 'p2', 'p3', 'p4'];
    // Enough writes that a write giving up after a fixed number of lost
    // races is all but certain to show (each one does with a small chance).
    const puts = 100;
    const increments = 50;
    // Processes take a few seconds to start (tsx): they all begin writing at
    // the same instant, so that they really contend.
    const startAt = Date.now() + 8_000;
    const reports = await Promise.all(
      ids.map((id) => worker({ kubeconfig: cp.adminKubeconfigPath, namespace: bucket.namespace, bucket: bucket.name, id, puts, increments, startAt, timeoutMs })),
    );
    const failures = reports.flatMap((r) => r.failures.map((f) => `${r.id}: ${f}`));
    console.log(
      `  ${ids.length} processes: ${reports.map((r) => `${r.id} ${r.putsResolved} puts, ${r.incrementsDone} increments, ${r.casRetries} CAS retries, ${r.ms} ms`).join('; ')}`,
    );
    assert.deepEqual(failures, [], `${failures.length} writes were rejected under contention (none may be)`);
    assert.deepEqual(reports.map((r) => r.putsResolved), ids.map(() => puts));
    assert.deepEqual(reports.map((r) => r.incrementsDone), ids.map(() => increments));

    const check = await ConfigMapStore.open({ name: bucket.name, namespace: bucket.namespace, kubeConfig: cp.adminKubeConfig() });
    try {
      assert.equal((await check.get('counter', { consistent: true }))?.text, String(ids.length * increments), 'the counter lost or doubled an increment');
      const all = await check.list('', { consistent: true });
      const values = new Map(all.map((p) => [p.key, p.text]));
      const lost = ids.flatMap((id) => Array.from({ length: puts }, (_, i) => `${id}/${i}`)).filter((key) => values.get(key) !== key.replace('/', '-'));
      assert.deepEqual(lost, [], 'acknowledged puts are missing from the bucket');
      assert.equal(all.filter((p) => p.key.startsWith('fill/')).length, 75, 'the fill keys were disturbed');
    } finally {
      await check.close();
    }
    const retries = reports.reduce((n, r) => n + r.casRetries, 0);
    assert.ok(retries > 0, 'the increments never contended, so this test proved nothing');
  });

  it('16 store instances writing distinct keys to one bucket: 0 failed, 0 lost', async () => {
    const bucket = await bigBucket('contention-16');
    const writers = 16;
    const puts = 10;
    const stores = await Promise.all(
      Array.from({ length: writers }, () => ConfigMapStore.open({ name: bucket.name, namespace: bucket.namespace, kubeConfig: cp.adminKubeConfig(), timeoutMs })),
    );
    const failures: string[] = [];
    let resolved = 0;
    let slowest = 0;
    const started = Date.now();
    try {
      await Promise.all(
        stores.map(async (store, w) => {
          for (let i = 0; i < puts; i++) {
            try {
              const began = performance.now();
              await store.put(`w${w}/${i}`, `w${w}-${i}`);
              slowest = Math.max(slowest, performance.now() - began);
              resolved++;
            } catch (err) {
              failures.push(`w${w}/${i}: ${err instanceof KubekvError ? `${err.code} ${err.message}` : String(err)}`);
            }
          }
        }),
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
    console.log(`  ${writers} writers x ${puts} puts: ${resolved} resolved, ${failures.length} failed, ${Date.now() - started} ms, slowest put ${slowest.toFixed(0)} ms`);
    assert.deepEqual(failures, [], `${failures.length} of ${writers * puts} puts failed under contention (none may)`);

    const cm = await readRaw(bucket.namespace, bucket.name);
    const check = await ConfigMapStore.open({ name: bucket.name, namespace: bucket.namespace, kubeConfig: cp.adminKubeConfig() });
    try {
      const values = new Map((await check.list('w', { consistent: true })).map((p) => [p.key, p.text]));
      const lost: string[] = [];
      for (let w = 0; w < writers; w++) for (let i = 0; i < puts; i++) if (values.get(`w${w}/${i}`) !== `w${w}-${i}`) lost.push(`w${w}/${i}`);
      assert.deepEqual(lost, [], `acknowledged puts are missing from the bucket (resourceVersion ${cm.metadata?.resourceVersion})`);
    } finally {
      await check.close();
    }
  });
});
