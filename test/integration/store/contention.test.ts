/**
 * No lost update across OS processes: several processes, each with its own
 * store instance (own cache, own watch), hammer one bucket.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigMapStore } from '../../../src/index.js';
import { repoRoot } from '../../controlplane/build.js';
import { testControlPlane } from '../../controlplane/remote.js';

const run = promisify(execFile);
const cp = testControlPlane();

async function worker(job: Record<string, unknown>): Promise<{ id: string; done: number; retries: number }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/support/store-worker.ts'), JSON.stringify(job)], {
    cwd: repoRoot,
    timeout: 300_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { id: string; done: number; retries: number };
}

describe('contention across processes', () => {
  it('4 processes x 250 atomic increments of one counter end at exactly 1000', async () => {
    const namespace = await cp.freshNamespace('contention');
    const setup = await ConfigMapStore.open({ name: 'counter', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
    await setup.close();
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((id) => worker({ kubeconfig: cp.adminKubeconfigPath, namespace, bucket: 'counter', mode: 'increment', count: 250, id })),
    );
    assert.deepEqual(results.map((r) => r.done), [250, 250, 250, 250]);
    const check = await ConfigMapStore.open({ name: 'counter', namespace, kubeConfig: cp.adminKubeConfig() });
    const counter = await check.get('counter', { consistent: true });
    await check.close();
    assert.equal(counter?.text, '1000');
    const retries = results.reduce((sum, r) => sum + r.retries, 0);
    console.log(`  1000 increments from 4 processes; ${retries} KeyModified retries (contention was real: > 0)`);
    assert.ok(retries > 0, 'the processes never contended, so this test proved nothing');
  });

  it('concurrent puts of unrelated keys from 4 processes are all present', async () => {
    const namespace = await cp.freshNamespace('unrelated');
    const setup = await ConfigMapStore.open({ name: 'shared', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
    await Promise.all(
      ['p1', 'p2', 'p3', 'p4'].map((id) => worker({ kubeconfig: cp.adminKubeconfigPath, namespace, bucket: 'shared', mode: 'puts', count: 100, id })),
    );
    const all = await setup.list('', { consistent: true });
    await setup.close();
    assert.equal(all.length, 400);
    for (const id of ['p1', 'p2', 'p3', 'p4']) {
      for (let i = 0; i < 100; i++) {
        const pair = all.find((p) => p.key === `${id}/${i}`);
        assert.equal(pair?.text, `${id}-${i}`, `${id}/${i} lost`);
      }
    }
  });
});
