/**
 * The harness promises tests rely on: restarts keep data, user kubeconfigs
 * carry the identity RBAC sees, and the server is the real release.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { kubernetesVersion } from '../../controlplane/build.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminApis, apisFor, expectApiStatus } from '../../support/kube.js';

const cp = testControlPlane();

describe('test control plane', () => {
  it('is a real kube-apiserver of the pinned release', async () => {
    const version = await cp.adminKubeConfig().makeApiClient(VersionApi).getCode();
    assert.equal(version.gitVersion, kubernetesVersion);
    assert.match(version.goVersion, /^go1\./);
  });

  it('keeps every object across restartApiserver() and restartAll()', async () => {
    const { core } = adminApis();
    const namespace = await cp.freshNamespace('harness');
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'survivor' }, data: { k: 'v' } } });
    await cp.restartApiserver();
    assert.deepEqual((await adminApis().core.readNamespacedConfigMap({ name: 'survivor', namespace })).data, { k: 'v' });
    await cp.restartAll();
    assert.deepEqual((await adminApis().core.readNamespacedConfigMap({ name: 'survivor', namespace })).data, { k: 'v' });
  });

  it('mints kubeconfigs whose identity RBAC sees (a user with no role is refused)', async () => {
    const namespace = await cp.freshNamespace('harness-user');
    const kc = new KubeConfig();
    kc.loadFromFile(await cp.mintUser({ user: 'nobody', groups: ['some-group'], namespace }));
    const err = await expectApiStatus(apisFor(kc).core.listNamespacedConfigMap({ namespace }), 403);
    assert.match(String(err.body), /User \\"nobody\\" cannot list resource/);
  });
});
