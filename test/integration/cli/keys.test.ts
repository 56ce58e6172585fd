/**
 * `kubekv buckets / ls / get / put / del` as a user runs them (a separate
 * process, from source) against the real control plane: what the command
 * prints in each -o format, what it exits with, and what the API server
 * really holds afterwards (read raw, not through the CLI).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { load } from 'js-yaml';
import { ConfigMapStore } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectApiStatus } from '../../support/kube.js';
import { adminClients, readRaw, rawBinary } from '../../support/store.js';
import { adminArgs, describeResult, kubekv, type CliResult } from './run-kubekv.js';

const cp = testControlPlane();

function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, describeResult(result));
  return result;
}

function fails(result: CliResult, exitCode: number, errorCode: string): CliResult {
  assert.equal(result.code, exitCode, describeResult(result));
  assert.match(result.stderr, new RegExp(`^error: ${errorCode}: `, 'm'), describeResult(result));
  return result;
}

describe('kubekv put / get / ls / del', () => {
  it('stores text and binary values (stdin, raw bytes) and reads them back exactly in every format', async () => {
    const namespace = await cp.freshNamespace('cli-keys');
    const b = ['-n', namespace, '-b', 'app', ...adminArgs()];

    // A missing bucket is not created by a plain put.
    fails(await kubekv(['put', 'greeting', 'hello', ...b]), 3, 'BUCKET_NOT_FOUND');
    await expectApiStatus(adminClients().core.readNamespacedConfigMap({ name: 'app', namespace }), 404);

    // A new bucket's first revision is above its resourceVersion (revisions never go back, not even across a recreation).
    const created = ok(await kubekv(['put', 'greeting', 'hello', ...b, '--create-bucket'])).text;
    assert.match(created, /^stored greeting in bucket app at revision \d+\n$/);
    const r1 = Number(/revision (\d+)/.exec(created)![1]);
    const binary = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a]), randomBytes(2048)]);
    ok(await kubekv(['put', 'blobs/cert', '-', ...b], { stdin: binary }));
    ok(await kubekv(['put', 'users/zoë', '{"admin":true}', ...b]));

    // What the server holds: text readable in data, binary in binaryData, keys encoded.
    const cm = await readRaw(namespace, 'app');
    assert.equal(cm.data?.greeting, 'hello');
    assert.equal(cm.data?.['users__zo_C3_AB'], '{"admin":true}');
    assert.deepEqual(rawBinary(cm, 'blobs__cert').subarray(4), binary, 'binaryData holds the stdin bytes after the kubekv header');

    // get writes the raw bytes: binary unchanged, text without a newline added (stdout is a pipe).
    assert.deepEqual(ok(await kubekv(['get', 'blobs/cert', ...b])).stdout, binary);
    assert.equal(ok(await kubekv(['get', 'greeting', ...b])).text, 'hello');
    const asJson = JSON.parse(ok(await kubekv(['get', 'blobs/cert', ...b, '-o', 'json'])).text) as Record<string, unknown>;
    assert.deepEqual(asJson, { key: 'blobs/cert', lastIndex: r1 + 1, size: binary.length, base64: binary.toString('base64') });
    assert.deepEqual(load(ok(await kubekv(['get', 'users/zoë', ...b, '-o', 'yaml'])).text), { key: 'users/zoë', lastIndex: r1 + 2, size: 14, text: '{"admin":true}' });

    // ls: a table for people, the same data in JSON and YAML.
    const table = ok(await kubekv(['ls', ...b])).text.split('\n');
    assert.match(table[0]!, /^KEY +REVISION +SIZE +TTL +VALUE$/);
    assert.match(table[1]!, new RegExp(`^blobs/cert +${r1 + 1} +${binary.length} +- +<binary, ${binary.length} bytes>$`));
    assert.match(table[2]!, new RegExp(`^greeting +${r1} +5 +- +hello$`));
    assert.match(table[3]!, new RegExp(`^users/zoë +${r1 + 2} +14 +- +\\{"admin":true\\}$`));
    const listed = JSON.parse(ok(await kubekv(['ls', ...b, '-o', 'json'])).text) as unknown[];
    assert.deepEqual(listed, [
      { key: 'blobs/cert', lastIndex: r1 + 1, size: binary.length, base64: binary.toString('base64') },
      { key: 'greeting', lastIndex: r1, size: 5, text: 'hello' },
      { key: 'users/zoë', lastIndex: r1 + 2, size: 14, text: '{"admin":true}' },
    ]);
    assert.deepEqual(load(ok(await kubekv(['ls', ...b, '-o', 'yaml'])).text), listed);
    assert.deepEqual(JSON.parse(ok(await kubekv(['ls', 'users/', ...b, '-o', 'json'])).text), [listed[2]]);

    // The library reads what the CLI wrote.
    await using store = await ConfigMapStore.open({ name: 'app', namespace, kubeConfig: cp.adminKubeConfig() });
    assert.deepEqual(Buffer.from((await store.get('blobs/cert'))!.value), binary);

    // del: gone on the server; a missing key exits 3 unless --ignore-not-found.
    assert.equal(ok(await kubekv(['del', 'greeting', ...b])).text, 'deleted greeting from bucket app\n');
    assert.equal((await readRaw(namespace, 'app')).data?.greeting, undefined);
    fails(await kubekv(['del', 'greeting', ...b]), 3, 'KEY_NOT_FOUND');
    assert.deepEqual(JSON.parse(ok(await kubekv(['del', 'greeting', ...b, '--ignore-not-found', '-o', 'json'])).text), { key: 'greeting', deleted: false });
    fails(await kubekv(['get', 'greeting', ...b]), 3, 'KEY_NOT_FOUND');
  });

  it('makes writes conditional: --if-absent and --if-revision exit 5 and change nothing when the condition fails', async () => {
    const namespace = await cp.freshNamespace('cli-cond');
    const b = ['-n', namespace, '-b', 'app', ...adminArgs()];
    const first = JSON.parse(ok(await kubekv(['put', 'k', 'v1', ...b, '--create-bucket', '-o', 'json'])).text) as { lastIndex: number };
    assert.deepEqual(first, { key: 'k', lastIndex: first.lastIndex, size: 2 });
    assert.ok(first.lastIndex > 0);

    fails(await kubekv(['put', 'k', 'v2', ...b, '--if-absent']), 5, 'KEY_EXISTS');
    fails(await kubekv(['put', 'k', 'v2', ...b, '--if-revision', String(first.lastIndex + 5)]), 5, 'KEY_MODIFIED');
    fails(await kubekv(['del', 'k', ...b, '--if-revision', String(first.lastIndex + 99)]), 5, 'KEY_MODIFIED');
    assert.equal((await readRaw(namespace, 'app')).data?.k, 'v1', 'a failed condition changed the value');

    ok(await kubekv(['put', 'k', 'v2', ...b, '--if-revision', String(first.lastIndex)]));
    assert.equal((await readRaw(namespace, 'app')).data?.k, 'v2');
    ok(await kubekv(['put', 'fresh', 'x', ...b, '--if-absent']));
    fails(await kubekv(['del', 'k', ...b, '--if-revision', String(first.lastIndex)]), 5, 'KEY_MODIFIED');
    ok(await kubekv(['del', 'k', ...b, '--if-revision', String(first.lastIndex + 1)]));
    assert.equal((await readRaw(namespace, 'app')).data?.k, undefined);
  });

  it('put --ttl records a TTL that get and ls show; a bad --ttl exits 2 and writes nothing', async () => {
    const namespace = await cp.freshNamespace('cli-ttl');
    const b = ['-n', namespace, '-b', 'app', ...adminArgs()];
    const stored = JSON.parse(ok(await kubekv(['put', 'members/a', '10.0.0.1', ...b, '--create-bucket', '--ttl', '30s', '-o', 'json'])).text) as Record<string, unknown>;
    assert.equal(stored.ttlMs, 30_000);
    assert.match(ok(await kubekv(['put', 'members/b', '10.0.0.2', ...b, '--ttl', '2m'])).text, /^stored members\/b in bucket app at revision \d+ \(expires 2m after this write\)\n$/);
    ok(await kubekv(['put', 'plain', 'v', ...b]));
    const raw = await readRaw(namespace, 'app');
    assert.deepEqual(JSON.parse(raw.metadata?.annotations?.['kubekv.dev/expiry'] ?? '{}'), {
      members__a: { r: stored.lastIndex, ttl: 30_000 },
      members__b: { r: Number(stored.lastIndex) + 1, ttl: 120_000 },
    });
    const table = ok(await kubekv(['ls', ...b])).text.split('\n');
    assert.match(table[0]!, /^KEY +REVISION +SIZE +TTL +VALUE$/);
    assert.match(table[1]!, /^members\/a +\d+ +8 +30s +10\.0\.0\.1$/);
    assert.match(table[2]!, /^members\/b +\d+ +8 +2m +10\.0\.0\.2$/);
    assert.match(table[3]!, /^plain +\d+ +1 +- +v$/);
    assert.equal((JSON.parse(ok(await kubekv(['get', 'members/a', ...b, '-o', 'json'])).text) as Record<string, unknown>).ttlMs, 30_000);
    const got = ok(await kubekv(['get', 'members/a', ...b]));
    assert.equal(got.text, '10.0.0.1', 'stdout holds the value only');
    assert.match(got.stderr, /expires 30s after its last write/);
    for (const ttl of ['500ms', '25h', 'soon']) fails(await kubekv(['put', 'bad', 'v', ...b, '--ttl', ttl]), 2, 'INVALID_OPTION');
    assert.equal((await readRaw(namespace, 'app')).data?.bad, undefined);
  });

  it('resolves the cluster and namespace as kubectl does: --kubeconfig or KUBECONFIG, --context, -n; the bucket from -b or KUBEKV_BUCKET', async () => {
    const namespace = await cp.freshNamespace('cli-conn');
    ok(await kubekv(['put', 'k', 'v', '-n', namespace, '-b', 'app', ...adminArgs(), '--create-bucket']));
    const kubeconfig = cp.adminKubeconfigPath;
    assert.equal(ok(await kubekv(['get', 'k', '-n', namespace], { env: { KUBECONFIG: kubeconfig, KUBEKV_BUCKET: 'app' } })).text, 'v');
    assert.equal(ok(await kubekv(['get', 'k', '-n', namespace, '-b', 'app', '--kubeconfig', kubeconfig, '--context', 'kubekv-test'])).text, 'v');
    const badContext = fails(await kubekv(['get', 'k', '-n', namespace, '-b', 'app', '--kubeconfig', kubeconfig, '--context', 'nope']), 2, 'INVALID_OPTION');
    assert.match(badContext.stderr, /context="nope".*kubekv-test/);
    fails(await kubekv(['get', 'k', '-n', namespace, '-b', 'app', '--kubeconfig', '/nonexistent/kubeconfig']), 2, 'INVALID_OPTION');
    // Another namespace holds no such bucket.
    fails(await kubekv(['get', 'k', '-n', 'default', '-b', 'app', '--kubeconfig', kubeconfig]), 3, 'BUCKET_NOT_FOUND');
  });
});

describe('kubekv buckets', () => {
  it('lists the kubekv ConfigMaps of a namespace (and of all with -A) with keys, size, revision and epoch', async () => {
    const namespace = await cp.freshNamespace('cli-buckets');
    const b = ['-n', namespace, ...adminArgs()];
    assert.equal(ok(await kubekv(['buckets', ...b])).stderr, `No buckets found in namespace ${namespace}.\n`);
    assert.deepEqual(JSON.parse(ok(await kubekv(['buckets', ...b, '-o', 'json'])).text), []);
    const revisionOf = (text: string) => (JSON.parse(text) as { lastIndex: number }).lastIndex;
    const one = revisionOf(ok(await kubekv(['put', 'a', 'hello', ...b, '-b', 'one', '--create-bucket', '-o', 'json'])).text);
    ok(await kubekv(['put', 'b', 'x', ...b, '-b', 'two', '--create-bucket']));
    const two = revisionOf(ok(await kubekv(['put', 'c', 'y', ...b, '-b', 'two', '-o', 'json'])).text);
    // A ConfigMap without the label is not a bucket.
    await adminClients().core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'plain' }, data: { x: '1' } } });

    const listed = JSON.parse(ok(await kubekv(['buckets', ...b, '-o', 'json'])).text) as Array<Record<string, unknown>>;
    assert.deepEqual(listed.map(({ created: _, ...rest }) => rest), [
      { namespace, name: 'one', kind: 'ConfigMap', keys: 1, bytes: 5, limit: 1_048_576, revision: one, epoch: 0, epochRaisedBy: '', leader: '' },
      { namespace, name: 'two', kind: 'ConfigMap', keys: 2, bytes: 2, limit: 1_048_576, revision: two, epoch: 0, epochRaisedBy: '', leader: '' },
    ]);
    const table = ok(await kubekv(['buckets', ...b])).text.split('\n');
    assert.match(table[0]!, /^NAME +KIND +KEYS +USED +REVISION +EPOCH +LEADER +AGE$/);
    assert.match(table[2]!, new RegExp(`^two +ConfigMap +2 +2 B \\(0\\.0%\\) +${two} +0 +<none> +\\d+[smh]\\S*$`));
    const all = JSON.parse(ok(await kubekv(['buckets', '-A', ...adminArgs(), '-o', 'json'])).text) as Array<{ namespace: string; name: string }>;
    assert.deepEqual(all.filter((x) => x.namespace === namespace).map((x) => x.name), ['one', 'two']);
    assert.match(ok(await kubekv(['buckets', '-A', ...adminArgs()])).text, /^NAMESPACE +NAME +KIND +KEYS/);
  });
});
