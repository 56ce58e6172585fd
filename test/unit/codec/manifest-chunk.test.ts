/**
 * The manifest chunk's format (codec/chunk-format.ts, docs/format.md "The
 * manifest chunk"): what a format-3 head names, and what the chunk holds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkKind, manifestChunkObject, parseHeadChunks, parseManifest, serializeManifestRef, type ChunkRef } from '../../../src/codec/index.js';
import { FormatError } from '../../../src/index.js';

const refs: ChunkRef[] = [
  { name: 'app.ca', uid: 'ua', keys: 3, bytes: 300 },
  { name: 'app.cb', uid: 'ub', keys: 0, bytes: 1_000_000, value: true },
];
const owner = { bucket: 'app', uid: 'head-uid', label: 'app', revision: 41 };

describe('the manifest chunk of a format-3 head', () => {
  it('holds the list exactly as the head would, and the head reference totals it', () => {
    const chunk = manifestChunkObject(owner, 'app.cm', refs);
    assert.equal(chunkKind(chunk), 'manifest');
    assert.equal(chunk.immutable, true);
    assert.equal(chunk.metadata?.annotations?.['kubekv.dev/format'], '3');
    assert.deepEqual(chunk.metadata?.ownerReferences?.map((o) => o.uid), ['head-uid']);
    assert.deepEqual(parseManifest(chunk.data?.['chunks']), refs);
    const head = parseHeadChunks({ 'kubekv.dev/manifest': serializeManifestRef('app.cm', 'cm-uid', refs) });
    assert.deepEqual(head, { manifest: { name: 'app.cm', uid: 'cm-uid', chunks: 2, keys: 3, bytes: 1_000_300 } });
  });

  it('a head lists its chunks itself, or names a manifest chunk, never both; bad references are FormatErrors', () => {
    assert.deepEqual(parseHeadChunks({ 'kubekv.dev/chunks': JSON.stringify(refs) }), { refs });
    assert.deepEqual(parseHeadChunks({}), { refs: [] });
    const both = { 'kubekv.dev/chunks': '[]', 'kubekv.dev/manifest': serializeManifestRef('app.cm', 'u', []) };
    assert.throws(() => parseHeadChunks(both), FormatError);
    for (const bad of ['', '[]', 'null', '{"name":"","uid":"u","chunks":0,"keys":0,"bytes":0}', '{"name":"a","uid":"u","chunks":-1,"keys":0,"bytes":0}', '{"name":"a","chunks":0,"keys":0,"bytes":0}']) {
      assert.throws(() => parseHeadChunks({ 'kubekv.dev/manifest': bad }), FormatError, bad);
    }
  });

  it('a manifest chunk of another format, or an entries chunk of format 3, is refused', () => {
    const chunk = manifestChunkObject(owner, 'app.cm', refs);
    chunk.metadata!.annotations!['kubekv.dev/format'] = '2';
    assert.throws(() => chunkKind(chunk), FormatError);
    chunk.metadata!.annotations!['kubekv.dev/format'] = '3';
    chunk.metadata!.annotations!['kubekv.dev/chunk'] = 'entries';
    assert.throws(() => chunkKind(chunk), FormatError);
  });
});
