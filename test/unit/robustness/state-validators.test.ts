/** The state workload's validators (test/robustness/state-validators.ts) on small hand-made histories: each must catch its violation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { opsDigest, type OpEntry, type StateRecordAny } from '../../robustness/state-history.js';
import { validateState, type StateValidatorOptions } from '../../robustness/state-validators.js';

const options: StateValidatorOptions = { timings: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 }, replicas: 2, endAt: 20_000 };

const op = (id: string, value: number, epoch: number): OpEntry => ({ id, value, epoch });
const state = (at: number, rv: number, epoch: number, counter: number, added: OpEntry[] = [], extra: Partial<StateRecordAny> = {}): StateRecordAny =>
  ({ t: 'state', at, rv: String(rv), epoch, counter, added, removed: [], gap: false, ...extra }) as StateRecordAny;
const leader = (at: number, replica: number, epoch: number): StateRecordAny => ({ t: 'leader', at, replica, inc: 0, identity: `r${replica}.0`, epoch });
const leaderEnd = (at: number, replica: number, epoch: number, reason = 'NOT_LEADER'): StateRecordAny => ({ t: 'leader-end', at, replica, inc: 0, epoch, reason });
const invoke = (at: number, id: string): StateRecordAny => ({ t: 'invoke', at, client: 0, id });
const ack = (at: number, id: string, value: number, epoch: number, by = 'r0.0'): StateRecordAny => ({ t: 'ack', at, client: 0, id, value, epoch, by });
const fault = (at: number, phase: 'start' | 'heal', kind: string, replica: number): StateRecordAny => ({ t: 'fault', at, phase, kind, replica, inc: 0 });
const final = (at: number, counter: number, ops: OpEntry[], revision = 9): StateRecordAny => ({ t: 'final', at, revision, rv: '20', epoch: 2, counter, ops });
const cache = (at: number, replica: number, ops: OpEntry[], counter = ops.length, revision = 9): StateRecordAny => ({
  t: 'cache',
  at,
  replica,
  inc: 0,
  revision,
  caughtUp: true,
  counter,
  ops: ops.length,
  digest: opsDigest(ops.map((o) => `${o.id}=${o.value}`).sort()),
});

const one = op('c0-1', 1, 1);
const two = op('c0-2', 2, 1);

/**
 * r0 leads under epoch 1 and applies two increments; a partition of r0
 * (300-2300) ends its leadership at 1500; r1 leads under epoch 2 from 3000.
 */
function good(): StateRecordAny[] {
  return [
    state(10, 10, 0, 0),
    leader(100, 0, 1),
    state(100, 11, 1, 0),
    invoke(150, 'c0-1'),
    state(190, 12, 1, 1, [one]),
    ack(200, 'c0-1', 1, 1),
    invoke(210, 'c0-2'),
    state(240, 13, 1, 2, [two]),
    ack(250, 'c0-2', 2, 1),
    fault(300, 'start', 'partition', 0),
    leaderEnd(1500, 0, 1),
    fault(2300, 'heal', 'partition', 0),
    leader(3000, 1, 2),
    state(3000, 14, 2, 2),
    final(5000, 2, [one, two]),
    cache(5100, 0, [one, two]),
    cache(5100, 1, [one, two]),
  ];
}

/** The history sorted by time, as the orchestrator merges it. */
const check = (records: StateRecordAny[], o: StateValidatorOptions = options) => validateState([...records].sort((a, b) => a.at - b.at), o);
const caught = (records: StateRecordAny[], pattern: RegExp) => {
  const { violations } = check(records);
  assert.ok(violations.some((v) => pattern.test(v)), `expected a violation matching ${pattern}; got ${JSON.stringify(violations)}`);
};

