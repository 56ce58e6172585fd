/**
 * A bucket in a namespace that does not exist is reported as such: the API
 * server answers both with the same 404, and "bucket not found" would send
 * the user looking for a ConfigMap when the namespace is what is missing
 * (issue 17). An identity that may not read namespaces (most apps' Roles)
 * keeps getting BucketNotFoundError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BucketNotFoundError, ConfigMapStore, NamespaceNotFoundError } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { asServiceAccount } from '../../support/rbac.js';
import { expectKubekvError } from '../../support/store.js';

const cp = testControlPlane();

describe('opening a bucket in a missing namespace', () => {
  it('rejects with NamespaceNotFoundError, with create and without', async () => {
    for (const create of [false, true]) {
      const err = await expectKubekvError(
        () => ConfigMapStore.open({ name: 'b', namespace: 'no-such-namespace', kubeConfig: cp.adminKubeConfig(), create }),
        NamespaceNotFoundError,
        'NAMESPACE_NOT_FOUND',
      );
      assert.equal(err.namespace, 'no-such-namespace');
    }
  });

  it('is BucketNotFoundError for an identity that may not read namespaces, when the namespace exists', async () => {
    const namespace = await cp.freshNamespace('ns-exists');
    const kc = await asServiceAccount(cp, namespace);
    await expectKubekvError(() => ConfigMapStore.open({ name: 'my-app-state', kubeConfig: kc }), BucketNotFoundError, 'BUCKET_NOT_FOUND');
  });
});
