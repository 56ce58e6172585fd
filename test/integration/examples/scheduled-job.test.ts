/**
 * examples/scheduled-job.ts: two replicas in one process. The job runs only
 * on the replica holding the Lease at that moment, and after the leader
 * hands over, the new leader carries on the same schedule (run N + 1, due
 * everyMs after run N started) instead of starting again from run 1.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { ConfigMapStore } from '../../../src/index.js';
import { LAST_RUN_KEY, main, type JobRun, type LastRun } from '../../../examples/scheduled-job.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const everyMs = 400;
const stops: AbortController[] = [];
const running: Promise<void>[] = [];
after(async () => {
  for (const stop of stops) stop.abort();
  await Promise.allSettled(running);
});

interface Observed {
  run: number;
  identity: string;
  epoch: number;
  /** The Lease holder, read from the API server while the run was in progress. */
  holder: string | undefined;
  startedAt: number;
}

describe('examples/scheduled-job', () => {
  it('runs the job only on the leader, and a new leader continues the schedule after a handover', { timeout: 120_000 }, async () => {
    const namespace = await cp.freshNamespace('ex-schedule');
    const leases = cp.adminKubeConfig().makeApiClient(CoordinationV1Api);
    const runs: Observed[] = [];
    const job = async ({ run, identity, epoch }: JobRun) => {
      const startedAt = Date.now();
      const lease = await leases.readNamespacedLease({ name: 'scheduled-job-leader', namespace });
      runs.push({ run, identity, epoch, holder: lease.spec?.holderIdentity, startedAt });
    };
    const replica = (identity: string) => {
      const stop = new AbortController();
      stops.push(stop);
      const done = main({ identity, namespace, kubeConfig: cp.adminKubeConfig(), everyMs, job, signal: stop.signal, log: () => {}, ...timings });
      running.push(done);
      return { identity, stop, done };
    };
    const replicas = [replica('a'), replica('b')];

    await waitFor(() => runs.length >= 3, 'three runs under the first leader');
    const first = replicas.find((r) => r.identity === runs[0]!.identity)!;
    first.stop.abort();
    await first.done;
    const handedOverAt = runs.length;
    await waitFor(() => runs.length >= handedOverAt + 3, 'three runs under the next leader');
    const second = replicas.find((r) => r !== first)!;
    second.stop.abort();
    await second.done;

    assert.deepEqual(runs.map((r) => r.run), runs.map((_, i) => i + 1), 'runs must be numbered 1..N across leaders, none repeated or skipped');
    for (const r of runs) assert.equal(r.holder, r.identity, `run ${r.run} ran on ${r.identity} while ${r.holder} held the Lease`);
    assert.ok(runs.slice(0, handedOverAt).every((r) => r.identity === first.identity), 'the first leader ran every run before it stopped');
    const after = runs.slice(handedOverAt);
    assert.ok(after.every((r) => r.identity === second.identity), 'only the new leader ran the job after the handover');
    assert.ok(after[0]!.epoch > runs[handedOverAt - 1]!.epoch, 'the new leader runs under a higher epoch');
    // It continued the schedule: its first run waited until due, everyMs after the last recorded run started.
    const lastOfFirst = runs[handedOverAt - 1]!;
    assert.ok(after[0]!.startedAt >= lastOfFirst.startedAt + everyMs, `run ${after[0]!.run} started ${after[0]!.startedAt - lastOfFirst.startedAt} ms after run ${lastOfFirst.run}, before it was due`);

    await using store = await ConfigMapStore.open({ name: 'scheduled-job-state', namespace, kubeConfig: cp.adminKubeConfig() });
    const recorded = JSON.parse((await store.get(LAST_RUN_KEY, { consistent: true }))!.text) as LastRun;
    assert.equal(recorded.run, runs.length, 'the bucket records the last run');
    assert.equal(recorded.by, second.identity);
    console.log(`  ${handedOverAt} runs by ${first.identity}, then ${after.length} by ${second.identity} (epochs ${lastOfFirst.epoch} -> ${after[0]!.epoch})`);
  });
});
