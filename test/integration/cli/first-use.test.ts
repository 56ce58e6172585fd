/**
 * What a new user of the CLI meets first (issue 17): errors that say what
 * is wrong in words and with the right code, `version`, `del --prefix`,
 * the live leader in `buckets`, and kubectl's namespace order.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dump, load } from 'js-yaml';
import { StateManager } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';
import { adminArgs, describeResult, kubekv, type CliResult } from './run-kubekv.js';

const cp = testControlPlane();
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, describeResult(result));
  return result;
}

function fails(result: CliResult, exitCode: number, line: RegExp): void {
  assert.equal(result.code, exitCode, describeResult(result));
  assert.match(result.stderr, line, describeResult(result));
}

describe('kubekv, first use', () => {
  it('without any kubeconfig says so in words, as a usage error (exit 2), before any request', async () => {
    const home = await mkdtemp(join(tmpdir(), 'kubekv-home-'));
    const result = await kubekv(['ls', '-b', 'x'], { env: { HOME: home, KUBECONFIG: '' } });
    fails(result, 2, /^error: INVALID_OPTION: no kubeconfig found \(KUBECONFIG unset, ~\/\.kube\/config missing, not in a Pod\): pass --kubeconfig <path> or set KUBECONFIG$/m);
    const missing = await kubekv(['ls', '-b', 'x'], { env: { HOME: home, KUBECONFIG: join(home, 'nope.yaml') } });
    fails(missing, 2, /^error: INVALID_OPTION: no kubeconfig found \(KUBECONFIG=.*nope\.yaml names no file that exists, not in a Pod\)/m);
  });

  it('a refusal names the subject the server refused, as kubectl does', async () => {
    const namespace = await cp.freshNamespace('cli-subject');
    const kubeconfig = await cp.mintUser({ user: 'nobody', namespace });
    const result = await kubekv(['ls', '-b', 'app', '--kubeconfig', kubeconfig, '-n', namespace]);
    fails(result, 4, /^error: FORBIDDEN: configmaps "app" is forbidden: User "nobody" cannot get resource "configmaps" in API group "" in the namespace "cli-subject[^"]*" \(check the Role granted to this identity\)$/m);
  });

  it('a missing namespace is NAMESPACE_NOT_FOUND, not a missing bucket; a missing Lease is LEASE_NOT_FOUND', async () => {
    const gone = 'no-such-namespace-17';
    for (const args of [['ls', '-b', 'app'], ['get', 'k', '-b', 'app'], ['put', 'k', 'v', '-b', 'app'], ['put', 'k', 'v', '-b', 'app', '--create-bucket'], ['leader', 'app']]) {
      fails(await kubekv([...args, '-n', gone, ...adminArgs()]), 3, new RegExp(`^error: NAMESPACE_NOT_FOUND: namespace "${gone}" does not exist$`, 'm'));
    }
    const namespace = await cp.freshNamespace('cli-missing');
    fails(await kubekv(['ls', '-b', 'app', '-n', namespace, ...adminArgs()]), 3, /^error: BUCKET_NOT_FOUND: bucket .*\/app does not exist$/m);
    fails(await kubekv(['leader', 'nope', '-n', namespace, ...adminArgs()]), 3, /^error: LEASE_NOT_FOUND: lease cli-missing[^/]*\/nope \(nor nope-leader\) does not exist$/m);
  });

  it('version prints the package version; it needs no cluster', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const home = await mkdtemp(join(tmpdir(), 'kubekv-home-'));
    const json = JSON.parse(ok(await kubekv(['version', '-o', 'json'], { env: { HOME: home, KUBECONFIG: '' } })).text) as Record<string, string>;
    assert.deepEqual(json, { kubekv: pkg.version, node: process.version, platform: `${process.platform}/${process.arch}` });
    assert.match(ok(await kubekv(['version'])).text, new RegExp(`^kubekv: +${pkg.version.replaceAll('.', '\\.')}$`, 'm'));
  });

  it('del --prefix deletes every key under a prefix in one write, and says how many', async () => {
    const namespace = await cp.freshNamespace('cli-del-prefix');
    const b = ['-n', namespace, '-b', 'app', ...adminArgs()];
    ok(await kubekv(['put', 'jobs/1', 'a', ...b, '--create-bucket']));
    for (const key of ['jobs/2', 'jobs', 'other/1']) ok(await kubekv(['put', key, 'x', ...b]));
    assert.equal(ok(await kubekv(['del', '--prefix', 'jobs/', ...b])).text, 'deleted 2 keys under jobs/ from bucket app\n');
    const left = JSON.parse(ok(await kubekv(['ls', ...b, '-o', 'json'])).text) as Array<{ key: string }>;
    assert.deepEqual(left.map((p) => p.key), ['jobs', 'other/1']);
    assert.deepEqual(JSON.parse(ok(await kubekv(['del', '--prefix', 'none/', ...b, '-o', 'json'])).text), { prefix: 'none/', deleted: 0 });
    fails(await kubekv(['del', '--prefix', 'jobs', '--if-revision', '3', ...b]), 2, /^error: INVALID_OPTION: .*--prefix and --if-revision exclude each other/m);
  });

  it("buckets' LEADER is the live holder of the bucket's Lease, not whoever raised the epoch last", async () => {
    const namespace = await cp.freshNamespace('cli-buckets-leader');
    const timings = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };
    const manager = await StateManager.start({ name: 'shop', namespace, kubeConfig: cp.adminKubeConfig(), identity: 'replica-a', ...timings });
    cleanups.push(() => manager.close());
    await waitFor(() => manager.isLeader, 'replica-a to lead');
    await manager.store.put('k', 'v');
    const list = async () => JSON.parse(ok(await kubekv(['buckets', '-n', namespace, ...adminArgs(), '-o', 'json'])).text) as Array<Record<string, unknown>>;
    assert.deepEqual((await list()).map((b) => [b.name, b.leader, b.epochRaisedBy]), [['shop-state', 'replica-a', 'replica-a']]);
    assert.match(ok(await kubekv(['buckets', '-n', namespace, ...adminArgs()])).text, /^shop-state .* replica-a +\S+$/m);
    await manager.close(); // releases the Lease
    assert.deepEqual((await list()).map((b) => [b.name, b.leader, b.epochRaisedBy]), [['shop-state', '', 'replica-a']]);
    assert.match(ok(await kubekv(['buckets', '-A', ...adminArgs()])).text, new RegExp(`^${namespace} +shop-state .* <none> +\\S+$`, 'm'));
  });

  it("takes the namespace as kubectl does: -n, then the kubeconfig context's, then NAMESPACE", async () => {
    const fromContext = await cp.freshNamespace('cli-ns-context');
    const fromEnv = await cp.freshNamespace('cli-ns-env');
    ok(await kubekv(['put', 'k', 'v', '-b', 'in-context', '-n', fromContext, '--create-bucket', ...adminArgs()]));
    ok(await kubekv(['put', 'k', 'v', '-b', 'in-env', '-n', fromEnv, '--create-bucket', ...adminArgs()]));
    // The admin kubeconfig, its context naming a namespace.
    const config = load(await readFile(cp.adminKubeconfigPath, 'utf8')) as { contexts: Array<{ context: { namespace?: string } }> };
    for (const c of config.contexts) c.context.namespace = fromContext;
    const path = join(await mkdtemp(join(tmpdir(), 'kubekv-kubeconfig-')), 'config');
    await writeFile(path, dump(config));
    const names = async (args: string[]) => (JSON.parse(ok(await kubekv(['buckets', '--kubeconfig', path, '-o', 'json', ...args], { env: { NAMESPACE: fromEnv } })).text) as Array<{ name: string }>).map((b) => b.name);
    assert.deepEqual(await names([]), ['in-context']);
    assert.deepEqual(await names(['-n', fromEnv]), ['in-env']);
  });
});
