/**
 * Two loads of the bucket in one store at once (issue 19, found by the
 * robustness harness: every unexplained ChunkMissing report came right
 * after a partition or black hole of that store, when its watch relist,
 * its write pipeline's re-reads and its consistent reads all load heads).
 * A load of a newer head fetches that head's new chunks; an older head
 * applied meanwhile must not make the newer one fail for a chunk that
 * exists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigMapStore } from '../../../src/index.js';
import { FakeCluster } from '../../../src/testing/index.js';

const NS = 'concurrent';

type Head = { metadata: { annotations: Record<string, string> } };

function manifest(cluster: FakeCluster, name: string): { name: string; uid: string; value?: true }[] {
  const head = cluster.object('configmaps', NS, name) as Head | undefined;
  return JSON.parse(head?.metadata.annotations['kubekv.dev/chunks'] ?? '[]') as never;
}

describe('a store loading two heads at once', () => {
  it('does not fail a read (value chunk not loaded, ChunkMissingError) for a chunk an older head\'s apply dropped from memory while a newer head was loading', async () => {
    const cluster = new FakeCluster();
    const writer = await ConfigMapStore.open({ name: 'app', namespace: NS, api: cluster.api, create: true, compression: false, chunks: { largeValueBytes: 1024 } });
    const follower = await ConfigMapStore.open({ name: 'app', namespace: NS, api: cluster.api });
    try {
      await writer.put('big0', 'z'.repeat(4096)); // S0: one value chunk
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The follower hears nothing for a while (a partition, say).
      cluster.pauseWatches();
      await writer.delete('big0'); // H1: another manifest (its chunk dropped), no new chunk
      await writer.batch([{ op: 'put', key: 'big1', value: 'x'.repeat(4096) }, { op: 'put', key: 'big2', value: 'y'.repeat(4096) }]); // H2: two new value chunks
      const [c, d] = manifest(cluster, 'app');
      assert.ok(c && d, 'H2 references two value chunks');
      // The follower's consistent read loads H2: C comes at once, D late.
      cluster.delayNext(300, { match: { verb: 'get', resource: 'configmaps', name: d.name } });
      const read = follower.get('big1', { consistent: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Meanwhile its watch delivers H1, then H2, whose load fetches C
      // again (slowly this time) if H1's apply dropped it.
      cluster.delayNext(600, { match: { verb: 'get', resource: 'configmaps', name: c.name } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      cluster.resumeWatches();
      const pair = await read;
      assert.equal(pair?.text, 'x'.repeat(4096));
      assert.equal(follower.status().synced, true, `status: ${String(follower.status().lastError)}`);
      assert.equal((await follower.get('big1'))?.text, 'x'.repeat(4096));
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal((await follower.get('big1'))?.text, 'x'.repeat(4096));
      assert.equal((await follower.get('big2'))?.text, 'y'.repeat(4096));
    } finally {
      await follower.close();
      await writer.close();
    }
  });
});
