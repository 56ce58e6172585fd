/**
 * The `kubeConfig` option takes where to find the cluster, as kubectl's
 * `--kubeconfig` and `--context` do, so an app need not import
 * @kubernetes/client-node (a transitive dependency: pnpm's strict layout
 * hides it, and a second copy invites version skew) to point kubekv at a
 * cluster (issue 17).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { load, dump } from 'js-yaml';
import { ConfigMapStore, InvalidOptionError, StateManager } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectKubekvError } from '../../support/store.js';

const cp = testControlPlane();

/** The admin kubeconfig with a second context, `elsewhere`, whose server does not exist, made current. */
function twoContexts(): string {
  const config = load(readFileSync(cp.adminKubeconfigPath, 'utf8')) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
    contexts: { name: string; context: { cluster: string; user: string } }[];
    'current-context': string;
  };
  const admin = config['current-context'];
  const context = config.contexts.find((c) => c.name === admin)!;
  config.clusters.push({ name: 'nowhere', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } });
  config.contexts.push({ name: 'elsewhere', context: { ...context.context, cluster: 'nowhere' } });
  config['current-context'] = 'elsewhere';
  const path = join(mkdtempSync(join(tmpdir(), 'kubekv-kubeconfig-')), 'config');
  writeFileSync(path, dump(config));
  return path;
}

describe('the kubeConfig option as a path and a context', () => {
  it('opens a store from a kubeconfig path, and from { path, context }', { timeout: 60_000 }, async () => {
    const namespace = await cp.freshNamespace('kc-source');
    await using byPath = await ConfigMapStore.open({ name: 'b', namespace, kubeConfig: cp.adminKubeconfigPath, create: true });
    await byPath.put('k', 'v');
    const path = twoContexts();
    const admin = (load(readFileSync(cp.adminKubeconfigPath, 'utf8')) as { 'current-context': string })['current-context'];
    await using byContext = await ConfigMapStore.open({ name: 'b', namespace, kubeConfig: { path, context: admin } });
    assert.equal((await byContext.get('k', { consistent: true }))?.text, 'v');
  });

  it('refuses a path that does not exist, a context the file lacks, and a value of another kind, naming the option', async () => {
    const path = twoContexts();
    const missing = await expectKubekvError(() => ConfigMapStore.open({ name: 'b', kubeConfig: '/nonexistent/kubeconfig' }), InvalidOptionError, 'INVALID_OPTION');
    assert.equal(missing.option, 'kubeConfig.path');
    const context = await expectKubekvError(() => ConfigMapStore.open({ name: 'b', kubeConfig: { path, context: 'nope' } }), InvalidOptionError, 'INVALID_OPTION');
    assert.equal(context.option, 'kubeConfig.context');
    assert.match(context.message, /elsewhere/, 'the error lists the contexts there are');
    const kind = await expectKubekvError(() => StateManager.start({ name: 'app', kubeConfig: 42 as never }), InvalidOptionError, 'INVALID_OPTION');
    assert.equal(kind.option, 'kubeConfig');
  });
});
