/**
 * The chunked layout (docs/format.md "Chunks") on the real control plane:
 * a bucket beyond one ConfigMap's limits (more than 1 MiB of values, more
 * than 25,000 keys) read whole by get, list({ consistent: true }), a
 * follower's cache and watchTree's initial state; an 8 MiB value; writes
 * to chunked keys; concurrent writers whose compactions race; what is
 * really stored (immutable chunks owned by the head, a small head).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigMapStore, type KVPair, type TreeEvent } from '../../../src/index.js';
import { adminClients, openBucket, openPeer, readRaw } from '../../support/store.js';
import { waitFor } from '../../support/wait.js';

const bounded = { timeout: 300_000 };

interface Ref { name: string; uid: string; keys: number; bytes: number; value?: true }

/** The chunks a head references: its own list, or (format 3) the list of the manifest chunk it names. */
async function manifestOf(namespace: string, name: string): Promise<Ref[]> {
  const raw = await readRaw(namespace, name);
  const manifest = raw.metadata?.annotations?.['kubekv.dev/manifest'];
  if (manifest === undefined) return JSON.parse(raw.metadata?.annotations?.['kubekv.dev/chunks'] ?? '[]') as Ref[];
  const chunk = await readRaw(namespace, (JSON.parse(manifest) as Ref).name);
  return JSON.parse(chunk.data?.['chunks'] ?? '') as Ref[];
}

const key = (i: number) => `users/${String(i).padStart(6, '0')}`;
const valueOf = (i: number) => `{"id":${i},"name":"user number ${i}","pad":"${'x'.repeat(20)}"}`;
const byKey = (pairs: KVPair[]) => new Map(pairs.map((p) => [p.key, [p.text, p.lastIndex] as const]));

