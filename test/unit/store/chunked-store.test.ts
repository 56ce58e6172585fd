/**
 * The chunked layout end to end on kubekv/testing's FakeCluster: the real
 * ConfigMapStore compacts its head into chunks, keeps large values in value
 * chunks, and a second store (a follower) reads the same content. The same
 * behaviour on the real control plane is in
 * test/integration/store/chunks*.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ChunkMissingError, ConfigMapStore, type KVPair, type TreeEvent } from '../../../src/index.js';
import { FakeCluster } from '../../../src/testing/index.js';

const NS = 'chunks';

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function head(cluster: FakeCluster, name: string) {
  return cluster.object('configmaps', NS, name) as { metadata: { annotations: Record<string, string> }; data?: Record<string, string> } | undefined;
}

function manifest(cluster: FakeCluster, name: string): { name: string; uid: string; keys: number; bytes: number; value?: true }[] {
  return JSON.parse(head(cluster, name)?.metadata.annotations['kubekv.dev/chunks'] ?? '[]') as never;
}

const asObject = (pairs: KVPair[]) => Object.fromEntries(pairs.map((p) => [p.key, [p.text, p.lastIndex]]));

describe('ConfigMapStore with chunks, on a FakeCluster', () => {
  it('compacts the head into chunks; get, list, a follower and watchTree see every key; overwrite and delete of chunked keys', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'app', namespace: NS, api: cluster.api, create: true, chunks: { compactBytes: 2048 } });
    try {
      for (let i = 0; i < 20; i++) {
        await store.batch(Array.from({ length: 50 }, (_, j) => ({ op: 'put' as const, key: `k/${String(i * 50 + j).padStart(4, '0')}`, value: `value ${i * 50 + j}` })));
      }
      const refs = manifest(cluster, 'app');
      assert.ok(refs.length > 0, 'the head references chunks');
      assert.ok(refs.length < 12, `chunks stay few by merging (${refs.length})`);
      assert.equal(head(cluster, 'app')?.metadata.annotations['kubekv.dev/format'], '2');
      const all = await store.list('', { consistent: true });
      assert.equal(all.length, 1000);
      assert.equal((await store.get('k/0007'))?.text, 'value 7');

      const follower = await ConfigMapStore.open({ name: 'app', namespace: NS, api: cluster.api });
      try {
        assert.deepEqual(asObject(await follower.list('')), asObject(all));
        // Overwrite and delete chunked keys: one CAS on the head each.
        const before = (await store.get('k/0001'))!;
        await store.put('k/0001', 'new');
        assert.equal(await store.delete('k/0002'), true);
        assert.equal(await store.delete('k/0002'), false);
        const put = await store.atomicPut('k/0003', 'cas', await store.get('k/0003'));
        assert.ok(put.lastIndex > before.lastIndex);
        await until(async () => (await follower.get('k/0003'))?.text === 'cas', 'the follower to see the atomicPut');
        assert.equal((await follower.get('k/0001'))?.text, 'new');
        assert.equal(await follower.get('k/0002'), undefined);
        assert.equal((await follower.list('')).length, 999);
        // A compaction in between: the follower keeps the same content.
        for (let i = 0; i < 10; i++) await store.put(`more/${i}`, 'x'.repeat(300));
        await until(async () => (await follower.list('')).length === 1009, 'the follower to see 1009 keys');
        assert.deepEqual(asObject(await follower.list('')), asObject(await store.list('')));
        const it = follower.watchTree('k/')[Symbol.asyncIterator]();
        const first: IteratorResult<TreeEvent> = await it.next();
        assert.ok(!first.done && first.value.type === 'snapshot');
        assert.equal(first.value.pairs.length, 999);
        await it.return?.();
        assert.equal(follower.status().synced, true);
      } finally {
        await follower.close();
      }
    } finally {
      await store.close();
    }
  });

  it('a value larger than one ConfigMap spans value chunks and round-trips; replacing it drops them from the head', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'big', namespace: NS, api: cluster.api, create: true });
    try {
      const value = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
      await store.put('blob', value);
      const parts = manifest(cluster, 'big').filter((r) => r.value);
      assert.equal(parts.length, 4);
      assert.deepEqual((await store.get('blob'))?.value, value);
      const follower = await ConfigMapStore.open({ name: 'big', namespace: NS, api: cluster.api });
      try {
        assert.deepEqual((await follower.get('blob'))?.value, value);
      } finally {
        await follower.close();
      }
      await store.put('blob', 'small');
      assert.equal(manifest(cluster, 'big').filter((r) => r.value).length, 0);
      assert.equal((await store.get('blob'))?.text, 'small');
    } finally {
      await store.close();
    }
  });

  it('garbage collection deletes chunks no head references after the grace period; teardown deletes every chunk', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'gc', namespace: NS, api: cluster.api, create: true, chunks: { compactBytes: 1024, gcGraceMs: 50 } });
    const chunkNames = async () => (await cluster.api.configMaps(NS).list({ labelSelector: 'kubekv.dev/chunk-of=gc' })).items.map((c) => c.metadata!.name!);
    try {
      for (let i = 0; i < 40; i++) await store.put(`k${i}`, 'y'.repeat(200));
      await new Promise((resolve) => setTimeout(resolve, 80));
      for (let i = 0; i < 40; i++) await store.put(`k${i}`, 'z'.repeat(200));
      // A run sees the unreferenced chunks; one a grace period later deletes them.
      await new Promise((resolve) => setTimeout(resolve, 80));
      await store.put('last', '1');
      assert.ok((await chunkNames()).length > manifest(cluster, 'gc').length, 'unreferenced chunks are kept for their grace period');
      // Collection runs after commits: small ones (no further compaction) until it caught up.
      let n = 0;
      await until(async () => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        await store.put('last', String(n++ % 10));
        return JSON.stringify((await chunkNames()).sort()) === JSON.stringify(manifest(cluster, 'gc').map((r) => r.name).sort());
      }, 'garbage collection to delete every unreferenced chunk');
      assert.equal((await store.list('')).length, 41);
      await store.teardown();
      assert.deepEqual(await chunkNames(), []);
    } finally {
      await store.close();
    }
  });

  it('a chunk deleted by hand is reported (status().synced false, ChunkMissingError), never read as partial data', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'lost', namespace: NS, api: cluster.api, create: true, chunks: { compactBytes: 1024 } });
    try {
      for (let i = 0; i < 30; i++) await store.put(`k${i}`, 'v'.repeat(100));
      const [victim] = manifest(cluster, 'lost');
      assert.ok(victim);
      await cluster.api.configMaps(NS).delete(victim.name, {});
      await assert.rejects(ConfigMapStore.open({ name: 'lost', namespace: NS, api: cluster.api }), ChunkMissingError);
    } finally {
      await store.close();
    }
  });

  it('a compaction that loses its race to another writer leaves the bucket intact; its chunks are orphans', async () => {
    const cluster = new FakeCluster();
    const a = await ConfigMapStore.open({ name: 'race', namespace: NS, api: cluster.api, create: true, compression: false, chunks: { compactBytes: 4096 } });
    const b = await ConfigMapStore.open({ name: 'race', namespace: NS, api: cluster.api, chunks: false });
    try {
      for (let i = 0; i < 9; i++) await a.put(`a${i}`, 'v'.repeat(100));
      const before = manifest(cluster, 'race').length;
      assert.equal(before, 0, 'no compaction yet');
      // a's next commit passes the threshold; its compaction's chunk create
      // is held while b commits, so the compaction's CAS loses.
      cluster.delayNext(200, { match: { verb: 'create', resource: 'configmaps' } });
      const compacting = a.put('a9', 'v'.repeat(4000));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await b.put('b', 'from b');
      await compacting;
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.equal(manifest(cluster, 'race').length, before, 'the lost compaction changed nothing');
      const orphans = (await cluster.api.configMaps(NS).list({ labelSelector: 'kubekv.dev/chunk-of=race' })).items.length;
      assert.ok(orphans > before, 'the lost compaction left its chunk behind for garbage collection');
      const all = await a.list('', { consistent: true });
      assert.equal(all.length, 11);
      assert.equal((await a.get('b'))?.text, 'from b');
      // The next commit compacts on the newer state.
      await a.put('a10', 'w');
      await until(() => manifest(cluster, 'race').length > before, 'the next compaction to land');
      assert.equal((await b.list('', { consistent: true })).length, 12);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('space in chunks that newer writes shadow', () => {
  it('is reclaimed: overwriting every key five times leaves the chunks near the live data, every value the newest', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'churn', namespace: NS, api: cluster.api, create: true, compression: false, chunks: { compactBytes: 4096 } });
    const follower = await ConfigMapStore.open({ name: 'churn', namespace: NS, api: cluster.api });
    try {
      const keys = 2000;
      const valueOf = (round: number, i: number) => `${round}:${i}:${'v'.repeat(500)}`;
      const liveBytes = keys * valueOf(0, 0).length;
      let peak = 0;
      for (let round = 0; round < 6; round++) {
        for (let first = 0; first < keys; first += 100) {
          await store.batch(Array.from({ length: 100 }, (_, j) => ({ op: 'put' as const, key: `k/${first + j}`, value: valueOf(round, first + j) })));
        }
        peak = Math.max(peak, manifest(cluster, 'churn').reduce((sum, ref) => sum + ref.bytes, 0));
      }
      const chunkBytes = manifest(cluster, 'churn').reduce((sum, ref) => sum + ref.bytes, 0);
      // Six rounds were written: 6x the live data if nothing were reclaimed.
      assert.ok(chunkBytes < 3 * liveBytes, `the chunks hold ${chunkBytes} bytes for ${liveBytes} of live data`);
      assert.ok(peak < 3.5 * liveBytes, `the chunks held up to ${peak} bytes for ${liveBytes} of live data`);
      const expected = Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k/${i}`, valueOf(5, i)]));
      const texts = (pairs: KVPair[]) => Object.fromEntries(pairs.map((p) => [p.key, p.text]));
      assert.deepEqual(texts(await store.list('', { consistent: true })), expected);
      await until(async () => (await follower.get(`k/${keys - 1}`))?.text === valueOf(5, keys - 1), 'the follower to catch up');
      assert.deepEqual(texts(await follower.list('')), expected);
    } finally {
      await follower.close();
      await store.close();
    }
  });
});

describe('a follower whose fetch of a new chunk fails', () => {
  it('fetches it again: it reaches the head even when no later write comes to retry it', async () => {
    const cluster = new FakeCluster();
    const writer = await ConfigMapStore.open({ name: 'retry', namespace: NS, api: cluster.api, create: true, chunks: { compactBytes: 256 } });
    const follower = await ConfigMapStore.open({ name: 'retry', namespace: NS, api: cluster.api });
    try {
      for (let i = 0; i < 20; i++) await writer.put(`k/${i}`, `value ${i}`);
      await until(() => follower.status().revision === writer.status().revision, 'the follower to catch up');
      // The next GET fails once: the follower's fetch of the chunk the next
      // compaction makes. Write until that fetch has failed, then no more.
      cluster.refuseNext(503, { match: { verb: 'get', resource: 'configmaps' } });
      for (let i = 20; follower.status().lastError === undefined; i++) {
        assert.ok(i < 200, 'no fetch of the follower failed: this test proves nothing');
        await writer.put(`k/${i}`, `value ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const last = (await writer.list('')).length - 1;
      await until(() => follower.status().revision === writer.status().revision, `the follower (at ${follower.status().revision}) to reach the writer's revision ${writer.status().revision} with no write after the failed fetch`);
      assert.equal((await follower.get(`k/${last}`))?.text, `value ${last}`);
      assert.equal(follower.status().synced, true);
    } finally {
      await follower.close();
      await writer.close();
    }
  });
});
