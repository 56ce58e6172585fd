/** The commit planner: conditions, atomicity per write, size limits, the patch it builds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { commitStatus, encodeKey, encodeValue, INDEX_ANNOTATION, MAX_WRITERS, REVISION_ANNOTATION } from '../../../src/codec/index.js';
import { BucketFullError, FencedError, KeyExistsError, KeyModifiedError, KeyNotFoundError } from '../../../src/errors.js';
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
const ctx = { bucket: 'b', writer: { id: 'w1', seq: 1 } };
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

  it('names as expired only the keys the commit leaves deleted by an expiry: one written again by a later write of the commit is not', () => {
    const expire: WriteOp = { kind: 'delete', key: 'a', cmKey: 'a', expect: 3, expired: true };
    const again = planCommit(base, [[expire], [put('a', 'again')], [del('a')]], ctx);
    assert.ok(again.outcomes.every((o) => o.ok));
    assert.equal(again.patch?.data?.a, null);
    assert.equal(again.patch?.metadata.annotations?.['kubekv.dev/expired'], undefined, 'the last delete of a was an explicit one');
    const rewritten = planCommit(base, [[expire], [put('a', 'again')]], ctx);
    assert.equal(rewritten.patch?.data?.a, 'again');
    assert.equal(rewritten.patch?.metadata.annotations?.['kubekv.dev/expired'], undefined, 'a stays, so nothing expired');
    const expired = planCommit(base, [[put('n', '1')], [expire]], ctx);
    assert.deepEqual(JSON.parse(expired.patch!.metadata.annotations!['kubekv.dev/expired']!), { revision: 8, keys: ['a'] });
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

  it('records each writer\'s last commit, so a commit is recognised however many others follow', () => {
    let state = base;
    const commit = (writer: string, seq: number, value: string) => {
      const plan = planCommit(state, [[put('k', value)]], { bucket: 'b', writer: { id: writer, seq } });
      state = parseBucket({
        metadata: { resourceVersion: String(Number(state.resourceVersion) + 1), annotations: plan.patch!.metadata.annotations as Record<string, string> },
        data: { k: value },
      });
    };
    commit('mine', 1, 'a');
    const landedAt = state.revision;
    for (let i = 0; i < 50; i++) commit(`other${i % 5}`, i + 1, String(i));
    assert.equal(commitStatus(state, 'mine', 1, landedAt - 1), 'landed');
    assert.equal(commitStatus(state, 'mine', 2, landedAt), 'absent', 'my next commit has not landed');
    assert.equal(commitStatus(state, 'nobody', 1, landedAt), 'absent');
    assert.equal(state.writers.size, 6);
  });

  it('prunes the oldest writers past MAX_WRITERS and then says "unknown" rather than guess', () => {
    let state = base;
    for (let i = 0; i <= MAX_WRITERS; i++) {
      const plan = planCommit(state, [[put('k', String(i))]], { bucket: 'b', writer: { id: `w${String(i).padStart(3, '0')}`, seq: 1 } });
      state = parseBucket({
        metadata: { resourceVersion: String(Number(state.resourceVersion) + 1), annotations: plan.patch!.metadata.annotations as Record<string, string> },
        data: { k: String(i) },
      });
    }
    assert.equal(state.writers.size, MAX_WRITERS);
    assert.equal(state.writers.has('w000'), false, 'the oldest entry went');
    assert.equal(state.writersPruned, base.revision + 1);
    assert.equal(commitStatus(state, 'w000', 1, base.revision), 'unknown');
    assert.equal(commitStatus(state, 'w001', 1, base.revision + 1), 'landed');
  });

  it('a record stripped by hand and then rewritten by another writer still says "unknown" for the lost entry', () => {
    const mine = planCommit(base, [[put('k', 'mine')]], { bucket: 'b', writer: { id: 'mine', seq: 1 } });
    const landed = parseBucket({ metadata: { resourceVersion: '101', annotations: mine.patch!.metadata.annotations as Record<string, string> }, data: { k: 'mine' } });
    const annotations = { ...landed.annotations };
    delete annotations['kubekv.dev/writers'];
    const stripped = parseBucket({ metadata: { resourceVersion: '102', annotations }, data: { k: 'mine' } });
    const other = planCommit(stripped, [[put('k', 'other')]], { bucket: 'b', writer: { id: 'other', seq: 1 } });
    const after = parseBucket({ metadata: { resourceVersion: '103', annotations: other.patch!.metadata.annotations as Record<string, string> }, data: { k: 'other' } });
    assert.equal(after.writers.has('mine'), false);
    assert.equal(commitStatus(after, 'mine', 1, base.revision), 'unknown', 'a landed write must not be taken for "not landed"');
  });

  it('a writers record stripped by hand after kubekv commits makes a lost answer "unknown"', () => {
    const stripped = { ...base, revision: base.revision + 3, writers: new Map(), writersRecorded: false };
    assert.equal(commitStatus(stripped, 'mine', 1, base.revision), 'unknown');
    assert.equal(commitStatus({ ...stripped, revision: base.revision }, 'mine', 1, base.revision), 'absent', 'no kubekv commit since: not landed');
  });
});

describe('planCommit: epoch raises (fencing)', () => {
  const at = (epoch: number, leader: string) => parseBucket({
    metadata: { name: 'b', resourceVersion: '200', annotations: { 'kubekv.dev/format': '1', [REVISION_ANNOTATION]: '9', 'kubekv.dev/epoch': String(epoch), 'kubekv.dev/leader': leader } },
    data: { a: 'A' },
  });
  const raise = (epoch: number, leader: string): WriteOp => ({ kind: 'epoch', epoch, leader });

  it('raises a lower epoch to the term, naming the leader, as a CAS with a new revision', () => {
    const plan = planCommit(at(3, 'old'), [[raise(5, 'me')]], ctx);
    assert.equal(plan.patch?.metadata.resourceVersion, '200');
    assert.equal(plan.patch?.metadata.annotations?.['kubekv.dev/epoch'], '5');
    assert.equal(plan.patch?.metadata.annotations?.['kubekv.dev/leader'], 'me');
    assert.equal(plan.revision, 10);
    assert.deepEqual(plan.outcomes, [{ ok: true, result: { revision: 10, counts: [1] } }]);
  });

  it('sends nothing when the bucket already holds exactly this epoch of this leader (its raise landed)', () => {
    const plan = planCommit(at(5, 'me'), [[raise(5, 'me')]], ctx);
    assert.equal(plan.patch, undefined);
    assert.deepEqual(plan.outcomes, [{ ok: true, result: { revision: 9, counts: [0] } }]);
  });

  it('never takes an epoch back: a raise below the bucket, or equal but another leader, is FencedError', () => {
    // An ex-leader whose raise was delayed past the new leader's.
    for (const [bucket, term] of [[at(7, 'new'), 6], [at(7, 'new'), 7]] as const) {
      const plan = planCommit(bucket, [[raise(term, 'ex')]], ctx);
      assert.equal(plan.patch, undefined);
      const outcome = plan.outcomes[0]!;
      assert.ok(!outcome.ok && outcome.error instanceof FencedError && outcome.error.heldEpoch === term && outcome.error.currentEpoch === 7);
    }
  });

  it('the first leader of a new Lease (term 0) takes a bucket never raised (epoch 0, no leader)', () => {
    const fresh = parseBucket({ metadata: { name: 'b', resourceVersion: '5', annotations: { 'kubekv.dev/format': '1' } } });
    const plan = planCommit(fresh, [[raise(0, 'first')]], ctx);
    assert.deepEqual(plan.outcomes.map((o) => o.ok), [true]);
    assert.equal(plan.patch?.metadata.annotations?.['kubekv.dev/leader'], 'first');
  });

  it('a failed raise leaves no trace beside other writes of the commit', () => {
    const plan = planCommit(at(7, 'new'), [[raise(6, 'ex')], [put('n', '1')]], ctx);
    assert.equal(plan.patch?.metadata.annotations?.['kubekv.dev/epoch'], undefined);
    assert.equal(plan.patch?.data?.n, '1');
  });
});

describe('planCommit: the contract breaks of issue 16', () => {
  it('puts a ConfigMap key named __proto__ into the patch as data (the key /proto/), and deletes it', () => {
    const plan = planCommit(base, [[put('/proto/', 'v')]], ctx);
    const sent = JSON.parse(JSON.stringify(plan.patch)) as { data: Record<string, string> };
    assert.ok(Object.hasOwn(sent.data, '__proto__'), 'the key was left out of the patch as sent');
    assert.equal(sent.data['__proto__'], 'v');
    const withProto = parseBucket(JSON.parse('{"metadata":{"name":"b","resourceVersion":"5"},"data":{"__proto__":"x"}}') as V1ConfigMap);
    assert.equal(withProto.entries.get('/proto/')?.stored, 'x');
    const deleted = JSON.parse(JSON.stringify(planCommit(withProto, [[del('/proto/')]], ctx).patch)) as { data: Record<string, string | null> };
    assert.ok(Object.hasOwn(deleted.data, '__proto__') && deleted.data['__proto__'] === null, 'the deletion was left out of the patch');
  });

  it('a write of a key also removes a hand-made name that decodes to it (which it shadowed)', () => {
    const shadowed = parseBucket({ metadata: { name: 'b', resourceVersion: '5' }, data: { a_5Fb: 'hand', a_5F5Fb: 'kubekv' } });
    assert.equal(shadowed.entries.get('a_5Fb')?.cmKey, 'a_5F5Fb');
    assert.deepEqual(shadowed.aliases.get('a_5Fb'), ['a_5Fb']);
    for (const op of [del('a_5Fb'), put('a_5Fb', 'new')]) {
      const data = planCommit(shadowed, [[op]], ctx).patch!.data!;
      assert.equal(data.a_5Fb, null, `${op.kind} left the hand-made name behind`);
    }
  });

  it("a new bucket's first commit starts above its resourceVersion, so a recreated bucket never hands out a lastIndex again", () => {
    const fresh = parseBucket({ metadata: { name: 'b', resourceVersion: '4711', annotations: { 'kubekv.dev/format': '1' } } });
    const plan = planCommit(fresh, [[put('k', 'v')]], ctx);
    assert.equal(plan.revision, 4712);
    assert.deepEqual(plan.outcomes, [{ ok: true, result: { revision: 4712, counts: [1] } }]);
    assert.equal(planCommit(base, [[put('k', 'v')]], ctx).revision, 8, 'a bucket with a revision goes on by one');
  });

  it("refuses a write that would take the object past etcd's request limit, though within the data and annotation limits", () => {
    // Keys count toward etcd's limit, not the API server's: 1,400 foreign
    // keys of 250 characters and a large annotation leave less than 1 MiB.
    const data = Object.fromEntries(Array.from({ length: 1400 }, (_, i) => [`f${String(i).padStart(4, '0')}-${'y'.repeat(244)}`, '']));
    const crowded = parseBucket({ metadata: { name: 'b', resourceVersion: '5', annotations: { big: 'b'.repeat(255_000) } }, data });
    const plan = planCommit(crowded, [[put('small', 'x')], [put('huge', 'v'.repeat(1_000_000))], [put('small2', 'y')]], ctx);
    assert.deepEqual(plan.outcomes.map((o) => o.ok), [true, false, true]);
    const refused = plan.outcomes[1]!;
    assert.ok(!refused.ok && refused.error instanceof BucketFullError && refused.error.limitName === 'etcd', String(!refused.ok && refused.error));
    assert.ok(plan.storedBytes > plan.baseStoredBytes && plan.storedBytes < 1_572_864);
    // A lower limit learned from the server refuses more.
    const lowered = planCommit(crowded, [[put('small', 'x')]], { ...ctx, maxStoredBytes: plan.baseStoredBytes });
    assert.ok(!lowered.outcomes[0]!.ok);
    // A write that shrinks the object is never refused for size.
    const shrink = planCommit(crowded, [[del('f0000-' + 'y'.repeat(244))]], { ...ctx, maxStoredBytes: 1 });
    assert.ok(shrink.outcomes[0]!.ok);
  });
});
