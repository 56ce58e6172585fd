/**
 * A head whose chunk list is long keeps it in a manifest chunk (format 3),
 * so what every commit rewrites does not grow with the bucket (issue 19:
 * 64 writers on a 64 MiB bucket paid for a head of 22 KB, half of it the
 * list). On kubekv/testing's FakeCluster, the real ConfigMapStore; the same
 * on the real control plane is in test/integration/store/chunks.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseManifest } from '../../../src/codec/index.js';
import { ChunkMissingError, ConfigMapStore, FormatError, type KVPair } from '../../../src/index.js';
import { FakeCluster } from '../../../src/testing/index.js';

const NS = 'manifest';
const BUCKET = 'app';

type Obj = { metadata: { name: string; uid: string; annotations?: Record<string, string>; labels?: Record<string, string> }; data?: Record<string, string>; immutable?: boolean };

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function annotations(cluster: FakeCluster): Record<string, string> {
  return (cluster.object('configmaps', NS, BUCKET) as Obj | undefined)?.metadata.annotations ?? {};
}

/** The head's manifest chunk reference, or undefined when the head lists its chunks itself. */
function manifestRef(cluster: FakeCluster): { name: string; uid: string; chunks: number; keys: number; bytes: number } | undefined {
  const raw = annotations(cluster)['kubekv.dev/manifest'];
  return raw === undefined ? undefined : (JSON.parse(raw) as never);
}

/** Every chunk the head references, through its manifest chunk when it has one. */
function referenced(cluster: FakeCluster): { name: string; uid: string }[] {
  const ref = manifestRef(cluster);
  if (!ref) return JSON.parse(annotations(cluster)['kubekv.dev/chunks'] ?? '[]') as never;
  const chunk = cluster.object('configmaps', NS, ref.name) as Obj | undefined;
  assert.ok(chunk, `the manifest chunk ${ref.name} exists`);
  return [ref, ...(JSON.parse(chunk.data!['chunks']!) as { name: string; uid: string }[])];
}

/** Value chunks among them (one per value over 1 KiB here). */
function valueChunks(cluster: FakeCluster): number {
  return referenced(cluster).filter((ref) => (ref as { value?: true }).value).length;
}

/** Puts ten values of 1,500 random bytes (a value chunk each: more than a head lists) and waits for the list to move into a manifest chunk. */
async function fillPastManifest(store: ConfigMapStore, cluster: FakeCluster): Promise<void> {
  for (let i = 0; i < 10; i++) await store.put(`big/${i}`, randomBytes(1500).toString('hex'));
  await until(() => manifestRef(cluster) !== undefined, 'a manifest chunk');
}

/** Runs `check` on a store opened afresh on the bucket (it reads the head and every chunk), then closes it. */
async function withReader(cluster: FakeCluster, check: (reader: ConfigMapStore) => Promise<void>): Promise<void> {
  const reader = await ConfigMapStore.open({ name: BUCKET, namespace: NS, api: cluster.api });
  try {
    await check(reader);
  } finally {
    await reader.close();
  }
}

const asObject = (pairs: KVPair[]) => Object.fromEntries(pairs.map((p) => [p.key, [p.text, p.lastIndex]]));

/** A store that keeps values over 1 KiB in value chunks, so each such put adds a chunk to the list. */
function open(cluster: FakeCluster, create = false): Promise<ConfigMapStore> {
  return ConfigMapStore.open({ name: BUCKET, namespace: NS, api: cluster.api, create, compression: false, chunks: { largeValueBytes: 1024, compactBytes: 2048, gcGraceMs: 0 } });
}

