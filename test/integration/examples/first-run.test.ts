/**
 * The examples run as the README says, from a shell: store-basics honours
 * `--kubeconfig` (and `--namespace`) with no other kubeconfig around, and
 * config-watcher started on a ConfigMap that does not exist says which to
 * create, without a stack trace. Both import the package by name
 * (`kubekv`, mapped to src/ by tsconfig paths, so no build is needed).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from '../../controlplane/build.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { readRaw } from '../../support/store.js';

const cp = testControlPlane();

/** Runs `node --import tsx examples/<file> <args>` with no kubeconfig but the one passed. */
async function example(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = await mkdtemp(join(tmpdir(), 'kubekv-example-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, KUBECONFIG: '' };
  delete env.NAMESPACE;
  delete env.KUBERNETES_SERVICE_HOST;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join('examples', file), ...args], { cwd: repoRoot, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('the examples from a shell', () => {
  it('store-basics uses the cluster --kubeconfig names', async () => {
    const namespace = await cp.freshNamespace('example-basics');
    const result = await example('store-basics.ts', ['--kubeconfig', cp.adminKubeconfigPath, '--namespace', namespace]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^db\.internal \d+$/m);
    assert.match(result.stdout, /^counter 1$/m);
    assert.equal((await readRaw(namespace, 'app-state')).data?.['config__db__host'], 'db.internal');
  });

  it('config-watcher on a missing ConfigMap says what to create, without a stack trace', async () => {
    const namespace = await cp.freshNamespace('example-watcher');
    const result = await example('config-watcher.ts', ['--kubeconfig', cp.adminKubeconfigPath, '--namespace', namespace, '--name', 'team-config']);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `ConfigMap ${namespace}/team-config does not exist; this watcher reads it and never creates it. Create it, e.g.:\n` +
        `  kubectl create configmap team-config -n ${namespace} --from-literal=log-level=info --from-literal=max-connections=100\n`,
    );
  });

  it('import the package by name, not its sources', async () => {
    for (const file of ['store-basics.ts', 'config-watcher.ts', 'job-queue.ts', 'scheduled-job.ts', 'counter/server.ts', 'counter/demo.ts', 'state/heartbeat.ts']) {
      const text = await readFile(join(repoRoot, 'examples', file), 'utf8');
      assert.doesNotMatch(text, /from '(\.\.\/)+src\//, file);
      assert.match(text, /from 'kubekv'/, file);
    }
  });
});
