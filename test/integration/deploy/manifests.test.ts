/**
 * Every manifest under deploy/ is valid for the real API server: each object
 * is created with a server-side dry run (full validation and admission, no
 * change) in a fresh namespace.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { repoRoot } from '../../controlplane/build.js';
import { testControlPlane } from '../../controlplane/remote.js';

const cp = testControlPlane();
const manifests = readdirSync(join(repoRoot, 'deploy')).filter((f) => f.endsWith('.yaml'));

describe('deploy/ manifests', () => {
  it('there are manifests to check', () => {
    assert.ok(manifests.includes('rbac.yaml') && manifests.includes('counter.yaml'), `found ${manifests.join(', ')}`);
  });

  for (const file of manifests) {
    it(`${file} passes server-side validation (dry run)`, async () => {
      const namespace = await cp.freshNamespace('manifests');
      const text = readFileSync(join(repoRoot, 'deploy', file), 'utf8').replace(/namespace: (my-app|counter)$/gm, `namespace: ${namespace}`);
      const objects = loadAllYaml(text) as KubernetesObject[];
      assert.ok(objects.length > 0);
      const client = KubernetesObjectApi.makeApiClient(cp.adminKubeConfig());
      for (const object of objects) {
        const created = await client.create(object, undefined, 'All');
        assert.equal(created.metadata?.name, object.metadata?.name);
      }
    });
  }
});
