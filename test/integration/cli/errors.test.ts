/**
 * Failures of the CLI: each prints `error: <CODE>: <message>` on stderr and
 * exits with its documented code: usage (2), forbidden (4), too large (4),
 * unavailable (7), a bucket that cannot be decoded (1).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminClients, readRaw } from '../../support/store.js';
import { adminArgs, describeResult, kubekv, type CliResult } from './run-kubekv.js';

const cp = testControlPlane();

function fails(result: CliResult, exitCode: number, errorCode: string): CliResult {
  assert.equal(result.code, exitCode, describeResult(result));
  assert.match(result.stderr, new RegExp(`^error: ${errorCode}: `), describeResult(result));
  assert.equal(result.text, '', 'a failed command printed data on stdout');
  return result;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('kubekv errors and exit codes', () => {
  it('usage errors exit 2 with INVALID_OPTION / INVALID_KEY and a hint, before any request', async () => {
    // An unreachable server proves no request is needed to refuse these.
    const dir = await mkdtemp(join(tmpdir(), 'kubekv-cli-'));
    const kubeconfig = join(dir, 'unreachable.kubeconfig');
    await writeFile(kubeconfig, (await readFile(cp.adminKubeconfigPath, 'utf8')).replace(/server: \S+/, `server: https://127.0.0.1:${await closedPort()}`));
    const args = ['--kubeconfig', kubeconfig, '-b', 'app'];
    const usage = fails(await kubekv(['frobnicate', ...args]), 2, 'INVALID_OPTION');
    assert.match(usage.stderr, /\nRun 'kubekv help' for usage\.\n$/);
    assert.match(fails(await kubekv(['get', ...args]), 2, 'INVALID_OPTION').stderr, /required: kubekv get <key>\nRun 'kubekv help get' for usage/);
    fails(await kubekv(['ls', '-o', 'xml', ...args]), 2, 'INVALID_OPTION');
    fails(await kubekv(['ls', '--force', ...args]), 2, 'INVALID_OPTION');
    fails(await kubekv(['get', 'é'.repeat(100), ...args]), 2, 'INVALID_KEY');
    fails(await kubekv(['put', '', 'v', ...args]), 2, 'INVALID_KEY');
    fails(await kubekv(['ls', '--kubeconfig', kubeconfig]), 2, 'INVALID_OPTION');
    // ...and the same server answers UNAVAILABLE (7) once a request is needed.
    fails(await kubekv(['ls', ...args]), 7, 'UNAVAILABLE');
    fails(await kubekv(['put', 'k', 'v', ...args, '--timeout', '2s']), 7, 'UNAVAILABLE');
  });

  it('help prints usage on stdout and exits 0', async () => {
    for (const args of [[], ['help'], ['--help'], ['help', 'put'], ['put', '--help']]) {
      const result = await kubekv(args);
      assert.equal(result.code, 0, describeResult(result));
      assert.match(result.text, /^(kubekv: |Usage: kubekv put <key> <value>)/);
    }
  });

  it('an identity RBAC does not grant exits 4 with FORBIDDEN', async () => {
    const namespace = await cp.freshNamespace('cli-forbidden');
    const kubeconfig = await cp.mintUser({ user: 'nobody', namespace });
    fails(await kubekv(['ls', '-b', 'app', '--kubeconfig', kubeconfig]), 4, 'FORBIDDEN');
    fails(await kubekv(['buckets', '--kubeconfig', kubeconfig]), 4, 'FORBIDDEN');
    fails(await kubekv(['put', 'k', 'v', '-b', 'app', '--create-bucket', '--kubeconfig', kubeconfig]), 4, 'FORBIDDEN');
  });

  it('a value over the largest a bucket takes (32 MiB) exits 4 with VALUE_TOO_LARGE; nothing is sent', async () => {
    const namespace = await cp.freshNamespace('cli-large');
    const b = ['-n', namespace, '-b', 'app', ...adminArgs()];
    assert.equal((await kubekv(['put', 'small', 'x', ...b, '--create-bucket'])).code, 0);
    const before = (await readRaw(namespace, 'app')).metadata?.resourceVersion;
    fails(await kubekv(['put', 'big', '-', ...b], { stdin: randomBytes(32 * 1024 * 1024 + 1) }), 4, 'VALUE_TOO_LARGE');
    assert.equal((await readRaw(namespace, 'app')).metadata?.resourceVersion, before);
  });

  it('a bucket that cannot be decoded exits 1 with FORMAT_ERROR; buckets still lists it, with the error', async () => {
    const namespace = await cp.freshNamespace('cli-corrupt');
    await adminClients().core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'broken', labels: { 'kubekv.dev/bucket': 'broken' }, annotations: { 'kubekv.dev/format': '1', 'kubekv.dev/index': 'not json' } }, data: { k: 'v' } },
    });
    fails(await kubekv(['ls', '-n', namespace, '-b', 'broken', ...adminArgs()]), 1, 'FORMAT_ERROR');
    const listed = await kubekv(['buckets', '-n', namespace, ...adminArgs(), '-o', 'json']);
    assert.equal(listed.code, 0, describeResult(listed));
    const [bucket] = JSON.parse(listed.text) as Array<{ name: string; error?: string }>;
    assert.equal(bucket?.name, 'broken');
    assert.match(bucket?.error ?? '', /^FORMAT_ERROR: annotation kubekv\.dev\/index is not valid JSON/);
  });
});
