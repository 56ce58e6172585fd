/**
 * Conformance of the Store implementations to the Store contract
 * (src/store/types.ts), modelled on the libkv/valkeyrie store tests: open,
 * the plain and atomic reads and writes, lastIndex semantics and batch.
 *
 * Every behaviour test runs once per backend (test/support/store-backends.ts):
 * ConfigMapStore on the real control plane, and MemoryStore from
 * kubekv/testing, so the test double cannot drift from the real store. On
 * the real backend each test also checks the ConfigMap as the API server
 * holds it; tests only about that format run there alone. Watches,
 * visibility across instances, the on-cluster format and the lifecycle are
 * in the sibling conformance-*.test.ts files.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import {
  AbortedError,
  BucketFullError,
  BucketNotFoundError,
  InvalidKeyError,
  InvalidOptionError,
  KeyExistsError,
  KeyModifiedError,
  KeyNotFoundError,
  ValueTooLargeError,
} from '../../../src/index.js';
import { expectApiStatus } from '../../support/kube.js';
import {
  adminClients,
  expectKubekvError,
  rawIndex,
  utf8,
} from '../../support/store.js';
import { expectUnchanged, openBackendBucket, storeBackends } from '../../support/store-backends.js';

/** A hang fails the test after a minute, naming it, instead of stalling the run. */
const bounded = { timeout: 60_000 };

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

