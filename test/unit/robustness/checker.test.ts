/** The robustness checker (test/controlplane/checker/) on small hand-made histories. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureChecker, runChecker, type CheckResult } from '../../robustness/checker.js';

type Line = Record<string, unknown>;

const invoke = (id: string, at: number, fields: Line): Line => ({ t: 'invoke', id, client: Number(id.split('-')[0]), at: String(at), ...fields });
const ok = (id: string, at: number, result: Line): Line => ({ t: 'ok', id, at: String(at), result });
const unknown = (id: string, at: number): Line => ({ t: 'unknown', id, at: String(at), code: 'OUTCOME_UNKNOWN' });
const put = (key: string, value: string): Line => ({ op: 'put', key, value });
const get = (key: string, consistent = true): Line => ({ op: 'get', key, consistent });
const found = (value: string, lastIndex: number): Line => ({ found: true, value, lastIndex });
const watch = (client: number, at: number, event: Line): Line => ({ t: 'watch', client, at: String(at), ...event });

// Two acknowledged puts of k: 1-1 at lastIndex 1, then 1-2 at lastIndex 2.
const twoPuts: Line[] = [
  invoke('1-1', 10, put('k', '1-1')),
  ok('1-1', 20, { lastIndex: 1 }),
  invoke('1-2', 30, put('k', '1-2')),
  ok('1-2', 40, { lastIndex: 2 }),
];

describe('robustness checker', () => {
  let binary: string;
  let dir: string;
  let n = 0;

  before(async () => {
    binary = (await ensureChecker((line) => console.log(line))).path;
    dir = await mkdtemp(join(tmpdir(), 'kubekv-checker-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function check(lines: Line[]): Promise<CheckResult & { out: string }> {
    const name = `h${n++}`;
    const history = join(dir, `${name}.jsonl`);
    const out = join(dir, name);
    await writeFile(history, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    return { ...(await runChecker({ history, out, timeoutMs: 20_000, binary })), out };
  }

  it('passes a linearizable history', async () => {
    const { exitCode, summary } = await check([
      ...twoPuts,
      invoke('2-1', 35, get('k')), // concurrent with the second put: either value is fine
      ok('2-1', 45, found('1-1', 1)),
      invoke('2-2', 50, { op: 'atomicPut', key: 'k', value: '2-2', prev: 2 }),
      ok('2-2', 60, { lastIndex: 3 }),
      invoke('2-3', 70, { op: 'batch', ops: [{ op: 'put', key: 'j', value: '2-3', expect: 'absent' }, { op: 'delete', key: 'k', expect: 3 }] }),
      ok('2-3', 80, { revision: 4 }),
      { t: 'final', at: '100', pairs: [{ key: 'j', value: '2-3', lastIndex: 4 }], revision: 4 },
    ]);
    assert.equal(exitCode, 0, JSON.stringify(summary));
    assert.deepEqual(summary.operations, { ok: 5, fail: 0, unknown: 0 });
    assert.equal(summary.linearizable, 'ok');
    assert.deepEqual(summary.violations, []);
  });

  it('flags a stale read after an acknowledged put and writes the visualisation', async () => {
    const { exitCode, summary, out } = await check([...twoPuts, invoke('2-1', 50, get('k')), ok('2-1', 60, found('1-1', 1))]);
    assert.equal(exitCode, 1);
    assert.equal(summary.linearizable, 'violation');
    assert.match(summary.violations[0] ?? '', /not linearizable/);
    assert.ok(existsSync(join(out, 'linearizability.html')));
    assert.ok(existsSync(join(out, 'violations.txt')));
  });

  it('flags a cache read of a value nobody wrote', async () => {
    const { exitCode, summary } = await check([...twoPuts, invoke('2-1', 50, get('k', false)), ok('2-1', 60, found('9-9', 1))]);
    assert.equal(exitCode, 1);
    assert.equal(summary.linearizable, 'ok');
    assert.equal(summary.cacheReadViolations, 1);
    assert.match(summary.violations[0] ?? '', /phantom/);
  });

  it('flags a watch going backwards', async () => {
    const { exitCode, summary } = await check([
      ...twoPuts,
      { t: 'watch-start', client: 2, at: '5' },
      watch(2, 6, { type: 'snapshot', pairs: [], revision: 0 }),
      watch(2, 45, { type: 'put', key: 'k', value: '1-2', lastIndex: 2, revision: 2 }),
      watch(2, 46, { type: 'put', key: 'k', value: '1-1', lastIndex: 1, revision: 1 }),
    ]);
    assert.equal(exitCode, 1);
    assert.equal(summary.linearizable, 'ok');
    assert.ok(summary.watchViolations > 0);
    assert.ok(summary.violations.some((v) => v.includes('went back')), summary.violations.join('\n'));
  });

  it('accepts an unknown-outcome write that took effect', async () => {
    const { exitCode, summary } = await check([
      ...twoPuts,
      invoke('1-3', 50, put('k', '1-3')),
      unknown('1-3', 60),
      invoke('2-1', 70, get('k')),
      ok('2-1', 80, found('1-3', 3)),
      invoke('2-2', 90, { op: 'atomicPut', key: 'k', value: '2-2', prev: 3 }),
      ok('2-2', 95, { lastIndex: 4 }),
    ]);
    assert.equal(exitCode, 0, JSON.stringify(summary));
    assert.equal(summary.operations.unknown, 1);
    assert.equal(summary.linearizable, 'ok');
  });

  it('reports a malformed history as inconclusive (exit 2)', async () => {
    const { exitCode, summary } = await check([ok('1-1', 20, { lastIndex: 1 })]);
    assert.equal(exitCode, 2);
    assert.equal(summary.linearizable, 'inconclusive');
    assert.ok(summary.error);
  });
});
