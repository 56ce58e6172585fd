/**
 * Which older chunks a compaction measures for a rewrite (store/compaction.ts
 * rewriteCandidates): all of a small bucket's, and on a large bucket a few
 * per compaction that, over successive compactions, reach every chunk, even
 * when compactions come a fixed number of commits apart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChunkRef } from '../../../src/codec/index.js';
import { REWRITE_CANDIDATES, rewriteCandidates } from '../../../src/store/compaction.js';

const refs = (n: number): ChunkRef[] => Array.from({ length: n }, (_, i) => ({ name: `c${i}`, uid: `u${i}`, keys: 1, bytes: 100 }));

describe('rewriteCandidates', () => {
  it('examines every older chunk of a bucket with few of them', () => {
    for (let n = 0; n <= REWRITE_CANDIDATES; n++) assert.deepEqual(rewriteCandidates(refs(n), 12345), [...Array(n).keys()]);
  });

  it('examines REWRITE_CANDIDATES distinct chunks of a bucket with many', () => {
    const positions = rewriteCandidates(refs(317), 99);
    assert.equal(positions.length, REWRITE_CANDIDATES);
    assert.equal(new Set(positions).size, REWRITE_CANDIDATES);
    for (const p of positions) assert.ok(p >= 0 && p < 317);
  });

  it('reaches every chunk over compactions a fixed stride of revisions apart', () => {
    for (const [n, stride] of [[317, 1], [64, 8], [200, 100], [256, 64]] as const) {
      const seen = new Set<number>();
      for (let i = 1; i <= 40 * n && seen.size < n; i++) for (const p of rewriteCandidates(refs(n), 1000 + i * stride)) seen.add(p);
      assert.equal(seen.size, n, `${n} chunks, compactions ${stride} revisions apart: ${n - seen.size} never examined`);
    }
  });
});
