/**
 * Review of issue 19's chunked layout (adversarial): each test is a promise
 * of DESIGN.md section 2 / docs/semantics.md that the chunked layout must
 * keep, on kubekv/testing's FakeCluster.
 */
import { CHUNK_REUSE_REVISIONS } from '../../../src/codec/index.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { entriesChunkObject } from '../../../src/codec/index.js';
import { ConfigMapStore } from '../../../src/index.js';
import { FakeCluster } from '../../../src/testing/index.js';

const NS = 'review';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

type Ref = { name: string; uid: string; keys: number; bytes: number; value?: true };
function manifest(cluster: FakeCluster, name: string): Ref[] {
  const head = cluster.object('configmaps', NS, name) as { metadata: { annotations?: Record<string, string> } } | undefined;
  return JSON.parse(head?.metadata.annotations?.['kubekv.dev/chunks'] ?? '[]') as Ref[];
}

describe('chunked layout review (issue 19)', () => {
  it('two loads of the cache in flight at once (the watch and a consistent read) never leave a value unreadable', async () => {
    const cluster = new FakeCluster();
    const writer = await ConfigMapStore.open({ name: 'loads', namespace: NS, api: cluster.api, create: true, chunks: { largeValueBytes: 1024 } });
    const reader = await ConfigMapStore.open({ name: 'loads', namespace: NS, api: cluster.api });
    try {
      const a = new Uint8Array(randomBytes(4000));
      const b = new Uint8Array(randomBytes(4000));
      // The reader's watch delivers H2 (value chunk Pa) and is slow to load
      // it: its GET of Pa answers after 150 ms.
      cluster.pauseWatches();
      await writer.put('a', a);
      const [pa] = manifest(cluster, 'loads').filter((r) => r.value);
      assert.ok(pa);
      cluster.delayNext(150, { match: { verb: 'get', name: pa.name } });
      cluster.resumeWatches();
      await sleep(20);
      // H3 (Pa and Pb) is not on the watch yet; a consistent read loads it:
      // its GET of Pa answers after 300 ms, that of Pb at once.
      cluster.pauseWatches();
      await writer.put('b', b);
      cluster.delayNext(300, { match: { verb: 'get', name: pa.name } });
      const read = await reader.get('b', { consistent: true }).then((p) => p, (err: unknown) => err);
      assert.ok(!(read instanceof Error), `the consistent read failed: ${String(read)}`);
      assert.deepEqual((read as { value: Uint8Array } | undefined)?.value, b);
      cluster.resumeWatches();
      await until(() => reader.status().resourceVersion === cluster.object('configmaps', NS, 'loads')?.metadata?.resourceVersion, 'the reader to catch up');
      await writer.put('c', 'small');
      await until(async () => (await reader.get('c'))?.text === 'small', 'the reader to see c');
      // Every value the bucket holds is readable from the reader's cache.
      assert.deepEqual((await reader.get('a'))?.value, a);
      assert.deepEqual((await reader.get('b'))?.value, b);
      assert.equal(reader.status().synced, true);
    } finally {
      await reader.close();
      await writer.close();
    }
  });
  it('garbage collection never deletes the value chunks of a write whose commit is still in flight (re-planned after a conflict)', async () => {
    const cluster = new FakeCluster();
    // b collects garbage with a short grace period; a's commit takes longer than it.
    const b = await ConfigMapStore.open({ name: 'inflight', namespace: NS, api: cluster.api, create: true, chunks: { largeValueBytes: 1024, gcGraceMs: 100 } });
    const a = await ConfigMapStore.open({ name: 'inflight', namespace: NS, api: cluster.api, chunks: { largeValueBytes: 1024 } });
    try {
      await b.put('seed', new Uint8Array(randomBytes(2000))); // the head has chunks: b's commits collect
      const big = new Uint8Array(randomBytes(5000));
      cluster.delayNext(400, { match: { verb: 'patch', name: 'inflight' } });
      let settled = false;
      const put = a.put('big', big).finally(() => (settled = true));
      // b goes on committing (each commit runs its garbage collection).
      for (let i = 0; i < 15 || !settled; i++) {
        await b.put('tick', String(i), { timeoutMs: 3000 }).catch((err: unknown) => assert.fail(`b's write failed after a's value chunks were collected: ${String(err)}`));
        await sleep(40);
      }
      await put;
      const c = await ConfigMapStore.open({ name: 'inflight', namespace: NS, api: cluster.api }).then((s) => s, (err: unknown) => err);
      assert.ok(c instanceof ConfigMapStore, `a store opening the bucket after the write resolved fails: ${String(c)}`);
      try {
        assert.deepEqual((await c.get('big'))?.value, big);
      } finally {
        await c.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
  it('a store does not keep the value chunks of every large value it ever wrote (overwritten values are released)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const cluster = new FakeCluster();
    // gcGraceMs 0: the cluster drops replaced value chunks at once, so what stays in memory is the store's.
    const store = await ConfigMapStore.open({ name: 'leak', namespace: NS, api: cluster.api, create: true, compression: false, etcdBudget: false, chunks: { gcGraceMs: 0 } });
    try {
      // Heap figures are noisy (a put's buffers, the watch's events in flight, ArrayBuffers freed after the
      // collection): settle and collect a few times, and replace the value often enough that keeping the
      // replaced ones (about 2.8 MiB of base64 each) is several times what that noise can add.
      const retained = async () => {
        cluster.compact(); // the fake cluster's watch history holds every object it stored
        for (let i = 0; i < 3; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          gc();
        }
        return process.memoryUsage().heapUsed + process.memoryUsage().external;
      };
      const replacements = 60;
      await store.put('blob', new Uint8Array(randomBytes(2 * 1024 * 1024)));
      const before = await retained();
      for (let i = 0; i < replacements; i++) await store.put('blob', new Uint8Array(randomBytes(2 * 1024 * 1024)));
      // CHUNK_REUSE_REVISIONS more commits: the collection after them may delete the last replaced chunks.
      for (let i = 0; i <= CHUNK_REUSE_REVISIONS; i++) await store.put('small', String(i));
      const grown = (await retained()) - before;
      // Keeping them all would be about 170 MiB; what a store may hold at once (a few values) is far less.
      assert.ok(grown < 64 * 1024 * 1024, `the store kept ${Math.round(grown / 1024 / 1024)} MiB after replacing one 2 MiB value ${replacements} times`);
      assert.equal(manifest(cluster, 'leak').filter((r) => r.value).length, 3); // 2 MiB + header: three parts
    } finally {
      await store.close();
    }
  });
  it('compaction\'s rewrite of a mostly-shadowed chunk keeps a deletion marker that only a hand-made key in the head shadows (removing that key by hand must not resurrect the deleted value)', async () => {
    const cluster = new FakeCluster();
    const cms = cluster.api.configMaps(NS);
    const store = await ConfigMapStore.open({ name: 'hand', namespace: NS, api: cluster.api, create: true, compression: false, etcdBudget: false, chunks: { compactBytes: 1024 } });
    try {
      const headUid = cluster.object('configmaps', NS, 'hand')!.metadata!.uid!;
      const owner = { bucket: 'hand', uid: headUid, label: 'hand', revision: 1 };
      // x (oldest): k as kubekv wrote it long ago, and live data; y: k's delete
      // (a marker), and nothing else live: most of y is shadowed garbage.
      const x = await cms.create(entriesChunkObject(owner, 'hand.cxxxxxxxxxxxx', [
        { cmKey: 'k', field: 'data', stored: 'deleted long ago', lastIndex: 5 },
        { cmKey: 'live', field: 'data', stored: 'l'.repeat(4000), lastIndex: 6 },
      ], new Map()));
      const y = await cms.create(entriesChunkObject(owner, 'hand.cyyyyyyyyyyyy', [], new Map([['k', 7]])));
      assert.ok(x.ok && y.ok);
      const refs = [
        { name: 'hand.cxxxxxxxxxxxx', uid: x.object.metadata!.uid!, keys: 2, bytes: 5000 },
        { name: 'hand.cyyyyyyyyyyyy', uid: y.object.metadata!.uid!, keys: 0, bytes: 100_000 },
      ];
      const head = cluster.object('configmaps', NS, 'hand')!;
      const patched = await cms.patch('hand', {
        metadata: {
          resourceVersion: head.metadata!.resourceVersion!,
          annotations: { 'kubekv.dev/format': '2', 'kubekv.dev/revision': '8', 'kubekv.dev/chunks': JSON.stringify(refs), 'kubekv.dev/index': '{}' },
        },
        // An operator adds k again with kubectl (a hand-made key: no revision).
        data: { k: 'made by hand' },
      });
      assert.ok(patched.ok);
      await until(() => store.status().resourceVersion === patched.object?.metadata?.resourceVersion, 'the store to see the head');
      assert.equal((await store.get('k'))?.text, 'made by hand');
      // kubekv writes: the head passes compactBytes and is compacted (y is rewritten).
      for (let i = 0; i < 12; i++) await store.put(`m${i}`, 'v'.repeat(100));
      await until(() => !manifest(cluster, 'hand').some((r) => r.name === 'hand.cyyyyyyyyyyyy') || manifest(cluster, 'hand').length > 2, 'a compaction');
      // The operator removes k again: k was deleted by kubekv, it must stay deleted.
      const now = cluster.object('configmaps', NS, 'hand')!;
      assert.ok((await cms.patch('hand', { metadata: { resourceVersion: now.metadata!.resourceVersion! }, data: { k: null } })).ok);
      assert.equal((await store.get('k', { consistent: true }))?.text, undefined);
      assert.equal((await store.get('live'))?.text, 'l'.repeat(4000));
    } finally {
      await store.close();
    }
  });
});
