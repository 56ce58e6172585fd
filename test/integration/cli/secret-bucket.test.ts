/**
 * The CLI on a Secret-backed bucket (`--kind secret`), as a user runs it
 * against the real control plane: put and get round-trip text and binary
 * values through the bucket's Secret; only `get` prints a value (ls, watch
 * and status show none); `buckets` lists both kinds; the wrong kind is a
 * bucket not found.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectApiStatus } from '../../support/kube.js';
import { adminClients } from '../../support/store.js';
import { adminArgs, describeResult, kubekv, startKubekv, type CliResult } from './run-kubekv.js';

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

describe('kubekv on a Secret bucket (--kind secret)', () => {
  it('put / get round-trip through the Secret; ls, watch and status print no value; buckets lists both kinds', async () => {
    const namespace = await cp.freshNamespace('cli-secret');
    const b = ['-n', namespace, '-b', 'vault', '--kind', 'secret', ...adminArgs()];
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const binary = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe]), randomBytes(512)]);

    fails(await kubekv(['put', 'db/password', password, ...b]), 3, 'BUCKET_NOT_FOUND');
    const stored = ok(await kubekv(['put', 'db/password', password, ...b, '--create-bucket']));
    assert.match(stored.text, /^stored db\/password in bucket vault at revision \d+\n$/);
    ok(await kubekv(['put', 'tls/key', '-', ...b], { stdin: binary }));

    // What the server holds: a Secret, no ConfigMap.
    const secret = await adminClients().core.readNamespacedSecret({ name: 'vault', namespace });
    assert.equal(secret.type, 'kubekv.dev/bucket');
    assert.equal(Buffer.from(secret.data!['db__password']!, 'base64').toString('utf8'), password);
    await expectApiStatus(adminClients().core.readNamespacedConfigMap({ name: 'vault', namespace }), 404);

    // get prints the value: raw bytes, or in -o json.
    assert.equal(ok(await kubekv(['get', 'db/password', ...b])).text, password);
    assert.deepEqual(ok(await kubekv(['get', 'tls/key', ...b])).stdout, binary);
    assert.equal((JSON.parse(ok(await kubekv(['get', 'db/password', ...b, '-o', 'json'])).text) as { text: string }).text, password);
    // The kind is named with the bucket: as a ConfigMap bucket it does not exist.
    fails(await kubekv(['get', 'db/password', '-n', namespace, '-b', 'vault', ...adminArgs()]), 3, 'BUCKET_NOT_FOUND');
    fails(await kubekv(['get', 'db/password', ...b.slice(0, 4), '--kind', 'vault', ...adminArgs()]), 2, 'INVALID_OPTION');
    assert.equal(ok(await kubekv(['get', 'db/password', '-n', namespace, '-b', 'vault', ...adminArgs()], { env: { KUBEKV_KIND: 'Secret' } })).text, password);

    // No other command prints a value.
    const hidden = (result: CliResult) => {
      const all = `${result.text}${result.stderr}`;
      assert.ok(!all.includes(password) && !all.includes(Buffer.from(password).toString('base64')), `a value was printed:\n${all}`);
      return result;
    };
    const table = hidden(ok(await kubekv(['ls', ...b]))).text.split('\n');
    // KEY, REV, SIZE, TTL (- for a permanent key), VALUE.
    assert.match(table[1]!, /^db\/password +\d+ +\d+ +- +<secret>$/);
    for (const format of ['json', 'yaml']) hidden(ok(await kubekv(['ls', ...b, '-o', format])));
    assert.deepEqual(Object.keys((JSON.parse(ok(await kubekv(['ls', ...b, '-o', 'json'])).text) as object[])[0]!), ['key', 'lastIndex', 'size']);
    hidden(ok(await kubekv(['status', ...b])));
    hidden(ok(await kubekv(['status', ...b, '-o', 'json'])));
    const watch = startKubekv(['watch', ...b, '-o', 'json']);
    // Until it printed the snapshot (the process loads tsx first: no fixed sleep).
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`watch printed no snapshot within 30 s: ${seen}`)), 30_000);
      watch.child.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        if (seen.includes('snapshot')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    watch.child.kill('SIGINT');
    const watched = hidden(await watch.result);
    assert.match(watched.text, /"snapshot"/, describeResult(watched));
    assert.match(watched.text, /db\/password/);

    // buckets: both kinds by default, one with --kind.
    ok(await kubekv(['put', 'k', 'v', '-n', namespace, '-b', 'plain', '--create-bucket', ...adminArgs()]));
    const listed = JSON.parse(hidden(ok(await kubekv(['buckets', '-n', namespace, ...adminArgs(), '-o', 'json']))).text) as { name: string; kind: string; keys: number }[];
    assert.deepEqual(listed.map((x) => [x.name, x.kind, x.keys]), [['plain', 'ConfigMap', 1], ['vault', 'Secret', 2]]);
    const secrets = JSON.parse(ok(await kubekv(['buckets', '-n', namespace, '--kind', 'secret', ...adminArgs(), '-o', 'json'])).text) as { name: string }[];
    assert.deepEqual(secrets.map((x) => x.name), ['vault']);
    assert.match(ok(await kubekv(['buckets', '-n', namespace, ...adminArgs()])).text, /^vault +Secret +2 /m);

    // del works the same.
    ok(await kubekv(['del', 'tls/key', ...b]));
    fails(await kubekv(['get', 'tls/key', ...b]), 3, 'KEY_NOT_FOUND');
  });
});
