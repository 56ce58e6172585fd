/**
 * Keys whose ConfigMap names are special to JavaScript or shadowed by a
 * hand-made name (issue 16, break 1 and the shadowing item): `/proto/` is
 * stored under `__proto__`, which a plain object would take as its
 * prototype and silently leave out of a patch; and a name made with
 * kubectl that decodes to the same key as kubekv's must not surface once the
 * key is deleted: the key `a_5Fb` is stored by kubekv as `a_5F5Fb` (its `_`
 * escaped, see src/codec/key.ts), and a hand-made `a_5Fb`, which kubekv
 * would never write, decodes to `a_5Fb` too.
 *
 * The raw reads here go through kubekv's own transport and JSON.parse (which
 * keeps `__proto__` as a property); client-node's deserializer would not.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { KeyModifiedError } from '../../../src/index.js';
import { encodeKey } from '../../../src/codec/index.js';
import { BucketApi } from '../../../src/store/bucket-api.js';
import { openBucket, openPeer, type OpenedBucket } from '../../support/store.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

async function bucketFor(prefix: string): Promise<OpenedBucket> {
  const bucket = await openBucket(prefix);
  cleanups.push(() => bucket.store.close());
  return bucket;
}

function rawApi(bucket: OpenedBucket): BucketApi {
  return new BucketApi(bucket.kc, bucket.namespace, bucket.name);
}

/** The ConfigMap's data as the server holds it, `__proto__` included. */
async function rawData(bucket: OpenedBucket): Promise<Record<string, string>> {
  const cm = (await rawApi(bucket).get()) as V1ConfigMap;
  return cm.data ?? {};
}

/** Sets `data[cmKey]` by hand, as `kubectl patch --type merge` would (the body is built from JSON text so `__proto__` is a property). */
async function setByHand(bucket: OpenedBucket, cmKey: string, value: string): Promise<void> {
  const api = rawApi(bucket);
  const current = (await api.get()) as V1ConfigMap;
  const data = JSON.parse(`{${JSON.stringify(cmKey)}:${JSON.stringify(value)}}`) as Record<string, string>;
  const result = await api.patch({ metadata: { resourceVersion: current.metadata!.resourceVersion! }, data });
  assert.ok(result.ok, 'the hand edit conflicted');
}

describe('the key /proto/ (ConfigMap key __proto__)', () => {
  it('round-trips through put, get, list, atomicPut and delete, and is really stored', { timeout: 60_000 }, async () => {
    const bucket = await bucketFor('proto-key');
    const store = bucket.store;
    const put = await store.put('/proto/', 'one');
    assert.equal(Object.hasOwn(await rawData(bucket), '__proto__'), true, 'put resolved but the server holds no __proto__ key');
    assert.equal((await rawData(bucket))['__proto__'], 'one');
    assert.equal((await store.get('/proto/'))?.text, 'one');
    assert.equal((await store.get('/proto/', { consistent: true }))?.text, 'one');
    assert.deepEqual((await store.list('/')).map((p) => p.key), ['/proto/']);

    const peer = await openPeer(bucket);
    cleanups.push(() => peer.close());
    assert.equal((await peer.get('/proto/'))?.text, 'one', 'another store does not see the key');

    const swapped = await store.atomicPut('/proto/', 'two', put);
    assert.equal((await rawData(bucket))['__proto__'], 'two', 'atomicPut resolved but left the old value');
    await assert.rejects(store.atomicPut('/proto/', 'three', put), KeyModifiedError);
    assert.equal((await store.get('/proto/', { consistent: true }))?.lastIndex, swapped.lastIndex);

    assert.equal(await store.delete('/proto/'), true);
    assert.equal(Object.hasOwn(await rawData(bucket), '__proto__'), false, 'delete resolved true but the key is still stored');
    assert.equal(await store.get('/proto/', { consistent: true }), undefined);
  });

  it('a __proto__ key made by hand is deleted by delete()', { timeout: 60_000 }, async () => {
    const bucket = await bucketFor('proto-hand');
    await setByHand(bucket, '__proto__', 'by-hand');
    assert.equal((await bucket.store.get('/proto/', { consistent: true }))?.text, 'by-hand');
    assert.equal(await bucket.store.delete('/proto/'), true);
    assert.equal(Object.hasOwn(await rawData(bucket), '__proto__'), false, 'delete resolved true and deleted nothing');
  });

  it('other prototype names round-trip too', { timeout: 60_000 }, async () => {
    const bucket = await bucketFor('proto-names');
    const keys = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'prototype'];
    await bucket.store.batch(keys.map((key) => ({ op: 'put' as const, key, value: `v-${key}` })));
    const data = await rawData(bucket);
    for (const key of keys) assert.equal(data[encodeKey(key)], `v-${key}`, `${key} is not stored`);
    const peer = await openPeer(bucket);
    cleanups.push(() => peer.close());
    assert.deepEqual((await peer.list('')).map((p) => [p.key, p.text]), keys.toSorted().map((key) => [key, `v-${key}`]));
  });
});

describe('a name made by hand that decodes to the same key as kubekv\'s', () => {
  const key = 'a_5Fb';
  it('is removed with the key: after delete() resolves, no value surfaces from under it', { timeout: 60_000 }, async () => {
    assert.equal(encodeKey(key), 'a_5F5Fb');
    const bucket = await bucketFor('shadowed');
    const store = bucket.store;
    await store.put(key, 'kubekv');
    await setByHand(bucket, 'a_5Fb', 'by-hand');
    assert.equal((await store.get(key, { consistent: true }))?.text, 'kubekv', "kubekv's name wins while both exist");
    assert.equal(await store.delete(key), true);
    assert.equal(await store.get(key, { consistent: true }), undefined, 'the hand-made value surfaced after delete() resolved');
    assert.deepEqual(Object.keys(await rawData(bucket)), []);
  });

  it('is removed by a put of the key, so a later delete leaves nothing behind', { timeout: 60_000 }, async () => {
    const bucket = await bucketFor('shadowed-put');
    const store = bucket.store;
    await setByHand(bucket, 'a_5Fb', 'by-hand');
    assert.equal((await store.get(key, { consistent: true }))?.text, 'by-hand');
    await store.put(key, 'kubekv');
    assert.deepEqual(Object.keys(await rawData(bucket)), ['a_5F5Fb']);
    assert.equal(await store.delete(key), true);
    assert.equal(await store.get(key, { consistent: true }), undefined);
  });

  it('is removed by deleteTree and by a batch delete', { timeout: 60_000 }, async () => {
    const bucket = await bucketFor('shadowed-tree');
    const store = bucket.store;
    await store.batch([{ op: 'put', key, value: 'kubekv' }, { op: 'put', key: 'keep', value: 'x' }]);
    await setByHand(bucket, 'a_5Fb', 'by-hand');
    await store.get(key, { consistent: true });
    assert.equal(await store.deleteTree('a_'), 1);
    assert.deepEqual(Object.keys(await rawData(bucket)), ['keep']);
    await store.put(key, 'again');
    await setByHand(bucket, 'a_5Fb', 'by-hand');
    await store.get(key, { consistent: true });
    await store.batch([{ op: 'delete', key }]);
    assert.deepEqual(Object.keys(await rawData(bucket)), ['keep']);
  });
});
