/**
 * The CLI on a bucket whose head keeps its chunk list in a manifest chunk
 * (format 3, docs/format.md "The manifest chunk"), against the real control
 * plane: get, ls, buckets, status and dump read it whole, and restore
 * copies it into a new bucket with the same keys and bytes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigMapStore } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { readRaw } from '../../support/store.js';
import { waitFor } from '../../support/wait.js';
import { adminArgs, describeResult, kubekv, type CliResult } from './run-kubekv.js';

const cp = testControlPlane();

function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, describeResult(result));
  return result;
}

describe('kubekv on a bucket with a manifest chunk (format 3)', () => {
  it('get, ls, buckets, status and dump read every key; restore copies them', { timeout: 120_000 }, async () => {
    const namespace = await cp.freshNamespace('cli-manifest');
    const values = new Map<string, Buffer>();
    {
      // Values over 1 KiB go to value chunks: twelve of them are more chunks than a head lists itself.
      await using store = await ConfigMapStore.open({ name: 'big', namespace, kubeConfig: cp.adminKubeConfig(), create: true, compression: false, chunks: { largeValueBytes: 1024 } });
      for (let i = 0; i < 12; i++) {
        const value = randomBytes(2000);
        values.set(`blob/${i}`, value);
        await store.put(`blob/${i}`, value);
      }
      await store.put('small', 'text');
      values.set('small', Buffer.from('text'));
      await waitFor(async () => (await readRaw(namespace, 'big')).metadata?.annotations?.['kubekv.dev/format'] === '3', 'the head to name a manifest chunk');
    }
    const b = ['-n', namespace, '-b', 'big', ...adminArgs()];
    assert.deepEqual(ok(await kubekv(['get', 'blob/7', ...b])).stdout, values.get('blob/7'));
    const listed = JSON.parse(ok(await kubekv(['ls', ...b, '-o', 'json'])).text) as { key: string; size: number }[];
    assert.deepEqual(listed.map((p) => p.key).sort(), [...values.keys()].sort());
    const buckets = JSON.parse(ok(await kubekv(['buckets', '-n', namespace, ...adminArgs(), '-o', 'json'])).text) as { name: string; keys: number; error?: string }[];
    const big = buckets.find((row) => row.name === 'big');
    assert.ok(big && big.error === undefined, JSON.stringify(buckets));
    assert.ok(big.keys >= values.size, `buckets counts the chunked keys from the head's reference (${big.keys})`);
    ok(await kubekv(['status', ...b]));
    const dumped = ok(await kubekv(['dump', ...b]));
    const dump = JSON.parse(dumped.text) as { entries: { key: string; base64?: string; text?: string }[] };
    assert.deepEqual(new Map(dump.entries.map((e) => [e.key, e.base64 !== undefined ? Buffer.from(e.base64, 'base64') : Buffer.from(e.text!)])), values);
    ok(await kubekv(['restore', '-n', namespace, '-b', 'copy', '--create-bucket', ...adminArgs()], { stdin: dumped.stdout }));
    await using copy = await ConfigMapStore.open({ name: 'copy', namespace, kubeConfig: cp.adminKubeConfig() });
    assert.deepEqual(new Map((await copy.list('', { consistent: true })).map((p) => [p.key, Buffer.from(p.value)])), values);
  });
});
