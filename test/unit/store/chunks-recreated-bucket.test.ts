/**
 * A write whose large value went into value chunks before its commit, when
 * the bucket is deleted and created again before that commit lands (issue
 * 19, found by the robustness harness's reasoning about delete-bucket with
 * chunks). The write is submitted before the deletion, so landing on the
 * new bucket is allowed (the pipeline re-plans a conflicted commit on the
 * state it reads); what it lands must be readable by everyone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigMapStore } from '../../../src/index.js';
import { FakeCluster } from '../../../src/testing/index.js';

const NS = 'recreated';

type Head = { metadata: { uid: string; annotations: Record<string, string> } };
type Chunk = { metadata: { name: string; ownerReferences?: { kind: string; name: string; uid: string }[] } };

function manifest(cluster: FakeCluster, name: string): { name: string; uid: string; value?: true }[] {
  const head = cluster.object('configmaps', NS, name) as Head | undefined;
  return JSON.parse(head?.metadata.annotations['kubekv.dev/chunks'] ?? '[]') as never;
}

/** Opens a writer, submits a put of a value that goes to a value chunk, and holds its head CAS while `meanwhile` runs. */
async function putAcrossRecreation(cluster: FakeCluster, bucket: string, meanwhile: () => Promise<void>): Promise<void> {
  const writer = await ConfigMapStore.open({ name: bucket, namespace: NS, api: cluster.api, create: true, compression: false, chunks: { largeValueBytes: 1024 } });
  try {
    // The bucket already has a chunk (so a teardown looks for chunks).
    await writer.put('first', 'f'.repeat(4096));
    cluster.delayNext(300, { match: { verb: 'patch', resource: 'configmaps', name: bucket } });
    const put = writer.put('big', 'x'.repeat(4096));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await meanwhile();
    await put;
  } finally {
    await writer.close();
  }
}

describe('value chunks of a write that lands on a recreated bucket', () => {
  it('are owned by the head that references them (a cluster garbage collector deletes chunks whose owner uid is gone)', async () => {
    const cluster = new FakeCluster();
    await putAcrossRecreation(cluster, 'owner', async () => {
      await cluster.api.configMaps(NS).delete('owner', {});
      await (await ConfigMapStore.open({ name: 'owner', namespace: NS, api: cluster.api, create: true })).close();
    });
    const head = cluster.object('configmaps', NS, 'owner') as Head;
    const refs = manifest(cluster, 'owner');
    assert.equal(refs.length, 1, 'the put landed on the new bucket with its value chunk');
    const chunk = cluster.object('configmaps', NS, refs[0]!.name) as Chunk;
    const owners = (chunk.metadata.ownerReferences ?? []).map((o) => o.uid);
    assert.deepEqual(owners, [head.metadata.uid], `chunk owned by ${owners.join(',')}, the head that references it is ${head.metadata.uid}`);
  });

  it('are still there after the old bucket\'s teardown: a follower can read the new bucket', async () => {
    const cluster = new FakeCluster();
    await putAcrossRecreation(cluster, 'torn', async () => {
      const other = await ConfigMapStore.open({ name: 'torn', namespace: NS, api: cluster.api });
      await other.teardown();
      await (await ConfigMapStore.open({ name: 'torn', namespace: NS, api: cluster.api, create: true })).close();
    });
    assert.equal(manifest(cluster, 'torn').length, 1, 'the put landed on the new bucket with its value chunk');
    const follower = await ConfigMapStore.open({ name: 'torn', namespace: NS, api: cluster.api });
    try {
      assert.equal((await follower.get('big'))?.text.length, 4096);
    } finally {
      await follower.close();
    }
  });
});

describe('teardown of a bucket that is created again meanwhile', () => {
  it('deletes the old bucket\'s chunks, never the new one\'s', async () => {
    const cluster = new FakeCluster();
    // The old store's list of chunks waits for a gate: the bucket is created
    // again and gets a chunk before that list is answered.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let listing!: () => void;
    const listed = new Promise<void>((resolve) => (listing = resolve));
    let armed = false;
    const gated = <T extends object>(target: T, wrap: (name: string | symbol, value: unknown) => unknown): T =>
      new Proxy(target, { get: (t, name) => {
        const value: unknown = Reflect.get(t, name, t);
        return wrap(name, typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value);
      } });
    const api = gated(cluster.api, (name, value) => {
      if (name !== 'configMaps') return value;
      return (namespace: string) => {
        const client = cluster.api.configMaps(namespace);
        return gated(client, (method, fn) => method !== 'list' ? fn : async (options: Parameters<typeof client.list>[0]) => {
          if (armed && options?.labelSelector?.includes('kubekv.dev/chunk-of')) {
            listing();
            await gate;
          }
          return client.list(options);
        });
      };
    });
    const old = await ConfigMapStore.open({ name: 'again', namespace: NS, api, create: true, compression: false, chunks: { largeValueBytes: 1024 } });
    await old.put('old', 'o'.repeat(4096));
    // Its garbage collection after that commit lists chunks too: let it finish first.
    await new Promise((resolve) => setTimeout(resolve, 200));
    armed = true;
    const tearing = old.teardown();
    await listed;
    const fresh = await ConfigMapStore.open({ name: 'again', namespace: NS, api: cluster.api, create: true, compression: false, chunks: { largeValueBytes: 1024 } });
    try {
      await fresh.put('new', 'n'.repeat(4096));
      open();
      await tearing;
      assert.equal(manifest(cluster, 'again').length, 1);
      const follower = await ConfigMapStore.open({ name: 'again', namespace: NS, api: cluster.api });
      try {
        assert.equal((await follower.get('new'))?.text.length, 4096);
        assert.equal(await follower.get('old'), undefined);
      } finally {
        await follower.close();
      }
    } finally {
      await fresh.close();
    }
  });
});
