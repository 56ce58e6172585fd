/**
 * Secret-backed buckets (`kind: 'Secret'`) end to end on kubekv/testing's
 * FakeCluster: the real ConfigMapStore keeps head and chunks in Secrets,
 * never in a ConfigMap; every value round-trips byte for byte and text reads
 * back as text; the chunked layout (compaction, a value over 1 MiB in value
 * chunks, teardown) works the same. The real control plane runs the store
 * conformance suite on a Secret bucket (test/integration/store/conformance*).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { bucketForm } from '../../../src/codec/bucket-kind.js';
import { encodeValue } from '../../../src/codec/value.js';
import { ConfigMapStore, FencedError, InvalidOptionError, OutcomeUnknownError, StateManager } from '../../../src/index.js';
import { storeInternals } from '../../../src/store/configmap-store.js';
import { FakeCluster } from '../../../src/testing/index.js';

const NS = 'secrets';

interface Stored { type?: string; data?: Record<string, string>; immutable?: boolean; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] } }

async function listed(cluster: FakeCluster): Promise<{ configMaps: Stored[]; secrets: Stored[] }> {
  // The raw port, not the bucket form: what the cluster really holds.
  const configMaps = (await cluster.api.configMaps(NS).list()).items as Stored[];
  const secrets = (await cluster.api.secrets(NS).list()).items as Stored[];
  return { configMaps, secrets };
}

const VALUES: Record<string, Uint8Array | string> = {
  'text': 'hello, wörld',
  'empty': '',
  'bom': '\uFEFFwith a byte-order mark',
  'looks-like-header': '\0KVr not a header',
  'binary': new Uint8Array([0xff, 0x00, 0xfe, 0x80]),
  'header-bytes': new Uint8Array([0x00, 0x4b, 0x56, 0x7a, 0x01]),
  'compressible': 'x'.repeat(5000),
  '__proto__': 'a key that is a JavaScript property name',
};

describe('Secret-backed buckets, on a FakeCluster', () => {
  it('keeps the bucket in a Secret of type kubekv.dev/bucket, no ConfigMap; every value round-trips exactly, text as text, for the writer and a follower', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'vault', namespace: NS, api: cluster.api, create: true, kind: 'Secret' });
    const follower = await ConfigMapStore.open({ name: 'vault', namespace: NS, api: cluster.api, kind: 'Secret' });
    try {
      assert.equal(store.kind, 'Secret');
      for (const [key, value] of Object.entries(VALUES)) await store.put(key, value);
      const { configMaps, secrets } = await listed(cluster);
      assert.deepEqual(configMaps, [], 'no ConfigMap at all');
      assert.equal(secrets.length, 1);
      const secret = secrets[0]!;
      assert.equal(secret.type, 'kubekv.dev/bucket');
      assert.equal(secret.metadata.labels?.['kubekv.dev/bucket'], 'vault');
      assert.equal(secret.metadata.annotations?.['kubekv.dev/format'], '1');
      assert.equal(Buffer.from(secret.data!['text']!, 'base64').toString('utf8'), 'hello, wörld');
      for (const reader of [store, follower]) {
        for (const [key, value] of Object.entries(VALUES)) {
          const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
          await waitFor(async () => (await reader.get(key))?.value.length === bytes.length, `${key} at the reader`);
          const pair = (await reader.get(key, { consistent: reader === follower }))!;
          assert.deepEqual([...pair.value], [...bytes], key);
          if (typeof value === 'string') assert.equal(pair.text, value, key);
        }
      }
      // A value moved from text to bytes and back: one field in a Secret.
      await store.put('text', new Uint8Array([0xc3]));
      await store.put('text', 'text again');
      assert.equal((await store.get('text', { consistent: true }))?.text, 'text again');
      assert.equal(await store.delete('binary'), true);
      assert.equal(await store.get('binary', { consistent: true }), undefined);
    } finally {
      await follower.close();
      await store.close();
    }
  });

  it('a ConfigMap bucket and a Secret bucket of one name are two buckets; the wrong kind is not found', async () => {
    const cluster = new FakeCluster();
    const secret = await ConfigMapStore.open({ name: 'same', namespace: NS, api: cluster.api, create: true, kind: 'Secret' });
    try {
      await secret.put('k', 'in the secret');
      await assert.rejects(ConfigMapStore.open({ name: 'same', namespace: NS, api: cluster.api }), { code: 'BUCKET_NOT_FOUND' });
      const configMap = await ConfigMapStore.open({ name: 'same', namespace: NS, api: cluster.api, create: true, kind: 'ConfigMap' });
      try {
        assert.equal(await configMap.get('k'), undefined);
      } finally {
        await configMap.close();
      }
    } finally {
      await secret.close();
    }
  });

  it('chunks of a Secret bucket are Secrets owned by the head: compaction, a 2.5 MiB value in value chunks, a follower, teardown', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'big', namespace: NS, api: cluster.api, create: true, kind: 'Secret', chunks: { compactBytes: 2048 }, etcdBudget: false });
    try {
      for (let i = 0; i < 10; i++) {
        await store.batch(Array.from({ length: 40 }, (_, j) => ({ op: 'put' as const, key: `k/${i * 40 + j}`, value: `value ${i * 40 + j}` })));
      }
      const large = randomBytes(2.5 * 1024 * 1024);
      await store.put('large', large);
      const largeText = 'é'.repeat(600_000); // 1.2 MB of UTF-8 text in value chunks
      await store.put('large-text', largeText);
      const { configMaps, secrets } = await listed(cluster);
      assert.deepEqual(configMaps, []);
      const chunks = secrets.filter((s) => s.metadata.labels?.['kubekv.dev/chunk-of'] === 'big');
      assert.ok(chunks.length >= 4, `entries and value chunks (${chunks.length})`);
      for (const chunk of chunks) {
        assert.equal(chunk.type, 'kubekv.dev/bucket');
        assert.equal(chunk.immutable, true);
        assert.deepEqual(chunk.metadata.ownerReferences?.map((o) => [o.kind, o.name]), [['Secret', 'big']]);
      }
      const follower = await ConfigMapStore.open({ name: 'big', namespace: NS, api: cluster.api, kind: 'Secret' });
      try {
        for (const reader of [store, follower]) {
          assert.deepEqual(Buffer.from((await reader.get('large', { consistent: true }))!.value), large);
          assert.equal((await reader.get('large-text'))?.text, largeText);
          assert.equal((await reader.get('k/123'))?.text, 'value 123');
          assert.equal((await reader.list('k/')).length, 400);
        }
      } finally {
        await follower.close();
      }
      await store.teardown();
      assert.deepEqual((await listed(cluster)).secrets, [], 'teardown removes head and chunks');
    } finally {
      await store.close();
    }
  });

  it('a lost answer (landed or not) still settles a write exactly once; an unreachable server ends it in OutcomeUnknownError', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'lost', namespace: NS, api: cluster.api, create: true, kind: 'Secret' });
    try {
      cluster.loseNextAnswer({ match: { verb: 'patch', resource: 'secrets' } });
      const landed = await store.put('a', 'landed');
      cluster.loseNextAnswer({ landed: false, match: { verb: 'patch', resource: 'secrets' } });
      const retried = await store.put('b', 'retried');
      assert.equal(retried.lastIndex, landed.lastIndex + 1, 'each write committed once');
      const peer = await ConfigMapStore.open({ name: 'lost', namespace: NS, api: cluster.api, kind: 'Secret' });
      try {
        assert.equal((await peer.get('a'))?.text, 'landed');
        assert.equal((await peer.get('b'))?.text, 'retried');
      } finally {
        await peer.close();
      }
      for (let i = 0; i < 50; i++) cluster.refuseNext(503, { match: { resource: 'secrets' } });
      cluster.loseNextAnswer({ match: { verb: 'patch', resource: 'secrets' } });
      await assert.rejects(store.put('c', 'unknown', { timeoutMs: 300 }), OutcomeUnknownError);
    } finally {
      await store.close();
    }
  });

  it('a StateManager with kind: \'Secret\' keeps its bucket in a Secret, raises the epoch there and fences a deposed leader', async () => {
    const cluster = new FakeCluster();
    const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 500, events: false };
    const a = await StateManager.start({ name: 'app', namespace: NS, identity: 'a', api: cluster.api, kind: 'Secret', ...timing });
    try {
      await waitFor(() => Promise.resolve(a.isLeader), 'a to lead');
      await a.store.put('owner', 'a');
      const head = cluster.object('secrets', NS, 'app-state') as { type?: string; metadata: { annotations: Record<string, string> } } | undefined;
      assert.equal(head?.type, 'kubekv.dev/bucket');
      assert.equal(head?.metadata.annotations['kubekv.dev/epoch'], String(a.epoch));
      assert.equal(cluster.object('configmaps', NS, 'app-state'), undefined);
      // Another leader raises the epoch on the Secret: a's next write is fenced.
      const b = await ConfigMapStore.open({ name: 'app-state', namespace: NS, api: cluster.api, kind: 'Secret' });
      try {
        await b[storeInternals].raiseEpoch(a.epoch! + 1, 'b', AbortSignal.timeout(5000));
      } finally {
        await b.close();
      }
      await assert.rejects(a.store.put('owner', 'still a?'), FencedError);
    } finally {
      await a.close();
    }
  });

  it('refuses a kind it does not know, naming the option', async () => {
    const cluster = new FakeCluster();
    await assert.rejects(ConfigMapStore.open({ name: 'x', namespace: NS, api: cluster.api, kind: 'secret' as never }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'kind');
  });
});

describe('the Secret form (codec/bucket-kind.ts)', () => {
  const form = bucketForm('Secret');

  it('reads a value by its bytes: the kubekv header means binaryData, UTF-8 means data, anything else binaryData', () => {
    const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');
    const object = form.toBucket({ metadata: { name: 's' }, type: 'Opaque', data: { t: b64('text'), h: b64(new Uint8Array([0, 0x4b, 0x56, 0x72, 1])), b: b64(new Uint8Array([0xff])) } });
    assert.deepEqual(object.data, { t: 'text' });
    assert.deepEqual(object.binaryData, { h: b64(new Uint8Array([0, 0x4b, 0x56, 0x72, 1])), b: b64(new Uint8Array([0xff])) });
    assert.equal((object as Record<string, unknown>)['type'], undefined);
  });

  it('maps a merge patch to one data map: a key set in one field wins over its removal in the other; untouched fields stay out', () => {
    const patch = { metadata: { resourceVersion: '7' }, data: { moved: 'now text', gone: null }, binaryData: { moved: null, bin: 'AAE=' } };
    assert.deepEqual(form.patchFromBucket(patch), { metadata: { resourceVersion: '7' }, data: { moved: Buffer.from('now text').toString('base64'), gone: null, bin: 'AAE=' } });
    assert.deepEqual(form.patchFromBucket({ metadata: { resourceVersion: '7', annotations: { a: 'b' } } }), { metadata: { resourceVersion: '7', annotations: { a: 'b' } } });
    const back = { metadata: { resourceVersion: '7' }, data: { k: null }, binaryData: { k: 'AAE=' } };
    assert.deepEqual(form.patchFromBucket(back), { metadata: { resourceVersion: '7' }, data: { k: 'AAE=' } });
  });

  it('encodeValue never puts text that starts with the header in data (so a Secret can tell the fields apart)', () => {
    assert.equal(encodeValue(new TextEncoder().encode('\0KVr')).field, 'binaryData');
    assert.equal(encodeValue(new TextEncoder().encode('\0KV')).field, 'binaryData');
    assert.equal(encodeValue(new TextEncoder().encode('\0K')).field, 'data');
  });
});

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
