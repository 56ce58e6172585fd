/**
 * A short chunked robustness run in `npm test` (issue 19): four kubekv
 * clients with tiny chunk thresholds (compaction after nearly every commit,
 * value chunks), a reader, and the chunk faults (a referenced chunk deleted
 * by hand, the slow reader) with lost answers and bucket deletions; the
 * checker must pass, and the run must have compacted. CI's longer seeded
 * run (.ci/run) explores every fault kind.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runRobustness } from '../../robustness/harness.js';

describe('robustness harness, chunked', () => {
  it('a chunked bucket under chunk faults stays linearizable', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kubekv-robustness-chunks-'));
    const result = await runRobustness({
      out,
      durationMs: 30_000,
      seed: 20261207,
      clients: 4,
      store: 'kubekv',
      chunks: 'tiny',
      faults: ['delete-bucket', 'delete-chunk', 'slow-reader', 'lose-answers'],
      log: (line) => console.log(`  [robustness] ${line}`),
    });
    const where = `run directory ${result.outDir}`;
    assert.equal(result.error, undefined, `the run broke: ${result.error} (${where})`);
    assert.ok(result.summary, `no checker summary (${where})`);
    const { operations, linearizable } = result.summary;
    console.log(`  ${operations.ok} ok, ${operations.fail} fail, ${operations.unknown} unknown; linearizable: ${linearizable}; chunks ${JSON.stringify(result.chunks)}`);
    assert.equal(result.exitCode, 0, `expected a pass, got exit ${result.exitCode}: ${JSON.stringify(result.summary)} (${where})`);
    assert.ok((result.chunks?.compactions ?? 0) > 0, `no compaction landed (${where})`);
    assert.ok((result.chunks?.created ?? 0) > 0, `no chunk was created (${where})`);
    await rm(out, { recursive: true, force: true });
  });
});
