/**
 * Conformance, continued: what the store really writes into the ConfigMap
 * (docs/format.md) and how it treats a ConfigMap it did not create (both
 * about ConfigMaps, so ConfigMapStore only), and the store's lifecycle
 * (status, teardown, close, `await using`), which runs once per backend
 * (test/support/store-backends.ts): ConfigMapStore on the real control plane
 * and MemoryStore from kubekv/testing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import pako from 'pako';
import { BucketNotFoundError, ClosedError, ConfigMapStore, type Store } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectApiStatus } from '../../support/kube.js';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  adminClients,
  expectKubekvError,
  openBucket,
  openPeer,
  rawBinary,
  rawIndex,
  readRaw,
  utf8,
  waitFor,
} from '../../support/store.js';
import { openBackendBucket, storeBackends } from '../../support/store-backends.js';

/** A hang fails the test after a minute, naming it, instead of stalling the run. */
const bounded = { timeout: 60_000 };

const cp = testControlPlane();
const mergePatchOptions = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const HEADER_RAW = [0x00, 0x4b, 0x56, 0x72]; // \0 K V r
const HEADER_GZIP = [0x00, 0x4b, 0x56, 0x7a]; // \0 K V z

describe('values on the cluster', () => {
  it('a UTF-8 text value is stored as is in data under the readable key, with its revision in the index', bounded, async () => {
    await using b = await openBucket('text');
    const pair = await b.store.put('config/db/host', 'db.internal');
    const raw = await readRaw(b.namespace, 'text');
    assert.equal(raw.data?.['config__db__host'], 'db.internal');
    assert.equal(raw.binaryData?.['config__db__host'], undefined);
    assert.deepEqual(rawIndex(raw), { config__db__host: pair.lastIndex });
    assert.equal(raw.metadata?.annotations?.['kubekv.dev/revision'], String(pair.lastIndex));
    assert.equal(raw.metadata?.annotations?.['kubekv.dev/format'], '1');
  });

  it('a non-UTF-8 value is stored in binaryData behind the raw header (the docs example byte for byte)', bounded, async () => {
    await using b = await openBucket('binary');
    await b.store.put('session-cert', Uint8Array.from([0xde, 0xad, 0xbe, 0xef]));
    const raw = await readRaw(b.namespace, 'binary');
    assert.equal(raw.binaryData?.['session-cert'], 'AEtWct6tvu8=');
    assert.equal(raw.data?.['session-cert'], undefined);
    assert.deepEqual([...rawBinary(raw, 'session-cert').subarray(0, 4)], HEADER_RAW);
  });

  it('a large compressible value is gzipped into binaryData behind the z header, and round-trips', bounded, async () => {
    await using b = await openBucket('gzip');
    const text = 'kubekv compresses repetitive values. '.repeat(1800).slice(0, 64 * 1024);
    await b.store.put('big/text', text);
    const raw = await readRaw(b.namespace, 'gzip');
    assert.equal(raw.data?.['big__text'], undefined, 'the compressible value was stored uncompressed in data');
    const stored = rawBinary(raw, 'big__text');
    assert.deepEqual([...stored.subarray(0, 4)], HEADER_GZIP);
    assert.ok(stored.length < text.length / 10, `stored ${stored.length} bytes for ${text.length}: not compressed`);
    assert.equal(Buffer.from(pako.inflate(stored.subarray(4))).toString('utf8'), text, 'the payload is not the gzip of the value');
    assert.equal((await b.store.get('big/text'))?.text, text);
    await using fresh = await openPeer(b);
    assert.equal((await fresh.get('big/text'))?.text, text);
  });

  it('compression: false stores the same value as plain text in data', bounded, async () => {
    await using b = await openBucket('no-gzip', { compression: false });
    const text = 'x'.repeat(64 * 1024);
    await b.store.put('big', text);
    const raw = await readRaw(b.namespace, 'no-gzip');
    assert.equal(raw.data?.['big'], text);
    assert.equal(raw.binaryData?.['big'], undefined);
    assert.equal((await b.store.get('big'))?.text, text);
  });

  it('a short text value stays in data and an incompressible binary value stays raw, even with compression on', bounded, async () => {
    await using b = await openBucket('small');
    const noise = new Uint8Array(randomBytes(4096));
    await b.store.put('short', 'short text');
    await b.store.put('noise', noise);
    const raw = await readRaw(b.namespace, 'small');
    assert.equal(raw.data?.['short'], 'short text');
    const stored = rawBinary(raw, 'noise');
    assert.deepEqual([...stored.subarray(0, 4)], HEADER_RAW, 'random bytes were stored gzipped although gzip cannot shrink them');
    assert.deepEqual(new Uint8Array(stored.subarray(4)), noise);
    assert.deepEqual((await b.store.get('noise'))?.value, noise);
  });
});

