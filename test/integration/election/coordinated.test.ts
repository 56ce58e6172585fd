/**
 * Coordinated leader election (KEP-4355) with kubekv contenders, on a
 * kube-apiserver started with the CoordinatedLeaderElection gate and
 * coordination.k8s.io/v1beta1 on: each replica registers a LeaseCandidate
 * with its versions and never acquires on its own; the API server picks
 * the oldest version among them and writes it into the Lease; when that
 * replica goes (close() deletes its candidate and releases), the API server
 * hands the Lease to the newer one. Without the API, start() rejects with
 * InvalidOptionError.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { LeaseElector } from '../../../src/election/index.js';
import { ControlPlane } from '../../controlplane/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';

let cp: ControlPlane;
let namespace: string;
const open: LeaseElector[] = [];
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };

before(async () => {
  cp = await ControlPlane.start({ coordinatedLeaderElection: true });
  namespace = await cp.freshNamespace('coordinated-election');
});

after(async () => {
  await Promise.all(open.map((e) => e.close()));
  await cp?.stop();
});

/** Leadership intervals of every contender, [start, end) by performance.now(). */
const intervals: Array<{ who: string; start: number; end: number }> = [];

function contender(identity: string, binaryVersion: string): { elector: LeaseElector; started: string[] } {
  const started: string[] = [];
  let since: number | undefined;
  const elector = new LeaseElector({
    name: 'upgrade', namespace, kubeConfig: cp.adminKubeConfig(), identity, ...timings,
    coordinated: { binaryVersion, emulationVersion: binaryVersion },
    onStartedLeading: () => {
      started.push(identity);
      since = performance.now();
    },
    // Before the release: the interval ends no later than the Lease is let go.
    onStoppedLeading: () => void intervals.push({ who: identity, start: since!, end: performance.now() }),
  });
  open.push(elector);
  return { elector, started };
}

describe('coordinated leader election', () => {
  it('the API server picks the oldest version among kubekv replicas, and hands over to the newer one when the old one goes', async () => {
    const newer = contender('new-1', '1.36.0');
    await newer.elector.start();
    const older = contender('old-1', '1.35.0');
    await older.elector.start();
    await waitFor(() => older.elector.isLeader, 'the API server to pick the older replica', 60_000, 20);
    // The newer one may have led alone first (it was the only candidate): it stepped down when the API server preferred the older.
    console.log(`newer replica led ${newer.started.length} time(s) before the older was picked`);
    assert.equal(newer.elector.isLeader, false);
    const lease = await cp.adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'upgrade', namespace });
    assert.equal(lease.spec?.holderIdentity, 'old-1');
    assert.equal(lease.spec?.strategy, 'OldestEmulationVersion');
    await older.elector.close();
    const handedAt = performance.now();
    await waitFor(() => newer.elector.isLeader, 'the API server to hand the Lease to the newer replica', 60_000, 20);
    console.log(`handover to the newer replica after the older closed: ${(performance.now() - handedAt).toFixed(0)} ms`);
    await newer.elector.close();
    for (let i = 0; i < intervals.length; i++) {
      for (let j = i + 1; j < intervals.length; j++) {
        const [a, b] = [intervals[i]!, intervals[j]!];
        assert.ok(Math.min(a.end, b.end) <= Math.max(a.start, b.start), `two leaders at once: ${JSON.stringify(intervals)}`);
      }
    }
  });

  it('without the LeaseCandidate API, start() rejects with InvalidOptionError', async () => {
    const plain = testControlPlane();
    const ns = await plain.freshNamespace('not-coordinated');
    const elector = new LeaseElector({ name: 'x', namespace: ns, kubeConfig: plain.adminKubeConfig(), identity: 'a', coordinated: { binaryVersion: '1.36.0' } });
    open.push(elector);
    await assert.rejects(elector.start(), (err: unknown) => (err as { code?: string; option?: string }).code === 'INVALID_OPTION' && (err as { option?: string }).option === 'coordinated');
  });
});
