/**
 * The api-facts suite (test/support/api-facts.ts) against the real
 * kube-apiserver; test/unit/testing/fake-cluster.test.ts runs the same
 * suite against kubekv/testing's FakeCluster, so the fake is pinned to the
 * server's answers where kubekv relies on them.
 */
import { httpKubeApi } from '../../../src/kube/api.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { apiFacts } from '../../support/api-facts.js';

const cp = testControlPlane();
apiFacts({
  name: 'kube-apiserver',
  space: async () => ({ api: httpKubeApi(cp.adminKubeConfig()), namespace: await cp.freshNamespace('facts') }),
  compact: async () => void (await cp.compact()),
});
