/**
 * `kubectl kv ...`: the real kubectl (built from Go modules, v1.36.3, see
 * test/controlplane/build.ts ensureKubectl) finds the `kubectl-kv`
 * executable on PATH and runs it as a plugin: arguments, stdin bytes,
 * stdout bytes and the exit code all pass through.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { delimiter } from 'node:path';
import { before, describe, it } from 'node:test';
import { ensureKubectl } from '../../controlplane/build.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { readRaw, rawBinary } from '../../support/store.js';
import { adminArgs, describeResult, pluginDir, runProcess, type RunOptions } from './run-kubekv.js';

const cp = testControlPlane();
let kubectlPath = '';
let pluginPath = '';

before(async () => {
  // Cached under .cache/kubectl/; a cold build reuses the control plane's compiled packages.
  const built = await ensureKubectl((line) => console.log(`[kubectl] ${line}`));
  kubectlPath = built.path;
  pluginPath = await pluginDir();
}, { timeout: 30 * 60_000 });

/** Runs the built kubectl with the plugin directory first on PATH. */
function kubectl(args: string[], options: RunOptions = {}) {
  return runProcess(kubectlPath, args, { ...options, env: { ...options.env, PATH: `${pluginPath}${delimiter}${process.env.PATH ?? ''}` } });
}

describe('kubectl kv', () => {
  it('is listed by kubectl plugin list', async () => {
    const result = await kubectl(['plugin', 'list']);
    assert.equal(result.code, 0, describeResult(result));
    assert.match(result.text, new RegExp(`^${pluginPath.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}/kubectl-kv$`, 'm'));
  });

  it('runs the CLI: writes and reads text and binary values, and exits with its exit codes', async () => {
    const namespace = await cp.freshNamespace('cli-kubectl');
    const b = ['-n', namespace, '-b', 'app', ...adminArgs()];
    const put = await kubectl(['kv', 'put', 'greeting', 'hello', ...b, '--create-bucket']);
    assert.equal(put.code, 0, describeResult(put));
    assert.match(put.text, /^stored greeting in bucket app at revision \d+\n$/);
    const binary = Buffer.concat([Buffer.from([0, 0xff, 0x0a]), randomBytes(1000)]);
    assert.equal((await kubectl(['kv', 'put', 'blob', '-', ...b], { stdin: binary })).code, 0);
    assert.deepEqual(rawBinary(await readRaw(namespace, 'app'), 'blob').subarray(4), binary);

    assert.equal((await kubectl(['kv', 'get', 'greeting', ...b])).text, 'hello');
    assert.deepEqual((await kubectl(['kv', 'get', 'blob', ...b])).stdout, binary);
    const listed = await kubectl(['kv', 'ls', ...b, '-o', 'json']);
    assert.deepEqual((JSON.parse(listed.text) as Array<{ key: string }>).map((p) => p.key), ['blob', 'greeting']);

    const missing = await kubectl(['kv', 'get', 'nope', ...b]);
    assert.equal(missing.code, 3, describeResult(missing));
    assert.match(missing.stderr, /^error: KEY_NOT_FOUND: key not found: "nope"$/m);
    const usage = await kubectl(['kv', 'ls', '-o', 'xml', ...b]);
    assert.equal(usage.code, 2, describeResult(usage));
    assert.match((await kubectl(['kv', '--help'])).text, /^kubekv: .*kubectl kv <command>/);
  });
});
