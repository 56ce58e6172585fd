/**
 * `kubekv buckets` reads heads only (a listing fetches no chunks): a
 * chunked bucket's keys and bytes come from what its head says of its
 * chunks, in its own list (format 2) or in its reference to the manifest
 * chunk that holds the list (format 3).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarize } from '../../../src/cli/commands/buckets.js';

function head(annotations: Record<string, string>, data: Record<string, string> = { a: 'xy' }) {
  return {
    metadata: { name: 'app', namespace: 'ns', annotations: { 'kubekv.dev/revision': '7', 'kubekv.dev/index': '{"a":7}', ...annotations } },
    data,
  };
}

describe('kubekv buckets: a chunked bucket summarised from its head alone', () => {
  it('format 2: adds what the listed chunks hold to the inline keys and bytes', () => {
    const chunks = [{ name: 'app.c1', uid: 'u1', keys: 10, bytes: 1000 }, { name: 'app.c2', uid: 'u2', keys: 5, bytes: 500 }];
    const summary = summarize(head({ 'kubekv.dev/format': '2', 'kubekv.dev/chunks': JSON.stringify(chunks) }), 'ConfigMap');
    assert.equal(summary.error, undefined);
    assert.equal(summary.keys, 1 + 15);
    assert.equal(summary.bytes, 2 + 1500);
  });

  it('format 3: takes the totals of the manifest chunk reference, without fetching it', () => {
    const ref = { name: 'app.cm', uid: 'um', chunks: 300, keys: 100_000, bytes: 70_000_000 };
    const summary = summarize(head({ 'kubekv.dev/format': '3', 'kubekv.dev/manifest': JSON.stringify(ref) }), 'ConfigMap');
    assert.equal(summary.error, undefined);
    assert.equal(summary.keys, 1 + 100_000);
    assert.equal(summary.bytes, 2 + 70_000_000);
  });

  it('a head naming a manifest chunk without format 3, or with both lists, is a format error, not a bucket without chunks', () => {
    const ref = JSON.stringify({ name: 'app.cm', uid: 'um', chunks: 3, keys: 3, bytes: 3 });
    assert.match(summarize(head({ 'kubekv.dev/format': '2', 'kubekv.dev/manifest': ref }), 'ConfigMap').error ?? '', /^FORMAT_ERROR: .*format 2, not 3/);
    assert.match(summarize(head({ 'kubekv.dev/format': '3', 'kubekv.dev/manifest': ref, 'kubekv.dev/chunks': '[]' }), 'ConfigMap').error ?? '', /^FORMAT_ERROR: .*both/);
    assert.match(summarize(head({ 'kubekv.dev/format': '3', 'kubekv.dev/manifest': '{"name":"x"}' }), 'ConfigMap').error ?? '', /^FORMAT_ERROR: .*manifest/);
  });
});
