/**
 * `kubekv watch`: the current keys, then every change as it happens, in
 * order, streamed until SIGINT or SIGTERM, which end it cleanly (exit 0,
 * nothing on stderr).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { loadAll } from 'js-yaml';
import { ConfigMapStore } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';
import { adminArgs, describeResult, startKubekv } from './run-kubekv.js';

const cp = testControlPlane();

/** Starts a watch and gives a way to wait for its output to contain something. */
function watch(args: string[]) {
  const run = startKubekv(['watch', ...args, ...adminArgs()], { timeoutMs: 120_000 });
  let out = '';
  run.child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  return {
    ...run,
    output: () => out,
    until: (what: string, test: (text: string) => boolean) => waitFor(() => test(out), `watch output to show ${what}; it is ${JSON.stringify(out)}`, 30_000),
  };
}

describe('kubekv watch', () => {
  it('streams the snapshot and each put and delete under the prefix as JSON lines, and exits 0 on SIGINT', async () => {
    const namespace = await cp.freshNamespace('cli-watch');
    await using store = await ConfigMapStore.open({ name: 'app', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
    // A new bucket's revisions start above its resourceVersion: r is the first.
    const r = (await store.put('jobs/1', 'queued')).lastIndex;
    await store.put('other', 'not watched');

    const w = watch(['jobs/', '-n', namespace, '-b', 'app', '-o', 'json']);
    await w.until('the snapshot', (text) => text.includes('"snapshot"'));
    await store.put('jobs/2', new Uint8Array([0xff, 0x00]));
    await store.put('other', 'still not watched');
    await store.delete('jobs/1');
    await w.until('the delete', (text) => text.includes('"delete"'));
    w.child.kill('SIGINT');
    const result = await w.result;
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(result.stderr, '');
    const events = result.text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(events, [
      { type: 'snapshot', revision: r + 1, entries: [{ key: 'jobs/1', lastIndex: r, size: 6, text: 'queued' }] },
      { type: 'put', revision: r + 2, key: 'jobs/2', lastIndex: r + 2, size: 2, base64: '/wA=' },
      { type: 'delete', revision: r + 4, key: 'jobs/1', reason: 'deleted' },
    ]);
  });

  it('prints one line per change in table form, YAML documents with -o yaml, and exits 0 on SIGTERM', async () => {
    const namespace = await cp.freshNamespace('cli-watch-table');
    await using store = await ConfigMapStore.open({ name: 'app', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
    const r = (await store.put('a', 'one')).lastIndex;

    const table = watch(['-n', namespace, '-b', 'app']);
    const yaml = watch(['-n', namespace, '-b', 'app', '-o', 'yaml']);
    await table.until('the snapshot', (text) => text.includes('SNAPSHOT'));
    await yaml.until('the snapshot', (text) => text.includes('snapshot'));
    await store.put('b', 'two\nlines');
    await table.until('the put', (text) => text.includes('PUT'));
    await yaml.until('the put', (text) => text.includes('type: put'));
    for (const w of [table, yaml]) w.child.kill('SIGTERM');
    const [tableResult, yamlResult] = await Promise.all([table.result, yaml.result]);
    for (const result of [tableResult, yamlResult]) assert.equal(result.code, 0, describeResult(result));
    assert.equal(tableResult.text, `${r} SNAPSHOT a one\n${r + 1} PUT      b "two\\nlines"\n`);
    assert.deepEqual(loadAll(yamlResult.text), [
      { type: 'snapshot', revision: r, entries: [{ key: 'a', lastIndex: r, size: 3, text: 'one' }] },
      { type: 'put', revision: r + 1, key: 'b', lastIndex: r + 1, size: 9, text: 'two\nlines' },
    ]);
  });

  it('ends with BUCKET_NOT_FOUND (exit 3) when there is no such bucket', async () => {
    const namespace = await cp.freshNamespace('cli-watch-missing');
    const w = watch(['-n', namespace, '-b', 'nothing']);
    const [code] = (await once(w.child, 'exit')) as [number];
    const result = await w.result;
    assert.equal(code, 3, describeResult(result));
    assert.match(result.stderr, /^error: BUCKET_NOT_FOUND: /);
  });
});
