/**
 * `kubekv dump` and `kubekv restore` against the real control plane: a
 * bucket holding every kind of value (text, unicode, binary, values the
 * store gzip-compressed, empty, a BOM, control characters, a key made with
 * kubectl) dumps to readable JSON and restores into another bucket with
 * exactly the same keys and bytes; --replace; one atomic write; bad dumps.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ConfigMapStore } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminClients, rawBinary, readRaw } from '../../support/store.js';
import { adminArgs, describeResult, kubekv, type CliResult } from './run-kubekv.js';

const cp = testControlPlane();

function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, describeResult(result));
  return result;
}

/** Every pair of a bucket, read with the library (consistent), as key -> bytes. */
async function contents(namespace: string, name: string): Promise<Map<string, Buffer>> {
  await using store = await ConfigMapStore.open({ name, namespace, kubeConfig: cp.adminKubeConfig() });
  return new Map((await store.list('', { consistent: true })).map((p) => [p.key, Buffer.from(p.value)]));
}

interface Dump {
  kind: string;
  version: number;
  namespace: string;
  bucket: string;
  revision: number;
  entries: Array<{ key: string; text?: string; base64?: string }>;
}

describe('kubekv dump / restore', () => {
  it('round-trips every kind of value exactly, values decoded in the dump', async () => {
    const namespace = await cp.freshNamespace('cli-dump');
    const incompressible = randomBytes(3000);
    const values = new Map<string, Buffer>([
      ['config/db/host', Buffer.from('db.internal')],
      ['users/zoë', Buffer.from('日本語 🎉 Ünïcödé')],
      ['blob', incompressible],
      ['big/text', Buffer.from('the same line, again and again\n'.repeat(800))],
      ['big/zeros', Buffer.alloc(5000)],
      ['empty', Buffer.alloc(0)],
      ['bom', Buffer.from('\ufeffstarts with a BOM')],
      ['controls', Buffer.from('nul\u0000 tab\t newline\n escape\u001b')],
      ['almost-utf8', Buffer.from([0xe2, 0x82])],
      ['space key ?', Buffer.from('x')],
    ]);
    {
      await using store = await ConfigMapStore.open({ name: 'src', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
      for (const [key, value] of values) await store.put(key, value);
    }
    // A key written with kubectl (not in kubekv's encoding) keeps its raw name.
    await adminClients().core.patchNamespacedConfigMap({ name: 'src', namespace, body: { data: { a_5Fb: 'foreign' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    values.set('a_5Fb', Buffer.from('foreign'));

    // The store compressed the compressible values: the dump must undo that.
    const raw = await readRaw(namespace, 'src');
    assert.deepEqual([...rawBinary(raw, 'big__text').subarray(0, 4)], [0, 0x4b, 0x56, 0x7a], 'big/text should be stored gzipped');
    assert.deepEqual([...rawBinary(raw, 'big__zeros').subarray(0, 4)], [0, 0x4b, 0x56, 0x7a], 'big/zeros should be stored gzipped');

    const dumped = ok(await kubekv(['dump', '-n', namespace, '-b', 'src', ...adminArgs()]));
    const dump = JSON.parse(dumped.text) as Dump;
    assert.equal(dump.kind, 'kubekv.dev/dump');
    assert.equal(dump.version, 1);
    assert.equal(dump.namespace, namespace);
    assert.equal(dump.bucket, 'src');
    assert.deepEqual(dump.entries.map((e) => e.key), [...values.keys()].sort());
    const entry = (key: string) => dump.entries.find((e) => e.key === key)!;
    assert.deepEqual(entry('big/text'), { key: 'big/text', text: values.get('big/text')!.toString() }, 'a compressed text value is dumped as its text');
    assert.deepEqual(entry('blob'), { key: 'blob', base64: incompressible.toString('base64') });
    assert.deepEqual(entry('users/zoë'), { key: 'users/zoë', text: '日本語 🎉 Ünïcödé' });
    assert.deepEqual(entry('empty'), { key: 'empty', text: '' });
    assert.deepEqual(entry('almost-utf8'), { key: 'almost-utf8', base64: '4oI=' });

    // Into another namespace and bucket, from stdin; then from a file.
    const target = await cp.freshNamespace('cli-restore');
    const restored = ok(await kubekv(['restore', '-n', target, '-b', 'copy', '--create-bucket', ...adminArgs(), '-o', 'json'], { stdin: dumped.stdout }));
    const report = JSON.parse(restored.text) as { revision: number };
    assert.deepEqual(report, { namespace: target, bucket: 'copy', keys: values.size, deleted: 0, revision: report.revision });
    assert.equal(String(report.revision), (await readRaw(target, 'copy')).metadata?.annotations?.['kubekv.dev/revision'], 'the restore was more than one write');
    assert.deepEqual(await contents(target, 'copy'), values);

    const file = join(await mkdtemp(join(tmpdir(), 'kubekv-dump-')), 'dump.json');
    await writeFile(file, dumped.stdout);
    // Without -b the dump's own bucket name is the target.
    ok(await kubekv(['restore', file, '-n', target, '--create-bucket', ...adminArgs()]));
    assert.deepEqual(await contents(target, 'src'), values);

    // And a dump of the copy is the same document but for where and when it came from.
    const again = JSON.parse(ok(await kubekv(['dump', '-n', target, '-b', 'copy', ...adminArgs()])).text) as Dump;
    assert.deepEqual(again.entries, dump.entries);
  });

  it('restores in one atomic write: merges by default, --replace deletes the keys the dump lacks; a bad dump changes nothing', async () => {
    const namespace = await cp.freshNamespace('cli-replace');
    const b = ['-n', namespace, '-b', 'app', ...adminArgs()];
    ok(await kubekv(['put', 'keep', 'old', ...b, '--create-bucket']));
    const second = (JSON.parse(ok(await kubekv(['put', 'stale', 'x', ...b, '-o', 'json'])).text) as { lastIndex: number }).lastIndex;
    const dump = JSON.stringify({ kind: 'kubekv.dev/dump', version: 1, namespace: 'elsewhere', bucket: 'app', revision: 9, dumpedAt: '2026-01-01T00:00:00Z', entries: [{ key: 'keep', text: 'new' }, { key: 'added', base64: 'AAE=' }] });

    const merged = ok(await kubekv(['restore', ...b], { stdin: dump }));
    assert.match(merged.text, new RegExp(`^restored 2 keys into bucket .*/app \\(revision ${second + 1}\\)\n$`));
    assert.deepEqual(await contents(namespace, 'app'), new Map([['added', Buffer.from([0, 1])], ['keep', Buffer.from('new')], ['stale', Buffer.from('x')]]));
    assert.equal((await readRaw(namespace, 'app')).metadata?.annotations?.['kubekv.dev/revision'], String(second + 1), 'the restore was more than one write');

    assert.match(ok(await kubekv(['restore', ...b, '--replace'], { stdin: dump })).text, new RegExp(`deleted 1 \\(revision ${second + 2}\\)`));
    assert.deepEqual(await contents(namespace, 'app'), new Map([['added', Buffer.from([0, 1])], ['keep', Buffer.from('new')]]));

    const before = (await readRaw(namespace, 'app')).metadata?.resourceVersion;
    for (const bad of ['{"kind":"kubekv.dev/dump","version":1}', 'not json', dump.replace('"AAE="', '"A"')]) {
      const result = await kubekv(['restore', ...b], { stdin: bad });
      assert.equal(result.code, 2, describeResult(result));
      assert.match(result.stderr, /^error: INVALID_VALUE: /);
    }
    // A value too large for the bucket (over 32 MiB: value chunks take up to that) fails the whole restore: nothing of it lands.
    const tooBig = JSON.stringify({ ...JSON.parse(dump), entries: [{ key: 'small', text: 'fits' }, { key: 'huge', base64: randomBytes(32 * 1024 * 1024 + 1).toString('base64') }] });
    const refused = await kubekv(['restore', ...b], { stdin: tooBig });
    assert.equal(refused.code, 4, describeResult(refused));
    assert.match(refused.stderr, /^error: VALUE_TOO_LARGE: /);
    assert.equal((await readRaw(namespace, 'app')).metadata?.resourceVersion, before, 'a refused restore changed the bucket');
  });

  it('keeps a key\'s time to live: the dump carries ttlMs, a restore writes it with that TTL (from the restore); a permanent key stays permanent', async () => {
    const namespace = await cp.freshNamespace('cli-dump-ttl');
    {
      await using store = await ConfigMapStore.open({ name: 'src', namespace, kubeConfig: cp.adminKubeConfig(), create: true, sweep: false });
      await store.put('lease/worker-1', 'alive', { ttlMs: 600_000 });
      await store.put('config', 'permanent');
    }
    const dumped = ok(await kubekv(['dump', '-n', namespace, '-b', 'src', ...adminArgs()]));
    const doc = JSON.parse(dumped.text) as { entries: Array<{ key: string; ttlMs?: number }> };
    assert.deepEqual(doc.entries.map((e) => [e.key, e.ttlMs]), [['config', undefined], ['lease/worker-1', 600_000]]);
    ok(await kubekv(['restore', '-n', namespace, '-b', 'copy', '--create-bucket', ...adminArgs()], { stdin: dumped.stdout }));
    await using copy = await ConfigMapStore.open({ name: 'copy', namespace, kubeConfig: cp.adminKubeConfig(), sweep: false });
    const pairs = await copy.list('', { consistent: true });
    assert.deepEqual(pairs.map((p) => [p.key, p.text, p.ttlMs]), [['config', 'permanent', undefined], ['lease/worker-1', 'alive', 600_000]]);
  });
});