describe('a ConfigMap kubekv did not create', () => {
  it('is readable through the store, and a put leaves its keys byte-for-byte intact', bounded, async () => {
    const namespace = await cp.freshNamespace('kv-foreign');
    const data = { plain: 'hello', DB_HOST: 'db', 'a_5Fb': 'not canonical', config__db: 'slashed', 'dotted.name': '' };
    const binaryData = {
      blob: Buffer.from([0xff, 0x00, 0xfe]).toString('base64'),
      'bin.dat': Buffer.from('text in binaryData').toString('base64'),
    };
    await adminClients().core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'foreign' }, data, binaryData } });
    await using store = await ConfigMapStore.open({ name: 'foreign', namespace, kubeConfig: cp.adminKubeConfig() });

    assert.deepEqual((await store.list('')).map((p) => [p.key, p.lastIndex]), [
      ['DB_HOST', 0], ['a_5Fb', 0], ['bin.dat', 0], ['blob', 0], ['config/db', 0], ['dotted.name', 0], ['plain', 0],
    ]);
    assert.equal((await store.get('plain'))?.text, 'hello');
    assert.equal((await store.get('config/db'))?.text, 'slashed');
    assert.equal((await store.get('a_5Fb'))?.text, 'not canonical');
    assert.deepEqual((await store.get('blob'))?.value, Uint8Array.from([0xff, 0x00, 0xfe]));
    assert.equal((await store.get('bin.dat'))?.text, 'text in binaryData');
    assert.equal(store.status().revision, 0);

    const pair = await store.put('added/by-kubekv', 'new');
    const raw = await readRaw(namespace, 'foreign');
    assert.deepEqual(raw.data, { ...data, 'added__by-kubekv': 'new' });
    assert.deepEqual(raw.binaryData, binaryData);
    assert.deepEqual(rawIndex(raw), { 'added__by-kubekv': pair.lastIndex });
    assert.equal(raw.metadata?.annotations?.['kubekv.dev/format'], '1');
    assert.equal((await store.get('plain'))?.lastIndex, 0, 'a foreign key got a revision it never had');
  });

  // The kubekv key "a_5Fb" is stored as "a_5F5Fb"; a kubectl-made "a_5Fb"
  // decodes to the same kubekv key. The canonical one must win in either
  // order (data is read before binaryData), and writes must leave the
  // foreign one alone.
  for (const where of ['data', 'binaryData'] as const) {
    it(`a foreign key never shadows the kubekv key of the same name (kubekv value in ${where}), and delete() removes both`, bounded, async () => {
      const namespace = await cp.freshNamespace('kv-shadow');
      const name = `shadow-${where.toLowerCase()}`;
      await using store = await ConfigMapStore.open({ name, namespace, kubeConfig: cp.adminKubeConfig(), create: true });
      const value = where === 'data' ? 'kubekv value' : Uint8Array.from([0xff, 0xfe, 0x00]);
      await store.put('a_5Fb', value);
      const patch = { data: { a_5Fb: 'foreign value' } };
      await adminClients().core.patchNamespacedConfigMap({ name, namespace, body: patch }, mergePatchOptions());
      const seen = await store.get('a_5Fb', { consistent: true });
      assert.deepEqual(seen?.value, typeof value === 'string' ? utf8(value) : value, 'the foreign key shadowed the kubekv key');
      assert.ok((seen?.lastIndex ?? 0) > 0);

      // Both names are the key a_5Fb: once delete() resolved, no value may
      // surface from under it (issue 16).
      assert.equal(await store.delete('a_5Fb'), true);
      const raw = await readRaw(namespace, name);
      assert.equal(raw.data?.['a_5Fb'], undefined, 'delete() left the foreign name of the key, whose value now surfaces');
      assert.equal(raw.data?.['a_5F5Fb'] ?? raw.binaryData?.['a_5F5Fb'], undefined);
      assert.equal(await store.get('a_5Fb', { consistent: true }), undefined);
    });
  }
});