describe('chunked buckets on the control plane', () => {
  it('holds 26,000 keys and more than 1 MiB of values: get, list({ consistent: true }), a follower and watchTree read them all', bounded, async () => {
    await using b = await openBucket('chunks-many');
    const count = 26_000;
    for (let start = 0; start < count; start += 1000) {
      await b.store.batch(Array.from({ length: 1000 }, (_, j) => ({ op: 'put' as const, key: key(start + j), value: valueOf(start + j) })));
    }
    const all = await b.store.list('', { consistent: true });
    assert.equal(all.length, count);
    const bytes = all.reduce((n, p) => n + p.value.length, 0);
    assert.ok(bytes > 1024 * 1024, `values total ${bytes} bytes`);
    assert.equal((await b.store.get(key(12_345)))?.text, valueOf(12_345));

    // What is stored: a format-2 head that stays small, immutable chunks it owns.
    const head = await readRaw(b.namespace, b.name);
    assert.equal(head.metadata?.annotations?.['kubekv.dev/format'], '2');
    const refs = await manifestOf(b.namespace, b.name);
    assert.ok(refs.length >= 2, `${refs.length} chunks`);
    const chunk = await readRaw(b.namespace, refs[0]!.name);
    assert.equal(chunk.immutable, true);
    assert.equal(chunk.metadata?.labels?.['kubekv.dev/chunk-of'], b.name);
    assert.equal(chunk.metadata?.labels?.['kubekv.dev/bucket'], b.name);
    assert.deepEqual(chunk.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid]), [['ConfigMap', b.name, head.metadata?.uid]]);
    // The API server refuses to change it.
    await assert.rejects(adminClients().core.patchNamespacedConfigMap({ name: refs[0]!.name, namespace: b.namespace, body: [{ op: 'add', path: '/data/x', value: 'y' }] }));

    await using follower = await openPeer(b);
    const expected = byKey(all);
    assert.deepEqual(byKey(await follower.list('')), expected);
    const iterator = follower.watchTree('users/')[Symbol.asyncIterator]();
    const first: IteratorResult<TreeEvent> = await iterator.next();
    assert.ok(!first.done && first.value.type === 'snapshot');
    assert.equal(first.value.pairs.length, count);
    await iterator.return?.();

    // Bucket listings (the bucket label) leave the chunks out when they select !kubekv.dev/chunk-of.
    const buckets = await adminClients().core.listNamespacedConfigMap({ namespace: b.namespace, labelSelector: 'kubekv.dev/bucket,!kubekv.dev/chunk-of' });
    assert.deepEqual(buckets.items.map((i) => i.metadata?.name), [b.name]);
  });

  it('overwrites and deletes chunked keys, atomicPut on a chunked key, with a follower following through a compaction', bounded, async () => {
    await using b = await openBucket('chunks-writes', { chunks: { compactBytes: 4096 } });
    await b.store.batch(Array.from({ length: 500 }, (_, i) => ({ op: 'put' as const, key: key(i), value: valueOf(i) })));
    await b.store.put('trigger', 'x'); // compaction after this commit at the latest
    assert.ok((await manifestOf(b.namespace, b.name)).length > 0);
    await using follower = await openPeer(b);
    const old = (await b.store.get(key(1)))!;
    await b.store.put(key(1), 'overwritten');
    assert.equal(await b.store.delete(key(2)), true);
    const cas = await b.store.atomicPut(key(3), 'cas', await b.store.get(key(3)));
    await assert.rejects(b.store.atomicPut(key(1), 'stale', old), { code: 'KEY_MODIFIED' });
    await b.store.atomicDelete(key(4), (await b.store.get(key(4)))!);
    // More commits, so compaction moves the head's changes into chunks meanwhile.
    for (let i = 0; i < 40; i++) await b.store.put(`more/${i}`, 'y'.repeat(200));
    await waitFor(async () => (await follower.get('more/39'))?.text === 'y'.repeat(200), 'the follower to see the last put');
    assert.equal((await follower.get(key(1)))?.text, 'overwritten');
    assert.equal(await follower.get(key(2)), undefined);
    assert.equal((await follower.get(key(3)))?.lastIndex, cas.lastIndex);
    assert.equal(await follower.get(key(4)), undefined);
    assert.deepEqual(byKey(await follower.list('')), byKey(await b.store.list('', { consistent: true })));
    assert.equal((await b.store.list('')).length, 500 - 2 + 1 + 40);
    assert.equal(follower.status().synced, true);
  });

  it('an 8 MiB value round-trips through value chunks', bounded, async () => {
    await using b = await openBucket('chunks-big');
    const value = new Uint8Array(randomBytes(8 * 1024 * 1024));
    await b.store.put('blob', value);
    assert.deepEqual((await b.store.get('blob', { consistent: true }))?.value, value);
    await using follower = await openPeer(b);
    assert.deepEqual((await follower.get('blob'))?.value, value);
    // Nine value chunks: more than a head lists itself, so once compacted
    // a manifest chunk lists them (format 3).
    await waitFor(async () => (await readRaw(b.namespace, b.name)).metadata?.annotations?.['kubekv.dev/manifest'] !== undefined, 'the list to move into a manifest chunk');
    const parts = (await manifestOf(b.namespace, b.name)).filter((r) => r.value);
    assert.equal(parts.length, 9);
    // The head holds a reference, not the value.
    const head = await readRaw(b.namespace, b.name);
    assert.equal(head.metadata?.annotations?.['kubekv.dev/format'], '3');
    assert.equal(head.metadata?.annotations?.['kubekv.dev/chunks'], '"kubekv.dev/manifest"', 'not a list: a format-2 kubekv parsing it fails');
    assert.ok(JSON.stringify(head).length < 8 * 1024, 'the head stays small');
    await using reader = await openPeer(b);
    assert.deepEqual((await reader.get('blob'))?.value, value);
  });

  it('concurrent writers with tiny compaction thresholds: compactions race, no write is lost', bounded, async () => {
    await using b = await openBucket('chunks-race', { chunks: { compactBytes: 512 } });
    const other = await ConfigMapStore.open({ kubeConfig: b.kc, namespace: b.namespace, name: b.name, chunks: { compactBytes: 512 } });
    try {
      await Promise.all([
        (async () => { for (let i = 0; i < 60; i++) await b.store.put(`a/${i}`, `a${i}`.repeat(20)); })(),
        (async () => { for (let i = 0; i < 60; i++) await other.put(`b/${i}`, `b${i}`.repeat(20)); })(),
      ]);
      const pairs = await b.store.list('', { consistent: true });
      assert.equal(pairs.length, 120);
      for (let i = 0; i < 60; i++) {
        assert.equal((await b.store.get(`a/${i}`))?.text, `a${i}`.repeat(20));
        assert.equal((await b.store.get(`b/${i}`))?.text, `b${i}`.repeat(20));
      }
      await waitFor(() => other.status().revision === b.store.status().revision, 'the other writer to catch up');
      assert.deepEqual(byKey(await other.list('')), byKey(pairs));
    } finally {
      await other.close();
    }
  });
});