describe('a manifest chunk holds a long chunk list (format 3)', () => {
  it('moves a list of more than 8 chunks out of the head; another store reads every key; a large put brings the list back until the next compaction', async () => {
    const cluster = new FakeCluster();
    const store = await open(cluster, true);
    try {
      for (let i = 0; i < 6; i++) await store.put(`big/${i}`, randomBytes(1500).toString('hex'));
      assert.equal(manifestRef(cluster), undefined, 'six value chunks stay listed in the head');
      assert.equal(annotations(cluster)['kubekv.dev/format'], '2');
      for (let i = 6; i < 12; i++) await store.put(`big/${i}`, randomBytes(1500).toString('hex'));
      await until(() => manifestRef(cluster) !== undefined, 'the list to move into a manifest chunk');
      const head = annotations(cluster);
      assert.equal(head['kubekv.dev/format'], '3');
      assert.equal(head['kubekv.dev/chunks'], '"kubekv.dev/manifest"', 'the head no longer lists its chunks');
      const ref = manifestRef(cluster)!;
      assert.equal(valueChunks(cluster), 12);
      assert.equal(ref.chunks, referenced(cluster).length - 1, 'the reference counts the chunks its manifest chunk lists');
      const chunk = cluster.object('configmaps', NS, ref.name) as Obj;
      assert.equal(chunk.immutable, true);
      assert.equal(chunk.metadata.uid, ref.uid);
      assert.equal(chunk.metadata.annotations?.['kubekv.dev/chunk'], 'manifest');
      assert.equal(chunk.metadata.labels?.['kubekv.dev/chunk-of'], BUCKET);
      assert.ok(head['kubekv.dev/manifest']!.length < 200, `the head's reference is small (${head['kubekv.dev/manifest']!.length} bytes)`);

      const follower = await ConfigMapStore.open({ name: BUCKET, namespace: NS, api: cluster.api });
      try {
        const all = await store.list('', { consistent: true });
        assert.equal(all.length, 12);
        assert.deepEqual(asObject(await follower.list('')), asObject(all));
        // A large put: the list comes back into the head (format 2), then a
        // compaction moves it out again; the follower follows both.
        await store.put('big/12', randomBytes(1500).toString('hex'));
        await until(() => manifestRef(cluster) !== undefined && valueChunks(cluster) === 13, 'the next manifest chunk listing 13 value chunks');
        assert.notEqual(manifestRef(cluster)!.name, ref.name, 'a manifest chunk is never changed: a new one replaces it');
        await until(async () => (await follower.get('big/12')) !== undefined, 'the follower to see big/12');
        assert.deepEqual(asObject(await follower.list('')), asObject(await store.list('')));
        // Overwriting a large value drops its value chunk from the list.
        await store.put('big/0', 'small now');
        await until(() => manifestRef(cluster) !== undefined && valueChunks(cluster) === 12, 'a manifest chunk without big/0\'s old value chunk');
        await until(async () => (await follower.get('big/0'))?.text === 'small now', 'the follower to see big/0 overwritten');
        assert.equal(follower.status().synced, true);
      } finally {
        await follower.close();
      }
    } finally {
      await store.close();
    }
  });

  it('a deleted manifest chunk is reported (ChunkMissingError), never read as a bucket without chunks; the writer heals it at its next compaction', async () => {
    const cluster = new FakeCluster();
    const store = await open(cluster, true);
    try {
      await fillPastManifest(store, cluster);
      const ref = manifestRef(cluster)!;
      await cluster.api.configMaps(NS).delete(ref.name, {});
      await assert.rejects(ConfigMapStore.open({ name: BUCKET, namespace: NS, api: cluster.api }), (err: unknown) => {
        assert.ok(err instanceof ChunkMissingError, String(err));
        assert.equal(err.code, 'CHUNK_MISSING');
        assert.match(err.message, new RegExp(ref.name.replace(/\./g, '\\.')));
        return true;
      });
      // The writer holds the list: its next compaction writes a new manifest chunk.
      for (let i = 0; i < 20; i++) await store.put(`small/${i}`, 'y'.repeat(200));
      await until(() => manifestRef(cluster) !== undefined && manifestRef(cluster)!.name !== ref.name, 'a new manifest chunk');
      await withReader(cluster, async (reader) => {
        assert.equal((await reader.list('big/')).length, 10);
        assert.equal((await reader.list('small/')).length, 20);
      });
    } finally {
      await store.close();
    }
  });

  it('garbage collection deletes manifest chunks no head names, never the current one or a chunk it lists', async () => {
    const cluster = new FakeCluster();
    const store = await open(cluster, true);
    const manifests = new Set<string>();
    try {
      for (let i = 0; i < 10; i++) await store.put(`big/${i}`, randomBytes(1500).toString('hex'));
      // Each large overwrite makes a new list, so a new manifest chunk at the next compaction.
      for (let round = 0; round < 30; round++) {
        await store.put(`big/${round % 10}`, randomBytes(1500).toString('hex'));
        await until(() => manifestRef(cluster) !== undefined, 'a manifest chunk');
        manifests.add(manifestRef(cluster)!.name);
        for (const chunk of referenced(cluster)) assert.ok(cluster.object('configmaps', NS, chunk.name), `referenced chunk ${chunk.name} exists`);
      }
      assert.ok(manifests.size > 20, `a new manifest chunk per list (${manifests.size})`);
      const left = [...manifests].filter((name) => cluster.object('configmaps', NS, name) !== undefined);
      // Those of the last CHUNK_REUSE_REVISIONS (16) revisions may stay.
      assert.ok(left.length < manifests.size / 2, `old manifest chunks are collected (${left.length} of ${manifests.size} left)`);
      await withReader(cluster, async (reader) => {
        assert.deepEqual(asObject(await reader.list('')), asObject(await store.list('')));
      });
    } finally {
      await store.close();
    }
  });

  it('a format-3 head is refused by the collector of a kubekv that reads format 2 only, which would otherwise delete every chunk', async () => {
    // A format-2 kubekv's garbage collection (chunk-gc.ts before format 3)
    // takes the chunks the head references from kubekv.dev/chunks alone:
    // an absent annotation is an empty list, every chunk unreferenced. In a
    // rolling upgrade such a replica collects after each of its writes
    // (refused: format 3), so the annotation must make its parse fail.
    const cluster = new FakeCluster();
    const store = await open(cluster, true);
    try {
      await fillPastManifest(store, cluster);
      assert.throws(() => parseManifest(annotations(cluster)['kubekv.dev/chunks']), FormatError);
      // A commit that changes no chunk keeps it so.
      await store.put('small', 'x');
      assert.equal(annotations(cluster)['kubekv.dev/format'], '3');
      assert.throws(() => parseManifest(annotations(cluster)['kubekv.dev/chunks']), FormatError);
      await withReader(cluster, async (reader) => {
        assert.equal((await reader.list('big/')).length, 10);
      });
    } finally {
      await store.close();
    }
  });

  it('a follower that meets a head naming another kind of chunk as its manifest chunk reports it (FormatError), not synced on the state before', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: BUCKET, namespace: NS, api: cluster.api, create: true, compression: false, chunks: { largeValueBytes: 1024, compactBytes: 2048 } });
    try {
      await fillPastManifest(store, cluster);
      const before = referenced(cluster);
      const follower = await ConfigMapStore.open({ name: BUCKET, namespace: NS, api: cluster.api });
      try {
        // big/0's value chunk leaves the list (an orphan nobody holds, until collected).
        await store.put('big/0', 'small now');
        await until(() => manifestRef(cluster) !== undefined && valueChunks(cluster) === 9, 'a manifest chunk without big/0\'s old value chunk');
        await until(async () => (await follower.get('big/0'))?.text === 'small now', 'the follower to see big/0 overwritten');
        const orphan = before.find((ref) => (ref as { value?: true }).value && !referenced(cluster).some((r) => r.name === ref.name))!;
        assert.ok(cluster.object('configmaps', NS, orphan.name), 'the orphan is still there');
        // A hand edit names it as the manifest chunk.
        const head = cluster.object('configmaps', NS, BUCKET) as Obj & { metadata: { resourceVersion: string } };
        const bad = JSON.stringify({ ...manifestRef(cluster)!, name: orphan.name, uid: orphan.uid });
        const result = await cluster.api.configMaps(NS).patch(BUCKET, { metadata: { resourceVersion: head.metadata.resourceVersion, annotations: { 'kubekv.dev/manifest': bad } } });
        assert.ok(result.ok);
        await until(() => follower.status().synced === false, 'the follower to report the head it cannot read');
        assert.ok(follower.status().lastError instanceof FormatError, String(follower.status().lastError));
        assert.equal((await follower.get('big/1'))?.text?.length, 3000, 'it keeps its last good state');
      } finally {
        await follower.close();
      }
    } finally {
      await store.close();
    }
  });

  it('a Secret bucket keeps its list in a manifest Secret the same way', async () => {
    const cluster = new FakeCluster();
    const options = { name: BUCKET, namespace: NS, api: cluster.api, kind: 'Secret' as const, compression: false as const, chunks: { largeValueBytes: 1024, compactBytes: 2048 } };
    const store = await ConfigMapStore.open({ ...options, create: true });
    try {
      for (let i = 0; i < 10; i++) await store.put(`big/${i}`, randomBytes(1500).toString('hex'));
      const secret = () => (cluster.object('secrets', NS, BUCKET) as Obj | undefined)?.metadata.annotations ?? {};
      await until(() => secret()['kubekv.dev/manifest'] !== undefined, 'the list to move into a manifest Secret');
      assert.equal(secret()['kubekv.dev/format'], '3');
      const name = (JSON.parse(secret()['kubekv.dev/manifest']!) as { name: string }).name;
      assert.ok(cluster.object('secrets', NS, name), 'the manifest chunk is a Secret');
      const reader = await ConfigMapStore.open(options);
      try {
        assert.deepEqual(asObject(await reader.list('')), asObject(await store.list('')));
      } finally {
        await reader.close();
      }
    } finally {
      await store.close();
    }
  });
});
