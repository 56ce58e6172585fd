/**
 * Applies deploy/rbac.yaml (the least-privilege manifest users copy) in a
 * test namespace and returns a KubeConfig of its ServiceAccount, so tests
 * prove that exactly what the manifest grants is enough.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { repoRoot } from '../controlplane/build.js';
import type { ControlPlaneHandle } from '../controlplane/index.js';

/**
 * @param edit - changes the manifest text as its comments tell users to
 *   (e.g. add lock Lease names to the leases rule); identity by default
 * @param files - the manifests of deploy/ to apply, each edited by `edit`
 *   (e.g. also rbac-secrets.yaml, the optional Role for Secret buckets)
 */
export async function asServiceAccount(cp: ControlPlaneHandle, namespace: string, edit: (manifest: string) => string = (m) => m, files: readonly string[] = ['rbac.yaml']): Promise<KubeConfig> {
  const client = KubernetesObjectApi.makeApiClient(cp.adminKubeConfig());
  for (const file of files) {
    const manifest = edit(readFileSync(join(repoRoot, 'deploy', file), 'utf8').replaceAll('namespace: my-app', `namespace: ${namespace}`));
    for (const object of loadAllYaml(manifest) as KubernetesObject[]) await client.create(object);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(await cp.mintUser({
    user: `system:serviceaccount:${namespace}:my-app`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
    namespace,
  }));
  return kc;
}