for (const backend of storeBackends) {
  describe(backend.name, () => {
    const openBucket = (name: string, options?: Parameters<typeof openBackendBucket>[2]) => openBackendBucket(backend, name, options);

    describe('open', () => {
      it('rejects a missing bucket with BucketNotFoundError when create is not set, and creates nothing', bounded, async () => {
        const space = await backend.space('kv-open-missing');
        const namespace = space.namespace;
        const err = await expectKubekvError(space.open({ name: 'missing' }), BucketNotFoundError, 'BUCKET_NOT_FOUND');
        assert.equal(err.namespace, namespace);
        assert.equal(err.bucket, 'missing');
        // Nothing was created: opening again still finds no bucket.
        await expectKubekvError(space.open({ name: 'missing' }), BucketNotFoundError, 'BUCKET_NOT_FOUND');
        if (space.raw) {
          await expectApiStatus(space.raw('missing'), 404);
          const listed = await adminClients().core.listNamespacedConfigMap({ namespace });
          assert.deepEqual(listed.items.map((i) => i.metadata?.name).filter((n) => n === 'missing'), []);
        }
      });

      it('create: true creates the bucket (a ConfigMap with the kubekv labels and format annotation), empty', bounded, async () => {
        await using b = await openBucket('made', { app: 'my-app' });
        assert.equal(b.store.name, 'made');
        assert.equal(b.store.namespace, b.namespace);
        if (b.raw) {
          const raw = await b.raw();
          assert.deepEqual(raw.metadata?.labels, {
            'app.kubernetes.io/managed-by': 'kubekv',
            'app.kubernetes.io/name': 'my-app',
            'kubekv.dev/bucket': 'made',
          });
          assert.equal(raw.metadata?.annotations?.['kubekv.dev/format'], '1');
          assert.deepEqual({ ...raw.data, ...raw.binaryData }, {});
        }
        assert.deepEqual(await b.store.list(''), []);
        assert.equal(b.store.status().revision, 0);
      });

      if (backend.onCluster) {
        it('create: true without app labels the bucket app.kubernetes.io/name=kubekv', bounded, async () => {
          await using b = await openBucket('default-app');
          const raw = await b.raw!();
          assert.equal(raw.metadata?.labels?.['app.kubernetes.io/name'], 'kubekv');
        });
      }

      it('create: true with a long valid name (a dash at the 63rd character) still creates a bucket with valid labels', bounded, async () => {
        // DNS-1123 subdomains may be 253 characters; label values only 63 and must
        // end with an alphanumeric, so the bucket label cannot be a plain prefix.
        const name = `${'a'.repeat(62)}-b`;
        await using b = await openBucket(name);
        if (b.raw) {
          const label = (await b.raw()).metadata?.labels?.['kubekv.dev/bucket'];
          assert.ok(label !== undefined && label.length <= 63 && LABEL_VALUE.test(label), `invalid bucket label ${JSON.stringify(label)}`);
        }
        await b.store.put('k', 'v');
        assert.equal((await b.store.get('k'))?.text, 'v');
      });

      it('reopening an existing bucket (with or without create) sees its data and revisions', bounded, async () => {
        const b = await openBucket('reopen');
        const written = await b.store.put('kept/key', 'value');
        await b.store.close();
        for (const create of [false, true]) {
          await using again = await b.space.open({ name: 'reopen', create });
          const pair = await again.get('kept/key');
          assert.equal(pair?.text, 'value');
          assert.equal(pair?.lastIndex, written.lastIndex);
          assert.equal(again.status().revision, written.lastIndex);
        }
      });
    });

    describe('put, get, exists', () => {
      it('a pair serialises to JSON as its key, lastIndex and value (text when UTF-8, else base64), from every call that returns one', bounded, async () => {
        await using b = await openBucket('pair-json');
        const text = await b.store.put('t', 'zoë');
        const binary = await b.store.put('b', Uint8Array.from([0xff, 0x00]));
        assert.deepEqual(JSON.parse(JSON.stringify(text)), { key: 't', lastIndex: text.lastIndex, text: 'zoë' });
        assert.deepEqual(JSON.parse(JSON.stringify(binary)), { key: 'b', lastIndex: binary.lastIndex, base64: '/wA=' });
        const swapped = await b.store.atomicPut('t', 'again', text);
        assert.deepEqual(JSON.parse(JSON.stringify(swapped)), { key: 't', lastIndex: swapped.lastIndex, text: 'again' });
        assert.deepEqual(JSON.parse(JSON.stringify(await b.store.get('b'))), { key: 'b', lastIndex: binary.lastIndex, base64: '/wA=' });
        assert.deepEqual(JSON.parse(JSON.stringify(await b.store.list(''))), [
          { key: 'b', lastIndex: binary.lastIndex, base64: '/wA=' },
          { key: 't', lastIndex: swapped.lastIndex, text: 'again' },
        ]);
      });

      it('round-trips text, binary (non-UTF-8), empty and string values, through the cache and a fresh instance', bounded, async () => {
        await using b = await openBucket('values');
        const cases: Array<[string, Uint8Array | string]> = [
          ['text', 'hello world'],
          ['unicode-text', 'zoë ✓ 😀'],
          ['binary', Uint8Array.from([0xff, 0x00, 0xfe, 0x80, 0xc3, 0x28])],
          ['nul-bytes', new Uint8Array(16)],
          ['empty-string', ''],
          ['empty-bytes', new Uint8Array(0)],
          ['utf8-bytes', utf8('bytes that are text')],
        ];
        let previous = 0;
        const written = new Map<string, number>();
        for (const [key, value] of cases) {
          const expected = typeof value === 'string' ? utf8(value) : value;
          const pair = await b.store.put(key, value);
          assert.equal(pair.key, key);
          assert.deepEqual(pair.value, expected, `put(${key}) returned other bytes`);
          if (typeof value === 'string') assert.equal(pair.text, value);
          assert.ok(pair.lastIndex > previous, `put(${key}) lastIndex ${pair.lastIndex} did not grow past ${previous}`);
          previous = pair.lastIndex;
          written.set(key, pair.lastIndex);
          const read = await b.store.get(key);
          assert.deepEqual(read?.value, expected, `get(${key}) returned other bytes`);
          assert.equal(read?.lastIndex, pair.lastIndex);
          if (typeof value === 'string') assert.equal(read?.text, value);
        }
        await using fresh = await b.openPeer();
        for (const [key, value] of cases) {
          const read = await fresh.get(key);
          assert.deepEqual(read?.value, typeof value === 'string' ? utf8(value) : value, `a fresh instance read other bytes for ${key}`);
          assert.equal(read?.lastIndex, written.get(key));
        }
      });

      it('a text value with a leading byte-order mark keeps it in .text as well as in .value', bounded, async () => {
        // docs/format.md: "A leading byte-order mark is kept."
        await using b = await openBucket('bom');
        const value = '\uFEFFstarts with a byte-order mark';
        const pair = await b.store.put('bom', value);
        const read = await b.store.get('bom');
        assert.deepEqual(read?.value, utf8(value), 'the stored bytes lost the BOM');
        if (b.raw) assert.equal((await b.raw()).data?.['bom'], value);
        assert.equal(read?.text, value, 'get().text dropped the leading U+FEFF');
        assert.equal(pair.text, value, 'put().text dropped the leading U+FEFF');
      });

      it('keys with "/", spaces, unicode and underscores round-trip (under the documented ConfigMap keys)', bounded, async () => {
        await using b = await openBucket('keys');
        const keys: Record<string, string> = {
          DB_HOST: 'DB_HOST',
          'config/db/host': 'config__db__host',
          'a b': 'a_20b',
          'users/zoë': 'users__zo_C3_AB',
          'a_BC': 'a_5FBC',
          'a__b': 'a_5F_b',
          '..hidden': '_2E.hidden',
          '日本/語': '_E6_97_A5_E6_9C_AC___E8_AA_9E',
          'trailing_': 'trailing_',
          '/leading/slash': '__leading__slash',
        };
        for (const key of Object.keys(keys)) await b.store.put(key, `value of ${key}`);
        if (b.raw) {
          const raw = await b.raw();
          assert.deepEqual(Object.keys(raw.data ?? {}).sort(), Object.values(keys).sort());
          for (const [key, cmKey] of Object.entries(keys)) {
            assert.equal(raw.data?.[cmKey], `value of ${key}`, `ConfigMap key ${cmKey} does not hold ${key}`);
          }
        }
        for (const key of Object.keys(keys)) assert.equal((await b.store.get(key))?.text, `value of ${key}`);
        await using fresh = await b.openPeer();
        assert.deepEqual((await fresh.list('')).map((p) => p.key), Object.keys(keys).sort());
      });

      it('get of a missing key resolves undefined, and exists tells present from absent', bounded, async () => {
        await using b = await openBucket('exists');
        assert.equal(await b.store.get('nope'), undefined);
        assert.equal(await b.store.get('nope', { consistent: true }), undefined);
        assert.equal(await b.store.exists('nope'), false);
        await b.store.put('yes', '');
        assert.equal(await b.store.exists('yes'), true, 'a key with an empty value exists');
        assert.equal(await b.store.exists('ye'), false, 'exists is not a prefix match');
        assert.equal(await b.store.exists('yes', { consistent: true }), true);
      });
    });

    describe('list, delete, deleteTree', () => {
      it('list(prefix) returns the keys under the prefix sorted by key, and "" returns all', bounded, async () => {
        await using b = await openBucket('list');
        const keys = ['p/b', 'q/a', 'p/a', 'pa', 'p/c/d', 'p/A', 'p'];
        for (const key of keys) await b.store.put(key, `v:${key}`);
        const under = await b.store.list('p/');
        assert.deepEqual(under.map((p) => p.key), ['p/A', 'p/a', 'p/b', 'p/c/d']);
        for (const pair of under) assert.equal(pair.text, `v:${pair.key}`);
        assert.deepEqual((await b.store.list('')).map((p) => p.key), [...keys].sort());
        assert.deepEqual((await b.store.list('p')).map((p) => p.key), ['p', 'p/A', 'p/a', 'p/b', 'p/c/d', 'pa']);
        assert.deepEqual(await b.store.list('zzz'), []);
        assert.deepEqual((await b.store.list('q/', { consistent: true })).map((p) => p.key), ['q/a']);
      });

      it('delete resolves true, then false; the key leaves the cache (and the data and index)', bounded, async () => {
        await using b = await openBucket('delete');
        await b.store.put('a/doomed', 'x');
        await b.store.put('survivor', 'y');
        assert.equal(await b.store.delete('a/doomed'), true);
        assert.equal(await b.store.get('a/doomed'), undefined);
        if (b.raw) {
          const raw = await b.raw();
          assert.equal(raw.data?.['a__doomed'], undefined);
          assert.deepEqual(Object.keys(rawIndex(raw)), ['survivor']);
        }
        assert.equal(await expectUnchanged(b, () => b.store.delete('a/doomed')), false);
        assert.equal((await b.store.get('survivor'))?.text, 'y');
      });

      it('deleteTree deletes every key under the prefix in one write, counts them, and leaves the rest', bounded, async () => {
        await using b = await openBucket('tree');
        for (const key of ['tree/a', 'tree/b/c', 'tree/b/d', 'treetop', 'other']) await b.store.put(key, key);
        const before = b.store.status().revision;
        assert.equal(await b.store.deleteTree('tree/'), 3);
        assert.equal(b.store.status().revision, before + 1, 'deleteTree took more than one write');
        assert.deepEqual((await b.store.list('')).map((p) => p.key), ['other', 'treetop']);
        if (b.raw) {
          const raw = await b.raw();
          assert.deepEqual(Object.keys(raw.data ?? {}).sort(), ['other', 'treetop']);
          assert.equal(raw.metadata?.annotations?.['kubekv.dev/revision'], String(before + 1));
        }
        assert.equal(await expectUnchanged(b, () => b.store.deleteTree('tree/')), 0);
      });
    });

    describe('atomicPut and atomicDelete', () => {
      it('atomicPut without previous creates the key, and rejects KeyExistsError the second time', bounded, async () => {
        await using b = await openBucket('create-only');
        const created = await b.store.atomicPut('k', 'v1');
        assert.ok(created.lastIndex > 0);
        assert.equal(created.text, 'v1');
        const err = await expectUnchanged(b, () => expectKubekvError(b.store.atomicPut('k', 'v2'), KeyExistsError, 'KEY_EXISTS'));
        assert.equal(err.key, 'k');
        const now = await b.store.get('k');
        assert.equal(now?.text, 'v1');
        assert.equal(now?.lastIndex, created.lastIndex);
      });

      it('atomicPut with the pair (or lastIndex) read earlier succeeds and lastIndex grows', bounded, async () => {
        await using b = await openBucket('cas-ok');
        await b.store.put('k', 'v1');
        const read = (await b.store.get('k'))!;
        const second = await b.store.atomicPut('k', 'v2', read);
        assert.ok(second.lastIndex > read.lastIndex, `lastIndex ${second.lastIndex} did not grow past ${read.lastIndex}`);
        const third = await b.store.atomicPut('k', utf8('v3'), second.lastIndex);
        assert.ok(third.lastIndex > second.lastIndex);
        const now = await b.store.get('k', { consistent: true });
        assert.equal(now?.text, 'v3');
        assert.equal(now?.lastIndex, third.lastIndex);
        if (b.raw) assert.equal(rawIndex(await b.raw())['k'], third.lastIndex);
      });

      it('atomicPut with a stale pair rejects KeyModifiedError naming the expected and actual indexes', bounded, async () => {
        await using b = await openBucket('cas-stale');
        const stale = await b.store.put('k', 'v1');
        const current = await b.store.put('k', 'v2');
        const err = await expectUnchanged(b, () => expectKubekvError(b.store.atomicPut('k', 'v3', stale), KeyModifiedError, 'KEY_MODIFIED'));
        assert.equal(err.key, 'k');
        assert.equal(err.expectedIndex, stale.lastIndex);
        assert.equal(err.actualIndex, current.lastIndex);
        assert.equal((await b.store.get('k'))?.text, 'v2');
      });

      it('atomicPut with the pair of a key deleted since rejects KeyNotFoundError and does not recreate it', bounded, async () => {
        await using b = await openBucket('cas-deleted');
        const pair = await b.store.put('k', 'v1');
        await b.store.delete('k');
        const err = await expectUnchanged(b, () => expectKubekvError(b.store.atomicPut('k', 'v2', pair), KeyNotFoundError, 'KEY_NOT_FOUND'));
        assert.equal(err.key, 'k');
        assert.equal(await b.store.exists('k'), false);
      });

      it('atomicDelete: a stale pair -> KeyModifiedError, a missing key -> KeyNotFoundError, the current pair -> deleted', bounded, async () => {
        await using b = await openBucket('cas-delete');
        const stale = await b.store.put('k', 'v1');
        const current = await b.store.put('k', 'v2');
        const modified = await expectUnchanged(b, () => expectKubekvError(b.store.atomicDelete('k', stale), KeyModifiedError, 'KEY_MODIFIED'));
        assert.deepEqual([modified.key, modified.expectedIndex, modified.actualIndex], ['k', stale.lastIndex, current.lastIndex]);
        const missing = await expectUnchanged(b, () => expectKubekvError(b.store.atomicDelete('absent', 1), KeyNotFoundError, 'KEY_NOT_FOUND'));
        assert.equal(missing.key, 'absent');
        assert.equal((await b.store.get('k'))?.text, 'v2');
        await b.store.atomicDelete('k', current);
        assert.equal(await b.store.exists('k'), false);
        if (b.raw) assert.equal((await b.raw()).data?.['k'], undefined);
        await expectKubekvError(b.store.atomicDelete('k', current), KeyNotFoundError, 'KEY_NOT_FOUND');
      });

      it('atomicDelete without previous (a JavaScript caller) is refused, never turned into a plain delete', bounded, async () => {
        await using b = await openBucket('cas-delete-no-previous');
        await b.store.put('k', 'v1');
        const err = await expectUnchanged(b, () => expectKubekvError(() => b.store.atomicDelete('k', undefined as never), InvalidOptionError, 'INVALID_OPTION'));
        assert.equal(err.option, 'previous');
        assert.equal((await b.store.get('k'))?.text, 'v1');
      });
    });

    describe('lastIndex', () => {
      it('a write to another key leaves a key\'s lastIndex alone (in the cache and in the index annotation)', bounded, async () => {
        await using b = await openBucket('last-index');
        const a = await b.store.put('a', '1');
        let last = a.lastIndex;
        for (let i = 0; i < 3; i++) last = (await b.store.put('b', String(i))).lastIndex;
        assert.ok(last > a.lastIndex);
        assert.equal((await b.store.get('a'))?.lastIndex, a.lastIndex);
        assert.equal(b.store.status().revision, last);
        if (b.raw) {
          const raw = await b.raw();
          assert.deepEqual(rawIndex(raw), { a: a.lastIndex, b: last });
          assert.equal(raw.metadata?.annotations?.['kubekv.dev/revision'], String(last));
        }
      });

      it('atomicPut with a pair succeeds after unrelated writes by a second instance (the conflict is retried)', bounded, async () => {
        await using b = await openBucket('cross');
        const pair = await b.store.put('k', 'v1');
        await using peer = await b.openPeer();
        let peerLast = 0;
        for (let i = 0; i < 3; i++) peerLast = (await peer.put(`other/${i}`, String(i))).lastIndex;
        // Right away: the first store's cache is most likely behind the peer's
        // writes, so its patch carries a stale resourceVersion and gets a 409.
        const updated = await b.store.atomicPut('k', 'v2', pair);
        assert.ok(updated.lastIndex > peerLast, `lastIndex ${updated.lastIndex} is not after the peer's ${peerLast}`);
        const seen = await peer.get('k', { consistent: true });
        assert.deepEqual([seen?.text, seen?.lastIndex], ['v2', updated.lastIndex]);
        // Concurrently this time: every write lands, none is lost.
        const results = await Promise.all([
          b.store.atomicPut('k', 'v3', updated),
          ...Array.from({ length: 5 }, (_, i) => peer.put(`more/${i}`, String(i))),
        ]);
        const all = await peer.list('', { consistent: true });
        assert.equal((await peer.get('k'))?.lastIndex, results[0].lastIndex);
        assert.deepEqual(all.map((p) => p.key), ['k', 'more/0', 'more/1', 'more/2', 'more/3', 'more/4', 'other/0', 'other/1', 'other/2']);
      });
    });

    describe('batch', () => {
      it('applies every operation in one write with one revision', bounded, async () => {
        await using b = await openBucket('batch');
        await b.store.put('gone', 'x');
        const before = b.store.status().revision;
        const revision = await b.store.batch([
          { op: 'put', key: 'b/1', value: 'one' },
          { op: 'put', key: 'b/2', value: Uint8Array.from([0xff, 0xfe]), expect: 'absent' },
          { op: 'delete', key: 'gone' },
          { op: 'delete', key: 'never-was' },
        ]);
        assert.equal(revision, before + 1);
        assert.equal((await b.store.get('b/1'))?.lastIndex, revision);
        assert.deepEqual((await b.store.get('b/2'))?.value, Uint8Array.from([0xff, 0xfe]));
        assert.equal(await b.store.exists('gone'), false);
        if (b.raw) {
          const raw = await b.raw();
          assert.equal(raw.metadata?.annotations?.['kubekv.dev/revision'], String(revision));
          assert.deepEqual(rawIndex(raw), { b__1: revision, b__2: revision });
        }
        assert.equal(await expectUnchanged(b, () => b.store.batch([])), revision, 'an empty batch returns the current revision');
      });

      it('one failing condition rejects with that key\'s error and applies nothing', bounded, async () => {
        await using b = await openBucket('batch-fail');
        const stale = await b.store.put('x', 'v1');
        await b.store.put('x', 'v2');
        await b.store.put('y', 'keep');
        const modified = await expectUnchanged(b, () => expectKubekvError(
          b.store.batch([
            { op: 'put', key: 'new', value: 'n' },
            { op: 'delete', key: 'y' },
            { op: 'put', key: 'x', value: 'v3', expect: stale },
          ]),
          KeyModifiedError,
          'KEY_MODIFIED',
        ));
        assert.equal(modified.key, 'x');
        const exists = await expectUnchanged(b, () => expectKubekvError(
          b.store.batch([{ op: 'delete', key: 'x' }, { op: 'put', key: 'y', value: 'again', expect: 'absent' }]),
          KeyExistsError,
          'KEY_EXISTS',
        ));
        assert.equal(exists.key, 'y');
        await expectUnchanged(b, () => expectKubekvError(
          b.store.batch([{ op: 'put', key: 'z', value: 'z' }, { op: 'delete', key: 'missing', expect: 1 }]),
          KeyNotFoundError,
          'KEY_NOT_FOUND',
        ));
        assert.deepEqual((await b.store.list('')).map((p) => [p.key, p.text]), [['x', 'v2'], ['y', 'keep']]);
      });

      it('writes made in one tick share one commit and one revision (group commit)', bounded, async () => {
        await using b = await openBucket('group');
        await b.store.put('first', '0');
        const before = b.store.status().revision;
        const pairs = await Promise.all(Array.from({ length: 4 }, (_, i) => b.store.put(`g/${i}`, String(i))));
        assert.deepEqual(pairs.map((p) => p.lastIndex), Array(4).fill(before + 1), 'writes submitted together did not land in one commit');
        assert.equal(b.store.status().revision, before + 1);
      });
    });

    describe('bad input', () => {
      it('invalid keys are refused with InvalidKeyError by reads and writes alike, and nothing is stored', bounded, async () => {
        await using b = await openBucket('bad-keys');
        await b.store.put('seed', 'v');
        for (const key of ['', '\uD800', 'k'.repeat(254), 42 as unknown as string]) {
          await expectUnchanged(b, async () => {
            await expectKubekvError(() => b.store.get(key), InvalidKeyError, 'INVALID_KEY');
            await expectKubekvError(() => b.store.watch(key), InvalidKeyError, 'INVALID_KEY');
            await expectKubekvError(() => b.store.put(key, 'v'), InvalidKeyError, 'INVALID_KEY');
            await expectKubekvError(() => b.store.atomicDelete(key, 1), InvalidKeyError, 'INVALID_KEY');
            await expectKubekvError(() => b.store.batch([{ op: 'put', key: 'fine', value: 'v' }, { op: 'delete', key }]), InvalidKeyError, 'INVALID_KEY');
          });
        }
        assert.equal(await b.store.exists('fine'), false, 'a batch with an invalid key applied its valid operation');
      });

      it('a value over 1 MiB is refused with ValueTooLargeError, a write that would overflow the bucket with BucketFullError', bounded, async () => {
        // The single-ConfigMap layout's limits; a chunked bucket's are in chunks.test.ts.
        await using b = await openBucket('bad-sizes', { chunks: false });
        const MiB = 1_048_576;
        const tooLarge = await expectUnchanged(b, () => expectKubekvError(b.store.put('big', new Uint8Array(randomBytes(MiB + 1))), ValueTooLargeError, 'VALUE_TOO_LARGE'));
        assert.deepEqual([tooLarge.key, tooLarge.limit], ['big', MiB]);
        assert.ok(tooLarge.size > MiB);
        // Random bytes do not compress: each value counts (almost) its size.
        await b.store.put('a', new Uint8Array(randomBytes(600 * 1024)));
        const full = await expectUnchanged(b, () => expectKubekvError(b.store.put('b', new Uint8Array(randomBytes(500 * 1024))), BucketFullError, 'BUCKET_FULL'));
        assert.equal(full.limit, MiB);
        assert.ok(full.size > MiB, `BucketFullError.size ${full.size} is not over the limit`);
        assert.deepEqual((await b.store.list('')).map((p) => p.key), ['a']);
        // Replacing the large value within the limit is fine: the old value no longer counts.
        await b.store.put('a', new Uint8Array(randomBytes(900 * 1024)));
      });

      it('bad options are refused with InvalidOptionError naming the option, and an aborted signal with AbortedError', bounded, async () => {
        await using b = await openBucket('bad-options');
        const pair = await b.store.put('k', 'v');
        await expectUnchanged(b, async () => {
          const previous = await expectKubekvError(() => b.store.atomicPut('k', 'w', { lastIndex: -1 }), InvalidOptionError, 'INVALID_OPTION');
          assert.equal(previous.option, 'previous');
          const op = await expectKubekvError(() => b.store.batch([{ op: 'put', key: 'x', value: 'v' }, { op: 'get' } as never]), InvalidOptionError, 'INVALID_OPTION');
          assert.equal(op.option, 'operations[1].op');
          // A batch entry's bad `expect` is named as such, not as `previous`.
          for (const entry of [{ op: 'put', key: 'x', value: 'v', expect: -1 }, { op: 'delete', key: 'k', expect: { lastIndex: 'one' } }] as never[]) {
            const expect = await expectKubekvError(() => b.store.batch([{ op: 'put', key: 'y', value: 'v' }, entry]), InvalidOptionError, 'INVALID_OPTION');
            assert.equal(expect.option, 'operations[1].expect');
          }
          const timeout = await expectKubekvError(() => b.store.put('k', 'w', { timeoutMs: 0 }), InvalidOptionError, 'INVALID_OPTION');
          assert.equal(timeout.option, 'timeoutMs');
          const controller = new AbortController();
          controller.abort(new Error('given up'));
          await expectKubekvError(b.store.put('k', 'w', { signal: controller.signal }), AbortedError, 'ABORTED');
          await expectKubekvError(b.store.atomicDelete('k', pair, { signal: controller.signal }), AbortedError, 'ABORTED');
          await expectKubekvError(b.store.get('k', { signal: controller.signal }), AbortedError, 'ABORTED');
        });
        assert.equal((await b.store.get('k'))?.lastIndex, pair.lastIndex);
      });
    });
  });
}
