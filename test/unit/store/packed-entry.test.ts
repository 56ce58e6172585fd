/**
 * Entries of chunks are held packed (store/packed-entry.ts): their values as
 * bytes in one buffer per chunk. What users rely on must not change with
 * it: every value reads back exactly, a corrupt value fails only its own
 * read, and what a read returns is the caller's own copy, never a view of
 * the cache.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigMapStore, FormatError } from '../../../src/index.js';
import { FakeCluster } from '../../../src/testing/index.js';
import type { ConfigMapObject } from '../../../src/kube/types.js';
import { parseChunk } from '../../../src/store/chunk-set.js';
import { sameEntry, toPair, type Entry } from '../../../src/store/bucket-state.js';
import { PackedEntry, isCanonicalBase64, sameStored } from '../../../src/store/packed-entry.js';

const header = (encoding: string, payload: Uint8Array) => Buffer.concat([Buffer.from([0, 0x4b, 0x56]), Buffer.from(encoding), payload]).toString('base64');
const raw = Uint8Array.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
const text = 'zoë 🙂 text';

function chunk(data: Record<string, string>, binaryData: Record<string, string>, index: Record<string, number> = {}): ConfigMapObject {
  return {
    metadata: {
      name: 'b.cabcdefghijkl',
      uid: 'u1',
      annotations: { 'kubekv.dev/format': '2', 'kubekv.dev/chunk': 'entries', 'kubekv.dev/index': JSON.stringify(index) },
    },
    data,
    binaryData,
    immutable: true,
  };
}

function entriesOf(object: ConfigMapObject): Map<string, Entry> {
  const parsed = parseChunk(object);
  assert.equal(parsed.kind, 'entries');
  return new Map(parsed.kind === 'entries' ? parsed.entries.map((e) => [e.key, e]) : []);
}

describe('packed chunk entries', () => {
  const data = { 'text__a': text, empty: '', ascii: 'plain' };
  const binaryData = { raw: header('r', raw), gz: header('z', gzipSync(Buffer.from('x'.repeat(5000)))), foreign: Buffer.from(raw).toString('base64'), nothing: '' };
  const index = { 'text__a': 7, raw: 9, gz: 3 };

  it('read back exactly: stored string, size, field, lastIndex, chunk and the value', () => {
    const entries = entriesOf(chunk(data, binaryData, index));
    assert.equal(entries.size, 7);
    for (const [cmKey, stored] of [...Object.entries(data), ...Object.entries(binaryData)]) {
      const key = cmKey === 'text__a' ? 'text/a' : cmKey;
      const entry = entries.get(key)!;
      assert.ok(entry instanceof PackedEntry, `${key} is packed`);
      assert.equal(entry.cmKey, cmKey);
      assert.equal(entry.stored, stored);
      assert.equal(entry.field, cmKey in data ? 'data' : 'binaryData');
      assert.equal(entry.size, cmKey in data ? Buffer.byteLength(stored) : Buffer.from(stored, 'base64').length);
      assert.equal(entry.lastIndex, index[cmKey as keyof typeof index] ?? 0);
      assert.equal(entry.chunk, 'b.cabcdefghijkl');
    }
    assert.equal(toPair(entries.get('text/a')!).text, text);
    assert.equal(toPair(entries.get('empty')!).text, '');
    assert.deepEqual(toPair(entries.get('raw')!).value, raw);
    assert.equal(toPair(entries.get('gz')!).text, 'x'.repeat(5000));
    assert.deepEqual(toPair(entries.get('foreign')!).value, raw);
    assert.deepEqual(toPair(entries.get('nothing')!).value, new Uint8Array());
  });

  it('a read returns a copy of its own: changing it changes neither the cache nor another read', () => {
    const entries = entriesOf(chunk(data, binaryData, index));
    for (const key of ['text/a', 'raw', 'foreign', 'ascii']) {
      const first = toPair(entries.get(key)!);
      const expected = first.value.slice();
      first.value.fill(42);
      assert.deepEqual(toPair(entries.get(key)!).value, expected, key);
      assert.notEqual(toPair(entries.get(key)!).value.buffer, toPair(entries.get(key)!).value.buffer);
    }
  });

  it('a value the bytes would not give back exactly stays a plain entry: its read fails with FormatError as before, the others read', () => {
    const corrupt = { bad: 'AR==', junk: 'AAA*AAAA', ok: header('r', raw) };
    const entries = entriesOf(chunk({ lone: 'a\ud800b' }, corrupt));
    assert.ok(!(entries.get('bad') instanceof PackedEntry));
    assert.ok(!(entries.get('junk') instanceof PackedEntry));
    assert.ok(!(entries.get('lone') instanceof PackedEntry));
    assert.equal(entries.get('bad')!.stored, 'AR==');
    assert.equal(entries.get('lone')!.stored, 'a\ud800b');
    assert.throws(() => toPair(entries.get('bad')!), FormatError);
    assert.throws(() => toPair(entries.get('junk')!), FormatError);
    assert.deepEqual(toPair(entries.get('ok')!).value, raw);
  });

  it('compare by stored value whether packed or plain', () => {
    const packed = entriesOf(chunk({}, { raw: header('r', raw), other: header('r', Uint8Array.from([1])) }, { raw: 4 }));
    const again = entriesOf(chunk({}, { raw: header('r', raw) }, { raw: 4 }));
    const plain: Entry = { key: 'raw', cmKey: 'raw', field: 'binaryData', stored: header('r', raw), size: raw.length + 4, lastIndex: 4 };
    assert.ok(sameStored(packed.get('raw')!, again.get('raw')!));
    assert.ok(sameStored(packed.get('raw')!, plain));
    assert.ok(sameEntry(packed.get('raw'), plain));
    assert.ok(!sameStored(packed.get('raw')!, packed.get('other')!));
    assert.ok(!sameEntry(packed.get('raw'), { ...plain, lastIndex: 5 }));
  });
});

describe('isCanonicalBase64', () => {
  /** What decodeValue tests: the bytes Node decodes encode back to the same string. */
  const canonical = (text: string) => Buffer.from(text, 'base64').toString('base64') === text;
  const check = (text: string) => assert.equal(isCanonicalBase64(text, Buffer.from(text, 'base64').length), canonical(text), JSON.stringify(text));

  it('agrees with re-encoding, for base64 and near-base64 strings', () => {
    const alphabet = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ .!\n'.split(''));
    fc.assert(fc.property(fc.string({ unit: alphabet, maxLength: 24 }), check), { numRuns: 3000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => check(Buffer.from(bytes).toString('base64'))), { numRuns: 500 });
    for (const text of ['', 'AA==', 'AB==', 'AAA=', 'AAB=', 'AAAA', 'A===', '====', 'AA=A', 'AA-_', 'AAAA\n', ' AAA', 'AAAAAA==AAAA']) check(text);
  });
});

