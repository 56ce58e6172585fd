/**
 * The test control plane started with `coordinatedLeaderElection: true`:
 * kube-apiserver serves coordination.k8s.io/v1beta1 LeaseCandidates and,
 * with the CoordinatedLeaderElection gate on, keeps a Lease's
 * spec.preferredHolder (beside a strategy; alone it is refused with 422),
 * which the default control plane drops. A kubekv holder honours the field
 * alone; a kubekv handoff on a Lease without a strategy is carried by the
 * annotation (the write must not send a preferredHolder the server refuses).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { LeaseElector } from '../../../src/election/index.js';
import { ControlPlane } from '../../controlplane/index.js';
import { waitFor } from '../../support/wait.js';

let cp: ControlPlane;
let namespace: string;
const open: LeaseElector[] = [];

before(async () => {
  cp = await ControlPlane.start({ coordinatedLeaderElection: true });
  namespace = await cp.freshNamespace('coordinated');
});

after(async () => {
  await Promise.all(open.map((e) => e.close()));
  await cp?.stop();
});

describe('control plane with CoordinatedLeaderElection', () => {
  it('serves LeaseCandidates (coordination.k8s.io/v1beta1)', async () => {
    const kc = cp.adminKubeConfig();
    const server = kc.getCurrentCluster()!.server;
    const { fetch } = await import('undici');
    const { RequestContext, HttpMethod } = await import('@kubernetes/client-node');
    const context = new RequestContext(`${server}/apis/coordination.k8s.io/v1beta1`, HttpMethod.GET);
    await kc.applySecurityAuthentication(context);
    const answer = await fetch(context.getUrl(), { headers: context.getHeaders(), dispatcher: context.getDispatcher() });
    assert.equal(answer.status, 200);
    const resources = ((await answer.json()) as { resources: Array<{ name: string }> }).resources.map((r) => r.name);
    assert.ok(resources.includes('leasecandidates'), `resources: ${resources.join(', ')}`);
  });

  it('keeps spec.preferredHolder, and a kubekv holder honours the field alone (as kubectl or the apiserver would set it)', async () => {
    const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
    const make = (identity: string) => {
      const elector = new LeaseElector({ name: 'pref', namespace, kubeConfig: cp.adminKubeConfig(), identity, ...timings });
      open.push(elector);
      return elector;
    };
    const a = make('a');
    await a.start();
    const b = make('b');
    const c = make('c');
    await Promise.all([b.start(), c.start()]);
    assert.equal(a.isLeader, true);
    const coordination = cp.adminKubeConfig().makeApiClient(CoordinationV1Api);
    // kubectl patch lease pref --type merge -p '{"spec":{"preferredHolder":"c"}}', as a conditional replace.
    for (;;) {
      const lease = await coordination.readNamespacedLease({ name: 'pref', namespace });
      // The API server accepts a preferredHolder only beside a strategy.
      lease.spec = { ...lease.spec, strategy: 'OldestEmulationVersion', preferredHolder: 'c' };
      try {
        const written = await coordination.replaceNamespacedLease({ name: 'pref', namespace, body: lease });
        assert.equal(written.spec?.preferredHolder, 'c', 'the API server dropped spec.preferredHolder with the gate on');
        break;
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }
    await waitFor(() => c.isLeader, 'c to lead', 10_000, 5);
    assert.equal(b.isLeader, false);
    assert.equal(a.isLeader, false);
    const lease = await coordination.readNamespacedLease({ name: 'pref', namespace });
    assert.equal(lease.spec?.holderIdentity, 'c');
    assert.equal(lease.spec?.leaseTransitions, 1);
    assert.equal(lease.spec?.preferredHolder, undefined, 'the new holder did not clear spec.preferredHolder');
  });

  it('a kubekv handoff on a Lease without a strategy is not refused by the gated API server', async () => {
    const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
    const x = new LeaseElector({ name: 'plain', namespace, kubeConfig: cp.adminKubeConfig(), identity: 'x', ...timings });
    const y = new LeaseElector({ name: 'plain', namespace, kubeConfig: cp.adminKubeConfig(), identity: 'y', ...timings });
    open.push(x, y);
    await x.start();
    await y.start();
    assert.equal(await x.handoff('y'), 'released');
    await waitFor(() => y.isLeader, 'y to lead', 10_000, 5);
  });
});