describe('state workload validators', () => {
  it('pass a good history and measure its failover', () => {
    const verdict = check(good());
    assert.deepEqual(verdict.violations, []);
    assert.deepEqual(verdict.inconclusive, []);
    assert.equal(verdict.rounds, 1);
    assert.equal(verdict.acked, 2);
    assert.deepEqual(verdict.failovers.map((f) => [f.kind, f.ms]), [['partition', 2700]]);
    assert.equal(verdict.maxOverlapMs, 0);
  });

  it('1: catch overlapping leaderships', () => {
    const records = good().map((r) => (r.t === 'leader' && r.replica === 1 ? { ...r, at: 1000 } : r));
    caught(records, /leadership overlap of 500 ms: r0\.0 .* and r1\.0/);
  });

  it('1: tolerate the overlap of a leader frozen by SIGSTOP, and report it', () => {
    const records = good().map((r) => (r.t === 'leader' && r.replica === 1 ? { ...r, at: 1000 } : r));
    records.push(fault(200, 'start', 'pause', 0), fault(1400, 'heal', 'pause', 0));
    const verdict = check(records);
    assert.deepEqual(verdict.violations.filter((v) => v.includes('overlap')), []);
    assert.equal(verdict.maxOverlapMs, 500);
    assert.equal(verdict.maxToleratedOverlapMs, 500);
  });

  it('1: a SIGKILLed leader leads until the kill, not forever', () => {
    const records = good().filter((r) => r.t !== 'leader-end');
    records.push({ t: 'fault', at: 1200, phase: 'start', kind: 'kill', replica: 0, inc: 0 });
    assert.equal(check(records).violations.filter((v) => v.includes('overlap')).length, 0);
    caught(good().filter((r) => r.t !== 'leader-end'), /leadership overlap/);
  });

  it('2: catch an epoch going back', () => {
    caught([...good(), state(3100, 15, 1, 2)], /the epoch went back: state rv 15 has epoch 1 after a state with epoch 2 \(rv 14\)/);
  });

  it('2: catch a deposed leader\'s write landing after the new epoch', () => {
    const late = op('c0-3', 3, 1);
    const records = good().map((r) => (r.t === 'final' ? final(5000, 3, [one, two, late]) : r.t === 'cache' ? cache(r.at, r.replica, [one, two, late]) : r));
    records.push(invoke(260, 'c0-3'), state(3100, 15, 2, 3, [late]), ack(3150, 'c0-3', 3, 1));
    caught(records, /increment c0-3 \(acked to client 0 by r0\.0 under epoch 1\) first appears in state rv 15, after a state with epoch 2/);
  });

  it('3: catch a double count', () => {
    const records = good().map((r) => (r.t === 'final' ? final(5000, 3, [one, two]) : r));
    caught(records, /double count or lost record: the counter is 3 but 2 increments are recorded/);
    const twice = good().map((r) => (r.t === 'final' ? final(5000, 2, [one, { ...two, value: 1 }]) : r));
    caught(twice, /counted twice: value\(s\) 1/);
  });

  it('3: catch a lost ack', () => {
    const records = good().map((r) => (r.t === 'final' ? final(5000, 1, [one]) : r));
    caught(records, /lost ack: increment c0-2 was acknowledged .* not in the final bucket/);
  });

  it('3: catch a counter outside [acked, acked + unknown] and a phantom increment', () => {
    const phantom = op('zz-1', 3, 2);
    const records = good().map((r) => (r.t === 'final' ? final(5000, 3, [one, two, phantom]) : r));
    caught(records, /phantom increment zz-1/);
    caught(records, /final counter 3 is outside \[acked 2, acked \+ unknown 2\]/);
  });

  it('3: catch a counter that moves without its increments between observed states', () => {
    caught([...good(), state(3100, 15, 2, 3)], /state rv 15: the counter moved by 1 since rv 14 but 0 increments were recorded/);
  });

  it('4: catch a follower cache that did not converge', () => {
    const records = good().map((r) => (r.t === 'cache' && r.replica === 1 ? cache(r.at, 1, [one]) : r));
    caught(records, /replica 1\.0: its cache at revision 9 holds counter 1 and 1 ops/);
    const behind = good().map((r) => (r.t === 'cache' && r.replica === 1 ? { ...r, caughtUp: false, revision: 7 } : r));
    caught(behind, /replica 1\.0: its cache did not reach the final revision 9/);
  });

  it('5: catch a missing leader after a fault heals', () => {
    // r1 takes over only at 9000: past heal 2300 + 3000 + 1.2 x 500 + 2500 slack = 8400.
    const records = good().map((r) => (r.t === 'leader' && r.replica === 1 ? { ...r, at: 9000 } : r));
    caught(records, /no leader after partition of replica 0 \(.*, healed 2000 ms later\)/);
    // A slowed clock in effect widens the bound: (3000 + 600) / 0.8 = 4500 ms.
    records.push({ t: 'fault', at: 250, phase: 'start', kind: 'clock-skew', replica: 1, inc: 0, rate: 0.8 }, { t: 'fault', at: 9500, phase: 'heal', kind: 'clock-skew', replica: 1, inc: 0, rate: 1 });
    assert.deepEqual(check(records).violations.filter((v) => v.includes('no leader')), []);
  });

  it('5: a leadership the next fault cuts short still counts for the fault before', () => {
    // r1 leads from 3000 and is killed at 3500 (the next fault); r0 leads again from 7000.
    const records: StateRecordAny[] = good().filter((r) => r.t !== 'cache' && r.t !== 'final');
    records.push(
      { t: 'fault', at: 3500, phase: 'start', kind: 'kill', replica: 1, inc: 0 },
      { t: 'fault', at: 3800, phase: 'heal', kind: 'kill', replica: 1, inc: 0 },
      leader(7000, 0, 3),
      final(8000, 2, [one, two]),
      cache(8100, 0, [one, two]),
      cache(8100, 1, [one, two]),
    );
    const verdict = check(records);
    assert.deepEqual(verdict.violations, []);
    assert.deepEqual(verdict.failovers.map((f) => [f.kind, f.ms]), [['partition', 2700], ['kill', 3500]]);
  });

  it('report an inconclusive history instead of passing it', () => {
    const verdict = check(good().filter((r) => r.t !== 'final' && r.t !== 'cache'));
    assert.ok(verdict.inconclusive.includes('no final read of the bucket'), JSON.stringify(verdict.inconclusive));
  });
});
