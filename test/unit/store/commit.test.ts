/** The commit planner: conditions, atomicity per write, size limits, the patch it builds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeKey, encodeValue, INDEX_ANNOTATION, REVISION_ANNOTATION } from '../../../src/codec/index.js';
import { BucketFullError, KeyExistsError, KeyModifiedError, KeyNotFoundError } from '../../../src/errors.js';
import { parseBucket } from '../../../src/store/bucket-state.js';
import { planCommit, type WriteOp } from '../../../src/store/commit.js';

const base = parseBucket({
  metadata: {
    name: 'b',
    resourceVersion: '100',
    annotations: { 'kubekv.dev/format': '1', [REVISION_ANNOTATION]: '7', [INDEX_ANNOTATION]: '{"a":3,"dir__x":7}' },
  },
  data: { a: 'A', dir__x: 'X', foreign: 'F' },
});
const ctx = { bucket: 'b', commitId: 'c1' };
// Compression off: the size tests need values that stay their size.
const put = (key: string, value: string, expect?: 'absent' | number): WriteOp => ({
  kind: 'put', key, cmKey: encodeKey(key), encoded: encodeValue(new TextEncoder().encode(value), { enabled: false }), expect,
});
const del = (key: string, expect?: number): WriteOp => ({ kind: 'delete', key, cmKey: encodeKey(key), expect });

describe('planCommit', () => {
  it('parses revisions: indexed keys carry theirs, foreign keys 0', () => {
    assert.equal(base.revision, 7);
    assert.equal(base.entries.get('a')?.lastIndex, 3);
    assert.equal(base.entries.get('dir/x')?.lastIndex, 7);
    assert.equal(base.entries.get('foreign')?.lastIndex, 0);
  });

  it('applies several writes in one patch on the base resourceVersion, one revision up', () => {
    const plan = planCommit(base, [[put('n', '1')], [del('a')], [put('dir/y', 'Y')]], ctx);
    assert.equal(plan.revision, 8);
    assert.ok(plan.outcomes.every((o) => o.ok));
    assert.equal(plan.patch?.metadata.resourceVersion, '100');
    assert.equal(plan.patch?.data?.n, '1');
    assert.equal(plan.patch?.data?.a, null);
    assert.equal(plan.patch?.data?.dir__y, 'Y');
    assert.equal(plan.patch?.data?.foreign, undefined, 'a key the commit does not touch must not be in the patch');
    assert.equal(plan.patch?.metadata.annotations?.[REVISION_ANNOTATION], '8');
    assert.deepEqual(JSON.parse(plan.patch.metadata.annotations[INDEX_ANNOTATION]!), { dir__x: 7, dir__y: 8, n: 8 });
  });

  it('fails only the write whose condition is false, and leaves no trace of it', () => {
    const plan = planCommit(base, [[put('n', '1'), put('a', 'A2', 'absent')], [put('m', '2')], [put('a', 'A3', 2)], [del('zz', 1)]], ctx);
    assert.ok(!plan.outcomes[0]!.ok && plan.outcomes[0]!.error instanceof KeyExistsError);
    assert.ok(plan.outcomes[1]!.ok);
    const modified = plan.outcomes[2]!;
    assert.ok(!modified.ok && modified.error instanceof KeyModifiedError && modified.error.expectedIndex === 2 && modified.error.actualIndex === 3);
    assert.ok(!plan.outcomes[3]!.ok && plan.outcomes[3]!.error instanceof KeyNotFoundError);
    assert.deepEqual(Object.keys(plan.patch!.data!).sort(), ['m']);
  });

  it('checks conditions against earlier writes of the same commit (they happen first)', () => {
    const plan = planCommit(base, [[put('a', 'new')], [put('a', 'stale-cas', 3)]], ctx);
    assert.ok(plan.outcomes[0]!.ok);
    assert.ok(!plan.outcomes[1]!.ok && plan.outcomes[1]!.error instanceof KeyModifiedError);
    assert.equal(plan.patch?.data?.a, 'new');
  });

  it('deleteTree removes every key under the prefix, foreign ones included, and counts them', () => {
    const plan = planCommit(base, [[{ kind: 'deleteTree', prefix: 'dir/' }], [{ kind: 'deleteTree', prefix: 'nothing/' }]], ctx);
    assert.deepEqual(plan.outcomes.map((o) => (o.ok ? o.result.counts : [])), [[1], [0]]);
    assert.equal(plan.patch?.data?.dir__x, null);
  });

  it('sends nothing when no write changes anything', () => {
    const plan = planCommit(base, [[del('missing')]], ctx);
    assert.equal(plan.patch, undefined);
    assert.ok(plan.outcomes[0]!.ok && plan.outcomes[0]!.result.counts[0] === 0);
  });

  it('refuses a write that would take the bucket over 1 MiB, but not the writes before it', () => {
    const big = 'x'.repeat(600 * 1024);
    const plan = planCommit(base, [[put('one', big)], [put('two', big)]], { ...ctx });
    assert.ok(plan.outcomes[0]!.ok);
    assert.ok(!plan.outcomes[1]!.ok && plan.outcomes[1]!.error instanceof BucketFullError);
    assert.deepEqual(Object.keys(plan.patch!.data!), ['one']);
  });

  it('records its commit id among the recent writes, keeping the last 16', () => {
    let state = base;
    for (let i = 0; i < 20; i++) {
      const plan = planCommit(state, [[put('k', String(i))]], { bucket: 'b', commitId: `id${i}` });
      state = parseBucket({ metadata: { resourceVersion: String(200 + i), annotations: plan.patch!.metadata.annotations as Record<string, string> }, data: { k: String(i) } });
    }
    assert.equal(state.recentWrites.length, 16);
    assert.equal(state.recentWrites.at(-1), 'id19');
    assert.ok(!state.recentWrites.includes('id3'));
  });
});