for (const backend of storeBackends) {
  describe(`${backend.name}: lifecycle`, () => {
    it('status() reports synced, the bucket\'s revision and resourceVersion, and a connected watch', bounded, async () => {
      await using b = await openBackendBucket(backend, 'status');
      const first = await b.store.put('a', '1');
      const second = await b.store.put('b', '2');
      const status = b.store.status();
      assert.equal(status.synced, true);
      assert.equal(second.lastIndex, first.lastIndex + 1);
      assert.equal(status.revision, second.lastIndex);
      if (b.raw) {
        const raw = await b.raw();
        assert.equal(String(status.revision), raw.metadata?.annotations?.['kubekv.dev/revision']);
        assert.equal(status.resourceVersion, raw.metadata?.resourceVersion);
      }
      assert.ok(status.stalenessMs >= 0);
      await waitFor('status().connected', () => b.store.status().connected);
      assert.equal(b.store.status().lastError, undefined);
    });

    it('teardown() deletes the bucket and closes the store', bounded, async () => {
      const b = await openBackendBucket(backend, 'teardown');
      await b.store.put('k', 'v');
      await b.store.teardown();
      if (b.raw) await expectApiStatus(b.raw(), 404);
      await expectKubekvError(b.store.get('k'), ClosedError, 'CLOSED');
      await expectKubekvError(b.store.put('k', 'v'), ClosedError, 'CLOSED');
      if (b.raw) await expectApiStatus(b.raw(), 404);
      await expectKubekvError(b.openPeer(), BucketNotFoundError, 'BUCKET_NOT_FOUND');
    });

    it('a bucket torn down by another instance: this one reads it empty and its writes reject with BucketNotFoundError', bounded, async () => {
      await using b = await openBackendBucket(backend, 'torn-down');
      await b.store.put('k', 'v');
      const other = await b.openPeer();
      await other.teardown();
      await waitFor('the deletion to reach the first instance', async () => (await b.store.list('')).length === 0);
      assert.equal(await b.store.get('k'), undefined);
      assert.equal(await b.store.get('k', { consistent: true }), undefined);
      await expectKubekvError(b.store.put('k', 'w'), BucketNotFoundError, 'BUCKET_NOT_FOUND');
      await expectKubekvError(b.openPeer(), BucketNotFoundError, 'BUCKET_NOT_FOUND');
    });

    it('after close() every call rejects with ClosedError, close() is idempotent, and the data stays', bounded, async () => {
      const b = await openBackendBucket(backend, 'closed');
      const pair = await b.store.put('k', 'v');
      await b.store.close();
      await b.store.close();
      const store: Store = b.store;
      const calls: Array<[string, () => unknown]> = [
        ['get', () => store.get('k')],
        ['get consistent', () => store.get('k', { consistent: true })],
        ['exists', () => store.exists('k')],
        ['list', () => store.list('')],
        ['watch', () => store.watch('k')],
        ['watchTree', () => store.watchTree('')],
        ['put', () => store.put('k', 'w')],
        ['delete', () => store.delete('k')],
        ['deleteTree', () => store.deleteTree('')],
        ['atomicPut', () => store.atomicPut('k', 'w', pair)],
        ['atomicDelete', () => store.atomicDelete('k', pair)],
        ['batch', () => store.batch([{ op: 'put', key: 'k', value: 'w' }])],
        ['teardown', () => store.teardown()],
        ['newLock', () => store.newLock('k')],
      ];
      for (const [name, call] of calls) {
        await assert.doesNotReject(expectKubekvError(call, ClosedError, 'CLOSED'), `${name} after close`);
      }
      if (b.raw) assert.deepEqual((await b.raw()).data, { k: 'v' });
      await using reopened = await b.openPeer();
      assert.deepEqual((await reopened.list('')).map((p) => [p.key, p.text, p.lastIndex]), [['k', 'v', pair.lastIndex]]);
    });

    it('await using closes the store when the block ends', bounded, async () => {
      const b = await openBackendBucket(backend, 'using');
      await b.store.close();
      let escaped: Store | undefined;
      {
        await using store = await b.openPeer();
        escaped = store;
        await store.put('k', 'v');
        assert.equal((await store.get('k'))?.text, 'v');
      }
      const closed = escaped;
      await expectKubekvError(closed.get('k'), ClosedError, 'CLOSED');
      await expectKubekvError(() => closed.watch('k'), ClosedError, 'CLOSED');
    });
  });
}
