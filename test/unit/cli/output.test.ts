/**
 * Output helpers: aligned tables, safe cells (a key or value cannot move
 * the cursor or forge a line), previews, ages, and the Lease state rule the
 * --force check relies on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAge, parseDuration } from '../../../src/cli/duration.js';
import { leaseState } from '../../../src/cli/leadership.js';
import { previewValue, renderFields, renderTable, safeCell } from '../../../src/cli/output.js';

describe('output', () => {
  it('aligns table columns three spaces apart, kubectl style, counting characters not bytes', () => {
    const text = renderTable({ columns: ['KEY', 'VALUE'], rows: [['zoë', 'x'], ['config/db', 'y']] });
    assert.equal(text, 'KEY         VALUE\nzoë         x\nconfig/db   y\n');
  });

  it('aligns field lists', () => {
    assert.equal(renderFields([['Keys', '3'], ['Last writer', 'w']]), 'Keys:        3\nLast writer: w\n');
  });

  it('quotes cells that hold control characters, edge spaces or nothing', () => {
    assert.equal(safeCell('plain/key'), 'plain/key');
    assert.equal(safeCell('{"a":1}'), '{"a":1}');
    assert.equal(safeCell('two\nlines'), '"two\\nlines"');
    assert.equal(safeCell('\u001b[2J'), '"\\u001b[2J"');
    assert.equal(safeCell(' x'), '" x"');
    assert.equal(safeCell(''), '""');
  });

  it('previews text shortened, binary by its size', () => {
    assert.equal(previewValue(new TextEncoder().encode('a'.repeat(100)), 10), 'aaaaaaa...');
    assert.equal(previewValue(new Uint8Array([0xff, 0xfe, 0x00])), '<binary, 3 bytes>');
  });

  it('writes and reads durations as kubectl does', () => {
    assert.deepEqual([5_000, 192_000, 3_600_000, 18_120_000, 273_600_000, -5].map(formatAge), ['5s', '3m12s', '1h', '5h2m', '3d4h', '0s']);
    assert.equal(parseDuration('timeout', '1h'), 3_600_000);
    assert.throws(() => parseDuration('timeout', '25d'), /at most 24 days/);
  });
});

describe('leaseState', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const lease = (holder: string, renewedAgoS: number | undefined, durationS = 15) => ({
    holderIdentity: holder,
    renewTime: renewedAgoS === undefined ? undefined : new Date(now - renewedAgoS * 1000),
    acquireTime: undefined,
    leaseDurationSeconds: durationS,
  });

  it('is held while renewed within its duration, expired after, released without a holder', () => {
    assert.equal(leaseState(lease('a', 14), now), 'held');
    assert.equal(leaseState(lease('a', 15), now), 'expired');
    assert.equal(leaseState(lease('a', 600), now), 'expired');
    assert.equal(leaseState(lease('', 1), now), 'released');
  });

  it('counts a holder without renew or acquire time as held: the cautious answer for --force', () => {
    assert.equal(leaseState(lease('a', undefined), now), 'held');
  });
});
