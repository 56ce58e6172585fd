import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_WRITERS, parseWriters, recordCommit } from '../../../src/codec/index.js';
import { FormatError } from '../../../src/errors.js';

describe('writers record', () => {
  it('round-trips through recordCommit and parseWriters, keeping the other writers', () => {
    const first = recordCommit(new Map(), 0, 'w1', { seq: 1, revision: 5 });
    const second = recordCommit(parseWriters(first.value), first.pruned, 'w2', { seq: 7, revision: 6 });
    assert.deepEqual([...parseWriters(second.value)], [['w1', { seq: 1, revision: 5 }], ['w2', { seq: 7, revision: 6 }]]);
    assert.equal(second.pruned, 0);
  });

  it('an absent annotation is an empty record', () => {
    assert.equal(parseWriters(undefined).size, 0);
  });

  it('a malformed record is a FormatError naming the annotation, never a silent guess', () => {
    for (const raw of ['not json', '[]', '{"w":[1]}', '{"w":[1,-2]}', '{"w":"1,2"}', '{"w":[1.5,2]}']) {
      assert.throws(() => parseWriters(raw), (err: unknown) => err instanceof FormatError && err.message.includes('kubekv.dev/writers'), raw);
    }
  });

  it('never prunes the committing writer, even when it is the oldest', () => {
    const full = new Map(Array.from({ length: MAX_WRITERS }, (_, i) => [`w${i}`, { seq: 1, revision: 100 + i }] as const));
    const { value, pruned } = recordCommit(full, 0, 'w0', { seq: 2, revision: 1 });
    assert.equal(parseWriters(value).get('w0')?.seq, 2);
    assert.equal(pruned, 0, 'nothing needed pruning: w0 was already counted');
    const grown = recordCommit(full, 0, 'new', { seq: 1, revision: 400 });
    assert.equal(parseWriters(grown.value).size, MAX_WRITERS);
    assert.equal(parseWriters(grown.value).has('w0'), false);
    assert.equal(grown.pruned, 100);
  });
});
