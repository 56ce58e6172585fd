/**
 * examples/job-queue.ts: claims are atomic across stores (as across
 * processes). Several workers claiming the same job at the same moment get
 * exactly one winner; a full run with 2 producers and 3 workers runs every
 * job exactly once and leaves nothing queued or claimed.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ConfigMapStore } from '../../../src/index.js';
import { claim, enqueue, main, type ClaimedJob } from '../../../examples/job-queue.js';
import { testControlPlane } from '../../controlplane/remote.js';

const cp = testControlPlane();
const stores: ConfigMapStore[] = [];
after(async () => {
  for (const store of stores) await store.close();
});

async function open(namespace: string): Promise<ConfigMapStore> {
  const store = await ConfigMapStore.open({ name: 'job-queue', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
  stores.push(store);
  return store;
}

describe('examples/job-queue', () => {
  it('when three workers claim the same job at once, exactly one gets it', { timeout: 60_000 }, async () => {
    const namespace = await cp.freshNamespace('ex-queue-race');
    const workers = [await open(namespace), await open(namespace), await open(namespace)];
    for (let i = 1; i <= 5; i++) {
      await enqueue(workers[0]!, `job-${i}`, `payload ${i}`);
      // Every worker reads the same pending pair, then all claim it together.
      const pending = await workers[0]!.get(`queue/job-${i}`, { consistent: true });
      const results = await Promise.all(workers.map((store, w) => claim(store, pending!, `worker-${w + 1}`)));
      const winners = results.map((job, w) => (job ? w : -1)).filter((w) => w >= 0);
      assert.equal(winners.length, 1, `job-${i} was claimed by ${winners.length} workers`);
      const job = results[winners[0]!] as ClaimedJob;
      const record = await workers[0]!.get(`claimed/job-${i}`, { consistent: true });
      assert.equal((JSON.parse(record!.text) as { worker: string }).worker, `worker-${winners[0]! + 1}`, 'the claim names the winner');
      assert.equal(record!.lastIndex, job.claimIndex, 'the claim index is the claimed key\'s lastIndex');
      assert.equal(await workers[0]!.exists(`queue/job-${i}`, { consistent: true }), false);
    }
  });

  it('2 producers and 3 workers: every job runs exactly once and ends in done/', { timeout: 120_000 }, async () => {
    const namespace = await cp.freshNamespace('ex-queue');
    const handled: Array<{ id: string; worker: string }> = [];
    const summary = await main({
      namespace,
      kubeConfig: cp.adminKubeConfig(),
      workers: 3,
      producers: 2,
      jobsPerProducer: 15,
      handle: (job, worker) => {
        handled.push({ id: job.id, worker });
        if (job.id === 'p2-0007') throw new Error('job p2-0007 fails on purpose');
        return job.payload.toUpperCase();
      },
      signal: AbortSignal.timeout(100_000),
    });
    const ids = [1, 2].flatMap((p) => Array.from({ length: 15 }, (_, j) => `p${p}-${String(j + 1).padStart(4, '0')}`)).sort();
    assert.deepEqual(handled.map((h) => h.id).sort(), ids, 'each job must be handled exactly once');
    assert.deepEqual([...summary.done.keys()].sort(), ids, 'each job must be recorded in done/');
    for (const { id, worker } of handled) {
      const record = summary.done.get(id)!;
      assert.equal(record.worker, worker, `done/${id} names ${record.worker}, but ${worker} ran it`);
      assert.equal(record.ok, id !== 'p2-0007', `done/${id} ok`);
    }
    assert.match(summary.done.get('p2-0007')!.error ?? '', /fails on purpose/);
    assert.equal(Object.values(summary.ranBy).reduce((a, b) => a + b, 0), ids.length);
    const store = await open(namespace);
    assert.deepEqual(await store.list('queue/', { consistent: true }), [], 'jobs left queued');
    assert.deepEqual(await store.list('claimed/', { consistent: true }), [], 'claims left behind');
    console.log('  jobs run per worker:', summary.ranBy);
  });
});
