/**
 * The least-privilege RBAC in deploy/rbac.yaml is enough for everything the
 * store does, and it really is least privilege (other names are refused).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { ConfigMapStore, ForbiddenError } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectApiStatus } from '../../support/kube.js';
import { asServiceAccount } from '../../support/rbac.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();

describe('deploy/rbac.yaml', () => {
  it('lets the app create, write, watch and tear down its bucket, and nothing else', async () => {
    const namespace = await cp.freshNamespace('rbac');
    const kc = await asServiceAccount(cp, namespace);
    // The namespace comes from the kubeconfig context, as in a Pod.
    const store = await ConfigMapStore.open({ name: 'my-app-state', kubeConfig: kc, create: true });
    assert.equal(store.namespace, namespace);
    const reader = await ConfigMapStore.open({ name: 'my-app-state', kubeConfig: kc });
    await store.put('config/feature', 'on');
    await waitFor(async () => (await reader.get('config/feature'))?.text === 'on', 'the second instance to see the write via its watch');
    assert.equal((await reader.get('config/feature', { consistent: true }))?.text, 'on');
    assert.equal(await store.delete('config/feature'), true);
    await reader.close();

    await assert.rejects(ConfigMapStore.open({ name: 'other-bucket', kubeConfig: kc }), (err: unknown) =>
      err instanceof ForbiddenError && err.code === 'FORBIDDEN' && err.verb === 'get' && err.objectName === 'other-bucket' &&
      // The server's words, which name the identity refused (whose Role to fix), as kubectl prints them.
      /User "system:serviceaccount:[^"]+"/.test(err.serverMessage ?? '') && err.message.includes(err.serverMessage!));
    await store.teardown();
    await expectApiStatus(cp.adminKubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'my-app-state', namespace }), 404);
  });
});
