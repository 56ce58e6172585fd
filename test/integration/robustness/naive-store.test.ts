/**
 * The robustness checker can fail: the harness drives the deliberately
 * broken naive store (GET, then an unconditional replace) with four clients
 * and no faults, and the checker must report a violation. A checker that
 * passes this history would pass anything.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runRobustness } from '../../robustness/harness.js';

describe('robustness harness', () => {
  it('reports a violation against the naive store (the checker can fail)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kubekv-robustness-naive-'));
    const result = await runRobustness({
      out,
      durationMs: 25_000,
      seed: 20261130,
      clients: 4,
      store: 'naive',
      faults: [],
      log: (line) => console.log(`  [robustness] ${line}`),
    });
    const where = `run directory ${result.outDir}`;
    assert.equal(result.error, undefined, `the run broke: ${result.error} (${where})`);
    assert.ok(result.summary, `no checker summary (${where})`);
    const { operations, linearizable, violations } = result.summary;
    console.log(`  ${operations.ok} ok, ${operations.fail} fail, ${operations.unknown} unknown; linearizable: ${linearizable}; ${violations.length} violations listed`);
    assert.ok(operations.ok > 100, `too few operations succeeded to judge anything: ${JSON.stringify(operations)}`);
    assert.equal(result.exitCode, 1, `expected a violation (exit 1), got exit ${result.exitCode}: ${JSON.stringify(result.summary)} (${where})`);
    assert.equal(linearizable, 'violation', `lost updates must make the history non-linearizable (${where})`);
    // Kept when an assertion above failed, for the post-mortem.
    await rm(out, { recursive: true, force: true });
  });
});
