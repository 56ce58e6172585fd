/**
 * A store that learns its bucket is gone while loading a head whose chunk
 * is missing (issue 19, found by the robustness harness: the slow reader's
 * watch went "every key deleted" and then delivered the keys again with
 * their old values, from watch events older than the deletion). The
 * deletion must hold against every state older than it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigMapStore } from '../../../src/index.js';
import { FakeCluster } from '../../../src/testing/index.js';

const NS = 'deleted-while-loading';

type Head = { metadata: { annotations: Record<string, string> } };

function manifest(cluster: FakeCluster, name: string): { name: string; value?: true }[] {
  const head = cluster.object('configmaps', NS, name) as Head | undefined;
  return JSON.parse(head?.metadata.annotations['kubekv.dev/chunks'] ?? '[]') as never;
}

describe('a bucket deleted while a store loads a head whose chunk is gone', () => {
  it('stays deleted in the cache: no older state brings its keys back', async () => {
    const cluster = new FakeCluster();
    const writer = await ConfigMapStore.open({ name: 'app', namespace: NS, api: cluster.api, create: true, compression: false, chunks: { largeValueBytes: 1024 } });
    const follower = await ConfigMapStore.open({ name: 'app', namespace: NS, api: cluster.api });
    const events: string[] = [];
    const stop = new AbortController();
    const watching = (async () => {
      for await (const event of follower.watchTree('', { signal: stop.signal })) {
        if (event.type === 'put') events.push(`put ${event.pair.key}@${event.pair.lastIndex}`);
        else if (event.type === 'delete') events.push(`delete ${event.key}`);
      }
    })().catch(() => {});
    try {
      await writer.put('small', 'kept');
      await new Promise((resolve) => setTimeout(resolve, 50));
      cluster.pauseWatches();
      // H2 references a new value chunk C; H3 drops it again.
      await writer.put('big', 'x'.repeat(4096));
      const [c] = manifest(cluster, 'app');
      assert.ok(c?.value, 'H2 references a value chunk');
      await writer.delete('big');
      // C is collected (or deleted by hand), then the bucket is deleted.
      await cluster.api.configMaps(NS).delete(c.name, {});
      await cluster.api.configMaps(NS).delete('app', {});
      // The follower now hears H2 (its chunk is gone, the head too), H3, the deletion.
      cluster.resumeWatches();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const firstDelete = events.indexOf('delete small');
      assert.ok(firstDelete >= 0, `the follower saw the deletion: ${events.join(', ')}`);
      assert.deepEqual(events.slice(firstDelete + 1).filter((e) => e.startsWith('put small')), [], `the deleted bucket came back: ${events.join(', ')}`);
    } finally {
      stop.abort();
      await watching;
      await follower.close();
      await writer.close();
    }
  });
});
