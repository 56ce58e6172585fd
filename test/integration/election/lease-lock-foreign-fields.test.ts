/**
 * KubeLeaseLock.update against the real API server when it does not
 * remember the object at the version it replaces (it keeps the last 8 it
 * saw): the Lease's other parties' fields (labels, annotations set with
 * kubectl, spec.strategy / spec.preferredHolder of coordinated leader
 * election) must survive the renewal, and the write must stay conditional on
 * exactly that version.
 *
 * The test control plane runs without the CoordinatedLeaderElection feature
 * gate (beta, off by default), so the API server drops spec.strategy and
 * spec.preferredHolder on write; the test still sets them and compares the
 * whole object around the record, so on a server that keeps them they are
 * held to the same rule.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { V1Lease } from '@kubernetes/client-node';
import { KubeLeaseLock, type LeaseRecord } from '../../../src/election/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminApis, type Apis } from '../../support/kube.js';

const cp = testControlPlane();
let admin: Apis;
let ns: string;

before(async () => {
  admin = adminApis();
  ns = await cp.freshNamespace('lease-lock-fields');
});

function lockOn(name: string): KubeLeaseLock {
  // Configured labels and annotations: what the lock would fall back to if it rebuilt the object.
  return new KubeLeaseLock({ kubeConfig: cp.adminKubeConfig(), namespace: ns, name, labels: { 'app.kubernetes.io/managed-by': 'kubekv' }, annotations: { 'kubekv.dev/key': 'k' } });
}

function record(renewTime: Date): LeaseRecord {
  return { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: new Date(Date.UTC(2030, 0, 1)), renewTime, leaseTransitions: 0 };
}

/** Another party's edit, as kubectl or the coordinated election controller would make it (a conditional PUT of the object read). */
async function foreignEdit(name: string): Promise<V1Lease> {
  const lease = await admin.coordination.readNamespacedLease({ name, namespace: ns });
  lease.metadata!.annotations = { ...lease.metadata!.annotations, 'example.com/owner': 'team-a' };
  lease.metadata!.labels = { ...lease.metadata!.labels, 'example.com/tier': 'control' };
  lease.spec = { ...lease.spec, strategy: 'OldestEmulationVersion', preferredHolder: 'someone-else' };
  return admin.coordination.replaceNamespacedLease({ name, namespace: ns, body: lease });
}

/** Everything but the record and what the server changes on every write. */
function aroundRecord(lease: V1Lease): unknown {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = lease.metadata ?? {};
  const { holderIdentity: _h, leaseDurationSeconds: _d, acquireTime: _a, renewTime: _r, leaseTransitions: _t, ...spec } = lease.spec ?? {};
  return { metadata, spec };
}

describe('KubeLeaseLock.update on a version it does not remember', () => {
  it('keeps the labels, annotations and spec fields others set, and renews the record', async () => {
    const lock = lockOn('kept');
    const created = await lock.create(record(new Date(Date.UTC(2030, 0, 1))));
    assert.ok(created.ok);
    // The lock never saw this version, as when it has dropped out of the 8 it keeps.
    const edited = await foreignEdit('kept');
    assert.equal(edited.metadata?.annotations?.['example.com/owner'], 'team-a');

    const renewTime = new Date(Date.UTC(2030, 0, 1, 0, 0, 2));
    const renewed = await lock.update(record(renewTime), edited.metadata.resourceVersion!);
    assert.ok(renewed.ok, `update failed: ${JSON.stringify(renewed)}`);
    assert.equal(renewed.lease.record.renewTime?.getTime(), renewTime.getTime());

    const after = await admin.coordination.readNamespacedLease({ name: 'kept', namespace: ns });
    assert.equal(after.metadata?.resourceVersion, renewed.lease.resourceVersion);
    assert.equal(after.metadata?.annotations?.['example.com/owner'], 'team-a', 'the renewal erased another party\'s annotation');
    assert.equal(after.metadata?.labels?.['example.com/tier'], 'control', 'the renewal erased another party\'s label');
    assert.deepEqual(aroundRecord(after), aroundRecord(edited), 'the renewal changed fields outside the record');
  });

  it('conflicts without writing when the Lease has moved past that version, and reports a deleted Lease as not-found', async () => {
    const lock = lockOn('moved');
    assert.ok((await lock.create(record(new Date(Date.UTC(2030, 0, 1))))).ok);
    const first = await foreignEdit('moved');
    const second = await admin.coordination.replaceNamespacedLease({
      name: 'moved', namespace: ns, body: { ...first, metadata: { ...first.metadata, annotations: { ...first.metadata?.annotations, 'example.com/owner': 'team-b' } } },
    });
    // A fresh lock: it remembers neither version.
    const stale = await lockOn('moved').update(record(new Date(Date.UTC(2030, 0, 1, 0, 0, 2))), first.metadata!.resourceVersion!);
    assert.deepEqual(stale, { ok: false, reason: 'conflict' });
    const after = await admin.coordination.readNamespacedLease({ name: 'moved', namespace: ns });
    assert.equal(after.metadata?.resourceVersion, second.metadata?.resourceVersion, 'a stale update was written');

    // Read first, a version it does not remember finds the Lease gone. (A
    // PUT alone would not: the API server creates a Lease on update,
    // whatever resourceVersion the body names.)
    await admin.coordination.deleteNamespacedLease({ name: 'moved', namespace: ns });
    const gone = await lockOn('moved').update(record(new Date(Date.UTC(2030, 0, 1, 0, 0, 4))), second.metadata!.resourceVersion!);
    assert.deepEqual(gone, { ok: false, reason: 'not-found' });
  });
});
