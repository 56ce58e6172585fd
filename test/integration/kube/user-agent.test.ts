/**
 * kubekv's requests identify themselves: the API server records the
 * User-Agent's first segment as the field manager of each write, so an
 * operator reading managedFields (or an audit log) sees "kubekv", not
 * "unknown", for both a bucket and a Lease.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { V1ManagedFieldsEntry } from '@kubernetes/client-node';
import { ConfigMapStore } from '../../../src/index.js';
import { LeaseElector } from '../../../src/election/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminApis, type Apis } from '../../support/kube.js';

const cp = testControlPlane();
let admin: Apis;
let ns: string;
const closers: Array<() => Promise<void>> = [];

before(async () => {
  admin = adminApis();
  ns = await cp.freshNamespace('user-agent');
});
after(async () => {
  for (const close of closers) await close();
});

/** The managers that own a field under `top` (e.g. f:data, f:spec). */
function managersOf(entries: V1ManagedFieldsEntry[] | undefined, top: string): string[] {
  return (entries ?? []).filter((e) => e.fieldsV1 && top in (e.fieldsV1 as Record<string, unknown>)).map((e) => e.manager ?? '');
}

describe('User-Agent', () => {
  it('the API server records kubekv as the field manager of a bucket write and of a Lease write', async () => {
    const store = await ConfigMapStore.open({ name: 'ua-bucket', namespace: ns, kubeConfig: cp.adminKubeConfig(), create: true });
    closers.push(() => store.close());
    await store.put('greeting', 'hello');
    const cm = await admin.core.readNamespacedConfigMap({ name: 'ua-bucket', namespace: ns });
    assert.deepEqual(managersOf(cm.metadata?.managedFields, 'f:data'), ['kubekv']);

    const elector = new LeaseElector({ name: 'ua-lease', namespace: ns, kubeConfig: cp.adminKubeConfig(), identity: 'ua-1' });
    closers.push(() => elector.close());
    await elector.start();
    const lease = await admin.coordination.readNamespacedLease({ name: 'ua-lease', namespace: ns });
    assert.deepEqual(managersOf(lease.metadata?.managedFields, 'f:spec'), ['kubekv']);
  });
});