describe('a follower of a chunked bucket', () => {
  it('reads every value exactly, and what it returns is not the cache: changing a returned value changes no later read', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'packed', namespace: 'p', api: cluster.api, create: true, compression: false, chunks: { compactBytes: 2048 } });
    try {
      const valueOf = (i: number) => (i % 2 === 0 ? `text ${i} ${'ü'.repeat(i % 7)}` : Uint8Array.from({ length: 40 + (i % 13) }, (_, j) => (i * 31 + j) & 0xff));
      for (let i = 0; i < 300; i += 50) await store.batch(Array.from({ length: 50 }, (_, j) => ({ op: 'put' as const, key: `k/${i + j}`, value: valueOf(i + j) })));
      const follower = await ConfigMapStore.open({ name: 'packed', namespace: 'p', api: cluster.api });
      try {
        const bytes = (v: string | Uint8Array) => (typeof v === 'string' ? new TextEncoder().encode(v) : v);
        const listed = await follower.list('k/');
        assert.equal(listed.length, 300);
        for (const pair of listed) assert.deepEqual(pair.value, bytes(valueOf(Number(pair.key.slice(2)))));
        for (const pair of listed) pair.value.fill(0);
        const got = await follower.get('k/1');
        got!.value.fill(0);
        for (const pair of await follower.list('k/')) assert.deepEqual(pair.value, bytes(valueOf(Number(pair.key.slice(2)))));
        const it = follower.watchTree('k/')[Symbol.asyncIterator]();
        const first = await it.next();
        assert.ok(!first.done && first.value.type === 'snapshot');
        assert.equal(first.value.pairs.length, 300);
        await it.return?.();
      } finally {
        await follower.close();
      }
    } finally {
      await store.close();
    }
  });

  it('reads a large value whose reference to value chunks was compacted into an entries chunk', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'refs', namespace: 'p', api: cluster.api, create: true, compression: false, chunks: { compactBytes: 2048 } });
    try {
      const large = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);
      await store.put('large', large);
      for (let i = 0; i < 40; i++) await store.put(`small/${i}`, 'v'.repeat(100));
      const head = cluster.object('configmaps', 'p', 'refs') as { binaryData?: Record<string, string> };
      assert.equal(head.binaryData?.large, undefined, 'the reference left the head for a chunk');
      const follower = await ConfigMapStore.open({ name: 'refs', namespace: 'p', api: cluster.api });
      try {
        const got = await follower.get('large');
        assert.ok(got);
        assert.deepEqual(got.value, large);
        got.value.fill(0);
        assert.deepEqual((await follower.get('large'))?.value, large);
      } finally {
        await follower.close();
      }
    } finally {
      await store.close();
    }
  });
});
