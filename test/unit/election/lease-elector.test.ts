/**
 * The election algorithm, driven by a fake clock and an in-memory lock with
 * the API server's CAS semantics: every timing below is exact, no test sleeps.
 * The same behaviour is proven against the real control plane in
 * test/integration/election/.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import type { Clock } from '../../../src/clock.js';
import { LeaseElector, type LeaseElectorOptions } from '../../../src/election/index.js';
import type { LeaseRecord } from '../../../src/election/lease-lock.js';
import { ClosedError, InvalidOptionError, NotLeaderError } from '../../../src/errors.js';
import { FakeClock } from '../../support/fake-clock.js';
import { MemoryLeaseLock } from '../../support/memory-lease-lock.js';

const T0 = Date.UTC(2030, 0, 1);

function held(holder: string, extra: Partial<LeaseRecord> = {}): LeaseRecord {
  return { holderIdentity: holder, leaseDurationSeconds: 15, acquireTime: new Date(T0 - 60_000), renewTime: new Date(T0), leaseTransitions: 4, ...extra };
}

function setup(initial?: LeaseRecord, options: Partial<LeaseElectorOptions> = {}) {
  const clock = new FakeClock(T0);
  const lock = new MemoryLeaseLock(initial);
  const events: string[] = [];
  const signals: AbortSignal[] = [];
  const elector = new LeaseElector({
    name: 'election',
    identity: 'me',
    clock,
    lock,
    onStartedLeading: (signal) => {
      events.push('started');
      signals.push(signal);
    },
    onStoppedLeading: () => {
      events.push('stopped');
    },
    onNewLeader: (id) => events.push(`leader:${id}`),
    ...options,
  });
  const count = (event: string) => events.filter((e) => e === event).length;
  return { clock, lock, elector, events, signals, count };
}

describe('LeaseElector options', () => {
  it('rejects each invalid option with an InvalidOptionError naming it', () => {
    const lock = new MemoryLeaseLock();
    const cases: Array<[Partial<LeaseElectorOptions>, string]> = [
      [{ name: 'Not_A_Name' }, 'name'],
      [{ namespace: 'Bad Namespace' }, 'namespace'],
      [{ identity: '' }, 'identity'],
      [{ leaseDurationMs: 0 }, 'leaseDurationMs'],
      [{ leaseDurationMs: 15_500 }, 'leaseDurationMs'],
      [{ leaseDurationMs: Number.NaN }, 'leaseDurationMs'],
      [{ renewDeadlineMs: -1 }, 'renewDeadlineMs'],
      [{ retryPeriodMs: 0 }, 'retryPeriodMs'],
      // client-go's rules: leaseDuration > renewDeadline > 1.2 × retryPeriod.
      [{ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }, 'leaseDurationMs'],
      [{ renewDeadlineMs: 2_400, retryPeriodMs: 2_000 }, 'renewDeadlineMs'],
      [{ releaseOnClose: 'yes' as unknown as boolean }, 'releaseOnClose'],
      [{ onStartedLeading: 'x' as unknown as () => void }, 'onStartedLeading'],
      [{ onStoppedLeading: 1 as unknown as () => void }, 'onStoppedLeading'],
      [{ onNewLeader: {} as unknown as () => void }, 'onNewLeader'],
    ];
    for (const [options, name] of cases) {
      assert.throws(
        () => new LeaseElector({ name: 'election', lock, ...options }),
        (err: unknown) => err instanceof InvalidOptionError && err.option === name && err.message.includes(name),
        `expected InvalidOptionError(${name}) for ${JSON.stringify(options)}`,
      );
    }
    // The boundary just inside each rule is accepted.
    new LeaseElector({ name: 'election', lock, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 1666 });
  });

  it('defaults the identity to POD_NAME, else host name plus random hex; makes no request when constructed', () => {
    const lock = new MemoryLeaseLock();
    const saved = process.env.POD_NAME;
    try {
      process.env.POD_NAME = 'app-7d9f-x2';
      assert.equal(new LeaseElector({ name: 'election', lock }).identity, 'app-7d9f-x2');
      delete process.env.POD_NAME;
      const a = new LeaseElector({ name: 'election', lock }).identity;
      const b = new LeaseElector({ name: 'election', lock }).identity;
      assert.match(a, /-[0-9a-f]{6}$/);
      assert.notEqual(a, b);
    } finally {
      if (saved === undefined) delete process.env.POD_NAME;
      else process.env.POD_NAME = saved;
    }
    assert.equal(lock.totalCalls, 0);
  });
});

describe('LeaseElector acquisition', () => {
  it('creates an absent lease with the client-go record and leads', async () => {
    const { elector, lock, events, clock } = setup();
    await elector.start();
    assert.equal(elector.isLeader, true);
    assert.equal(elector.term, 0);
    assert.equal(elector.leader, 'me');
    assert.equal(elector.lastRenewAt, T0);
    assert.deepEqual(events, ['leader:me', 'started']);
    assert.deepEqual(lock.writes.map((w) => w.op), ['create']);
    assert.deepEqual(lock.current?.record, {
      holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: new Date(clock.now()), renewTime: new Date(clock.now()), leaseTransitions: 0,
    });
  });

  it('does not take over, nor send any request, while the holder keeps renewing; keeps one timer', async () => {
    const { elector, lock, clock, events } = setup(held('other'));
    await elector.start();
    for (let i = 0; i < 30; i++) {
      await clock.advance(14_000);
      lock.renewAs('other', new Date(clock.now()));
      assert.equal(clock.pendingTimers, 1);
    }
    assert.equal(elector.isLeader, false);
    assert.equal(elector.leader, 'other');
    assert.equal(lock.totalCalls, 0, 'a follower learns of renewals from the watch, it does not poll');
    assert.deepEqual(events, ['leader:other']);
  });

  it('takes over exactly at observedTime + leaseDurationSeconds, not before, with leaseTransitions + 1', async () => {
    const { elector, lock, clock, signals } = setup(held('other'));
    await elector.start();
    await clock.advance(1000);
    lock.renewAs('other', new Date(clock.now())); // observed at monotonic 1000
    await clock.advance(14_999);
    assert.equal(elector.isLeader, false);
    assert.equal(lock.totalCalls, 0);
    await clock.advance(1);
    assert.equal(elector.isLeader, true);
    assert.equal(elector.term, 5);
    assert.equal(signals[0]?.aborted, false);
    assert.deepEqual(lock.current?.record, {
      holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: new Date(T0 + 16_000), renewTime: new Date(T0 + 16_000), leaseTransitions: 5,
    });
    assert.deepEqual(lock.calls, { get: 1, create: 0, update: 1 });
  });

  it("judges expiry by the record's leaseDurationSeconds, not its own option", async () => {
    const { elector, clock } = setup(held('other', { leaseDurationSeconds: 5 }));
    await elector.start();
    await clock.advance(4_999);
    assert.equal(elector.isLeader, false);
    await clock.advance(1);
    assert.equal(elector.isLeader, true);
  });

  it('ignores clock skew: renewTime far in the past or future and wall-clock jumps change nothing', async () => {
    for (const renewTime of [new Date(Date.UTC(2000, 0, 1)), new Date(Date.UTC(2100, 0, 1))]) {
      const { elector, clock } = setup(held('other', { renewTime }));
      await elector.start();
      clock.setWall(Date.UTC(2200, 0, 1));
      await clock.advance(7_000);
      clock.setWall(Date.UTC(1990, 0, 1));
      await clock.advance(7_999);
      assert.equal(elector.isLeader, false, `took over early with renewTime ${renewTime.toISOString()}`);
      await clock.advance(1);
      assert.equal(elector.isLeader, true, `did not take over with renewTime ${renewTime.toISOString()}`);
    }
  });

  it('after a broken watch, re-reads at expiry and backs off if the record changed meanwhile', async () => {
    const { elector, lock, clock } = setup(held('other'));
    await elector.start();
    lock.pauseWatch();
    await clock.advance(5_000);
    lock.renewAs('other', new Date(clock.now())); // not delivered
    await clock.advance(10_000);
    assert.equal(elector.isLeader, false, 'a renewal read at expiry restarts the wait');
    assert.deepEqual(lock.calls, { get: 1, create: 0, update: 0 });
    await clock.advance(14_999);
    assert.equal(elector.isLeader, false);
    await clock.advance(1);
    assert.equal(elector.isLeader, true);
  });

  it('acts at once on a release seen through the watch', async () => {
    const { elector, lock, clock } = setup(held('other'));
    await elector.start();
    await clock.advance(3_000);
    lock.write({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: new Date(clock.now()), renewTime: new Date(clock.now()), leaseTransitions: 4 });
    await clock.advance(0);
    assert.equal(elector.isLeader, true);
    assert.equal(lock.current?.record.leaseTransitions, 5);
  });

  it('takes a lease held by its own identity (a restart) at once, as a new term', async () => {
    const { elector, lock } = setup(held('me', { leaseTransitions: 3 }));
    await elector.start();
    assert.equal(elector.isLeader, true);
    assert.equal(elector.term, 4);
    assert.deepEqual(lock.current?.record.acquireTime, new Date(T0));
  });

  it('retries a failed attempt after retryPeriod × (1 + 1.2 × random), only while no valid leader is seen', async (t) => {
    t.mock.method(Math, 'random', () => 0.5); // delay 2000 × 1.6 = 3200
    const { elector, lock, clock } = setup();
    lock.fail('create');
    await elector.start();
    assert.equal(lock.calls.create, 1);
    await clock.advance(3_199);
    assert.equal(lock.calls.create, 1);
    await clock.advance(1);
    assert.equal(lock.calls.create, 2);
    lock.write(held('other')); // another replica got it: stop retrying, wait for expiry
    await clock.advance(14_999);
    assert.equal(lock.totalCalls, 4, 'only the two gets and creates before the other leader appeared');
    assert.equal(elector.isLeader, false);
    lock.fail('create', null);
    await clock.advance(1);
    assert.equal(elector.isLeader, true);
  });
});

describe('LeaseElector leading', () => {
  it('renews every retryPeriod, keeping acquireTime and leaseTransitions, without a read', async () => {
    const { elector, lock, clock } = setup();
    await elector.start();
    for (let i = 1; i <= 3; i++) {
      await clock.advance(2_000);
      assert.deepEqual(lock.current?.record, {
        holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: new Date(T0), renewTime: new Date(T0 + i * 2_000), leaseTransitions: 0,
      });
      assert.equal(elector.lastRenewAt, T0 + i * 2_000);
    }
    assert.deepEqual(lock.calls, { get: 1, create: 1, update: 3 });
  });

  it('stops leading when no renewal succeeded for renewDeadlineMs, then competes again as a new term', async () => {
    const { elector, lock, clock, signals, count } = setup();
    await elector.start();
    lock.fail('update');
    lock.fail('get');
    await clock.advance(9_999);
    assert.equal(elector.isLeader, true);
    assert.equal(signals[0]?.aborted, false);
    await clock.advance(1);
    assert.equal(elector.isLeader, false);
    assert.equal(elector.term, undefined);
    assert.ok(signals[0]?.aborted);
    assert.ok(signals[0]?.reason instanceof NotLeaderError);
    assert.equal(count('stopped'), 1);
    await clock.advance(20_000);
    assert.equal(count('stopped'), 1);
    assert.equal(count('started'), 1);
    lock.fail('update', null);
    lock.fail('get', null);
    await clock.advance(4_400);
    assert.equal(elector.isLeader, true);
    assert.equal(elector.term, 1);
    assert.equal(count('started'), 2);
  });

  it('stops leading at the deadline even while a renewal hangs', async () => {
    const { elector, lock, clock, count } = setup();
    await elector.start();
    lock.stall('update');
    await clock.advance(9_999);
    assert.equal(elector.isLeader, true);
    await clock.advance(1);
    assert.equal(elector.isLeader, false);
    assert.equal(count('stopped'), 1);
  });

  it('stops leading at once when another holder, or a deletion, is observed', async () => {
    const { elector, lock, clock, signals, count } = setup();
    await elector.start();
    lock.write(held('other', { leaseTransitions: 1 }));
    await clock.advance(0);
    assert.equal(elector.isLeader, false);
    assert.ok(signals[0]?.aborted);
    assert.equal(elector.leader, 'other');
    assert.equal(count('stopped'), 1);
    await clock.advance(15_000); // expired: ours again, term 2
    assert.equal(elector.term, 2);
    lock.remove();
    await clock.advance(0);
    assert.equal(count('stopped'), 2);
    // It re-creates the Lease at once, carrying the count on so terms keep growing.
    assert.equal(elector.isLeader, true);
    assert.equal(elector.term, 3);
  });

  it('reports each new holder once through onNewLeader, never a release', async () => {
    const { elector, lock, clock, events } = setup(held('a'));
    await elector.start();
    lock.renewAs('a', new Date(clock.now() + 1));
    lock.renewAs('a', new Date(clock.now() + 2));
    lock.write(held('b', { leaseTransitions: 5 }));
    await clock.advance(1_000);
    lock.write({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: new Date(clock.now()), renewTime: new Date(clock.now()), leaseTransitions: 5 });
    await clock.advance(0);
    assert.deepEqual(events, ['leader:a', 'leader:b', 'leader:me', 'started']);
  });
});

describe('LeaseElector liveness (client-go health adaptor)', () => {
  it('a renewing leader stays live whatever the wall clock does', async () => {
    const { elector, clock } = setup();
    await elector.start();
    assert.equal(elector.isLeader, true);
    // NTP steps forward and back, each followed by a renewal stamped with the stepped time.
    for (const wall of [T0 + 3_600_000, Date.UTC(1990, 0, 1), Date.UTC(2200, 0, 1)]) {
      clock.setWall(wall);
      assert.equal(elector.isLive(5_000), true, `not live once the wall clock was set to ${new Date(wall).toISOString()}`);
      await clock.advance(2_000);
      assert.equal(elector.isLive(5_000), true, `not live after a renewal at ${new Date(wall).toISOString()}`);
    }
    assert.equal(elector.isLeader, true);
  });

  it('fails a leader none of whose renewals landed for leaseDuration + tolerance of monotonic time, even with the wall clock stepped back', async () => {
    const manual = new FakeClock(T0);
    // A paused process (SIGSTOP, a blocked event loop): monotonic time passes
    // and no timer runs, so the renew deadline cannot end leadership either.
    let pausedMs = 0;
    const clock: Clock = { now: () => manual.now(), monotonic: () => manual.monotonic() + pausedMs, setTimer: (fn, ms) => manual.setTimer(fn, ms) };
    const { elector } = setup(undefined, { clock });
    await elector.start();
    assert.equal(elector.isLeader, true);
    manual.setWall(T0 - 3_600_000);
    pausedMs = 15_000 + 5_000;
    assert.equal(elector.isLive(5_000), true, 'exactly leaseDuration + tolerance is still live');
    pausedMs += 1;
    assert.equal(elector.isLeader, true, 'it still believes it leads');
    assert.equal(elector.isLive(5_000), false, 'no renewal for longer than leaseDuration + tolerance, yet live');
    // Resumed, its overdue renewal timer fires; nobody took over here, so the renewal lands and it is live again.
    await manual.advance(2_000);
    assert.equal(elector.isLeader, true);
    assert.equal(elector.isLive(5_000), true, 'not live after a renewal landed');
  });

  it('a follower is live', async () => {
    const { elector, clock } = setup(held('other'));
    await elector.start();
    clock.setWall(T0 + 3_600_000);
    await clock.advance(5_000);
    assert.deepEqual([elector.isLeader, elector.isLive(0)], [false, true]);
  });
});

describe('LeaseElector close', () => {
  it("aborts leadership, awaits onStoppedLeading, then writes client-go's release record", async () => {
    let writesWhenStopped = -1;
    const { elector, lock, clock, signals } = setup(undefined, {
      onStoppedLeading: async () => {
        await clock.advance(0);
        writesWhenStopped = lock.writes.length;
      },
    });
    await elector.start();
    await clock.advance(2_000);
    const before = lock.writes.length;
    await elector.close();
    assert.ok(signals[0]?.reason instanceof ClosedError);
    assert.equal(writesWhenStopped, before, 'released only after onStoppedLeading finished');
    assert.equal(lock.writes.length, before + 1);
    assert.deepEqual(lock.writes.at(-1)?.record, {
      holderIdentity: '', leaseDurationSeconds: 1, acquireTime: new Date(clock.now()), renewTime: new Date(clock.now()), leaseTransitions: 0,
    });
    assert.equal(elector.isLeader, false);
  });

  it('leaves the record alone with releaseOnClose false, and a follower never writes on close', async () => {
    const leader = setup(undefined, { releaseOnClose: false });
    await leader.elector.start();
    await leader.elector.close();
    assert.equal(leader.lock.current?.record.holderIdentity, 'me');
    assert.deepEqual(leader.events, ['leader:me', 'started', 'stopped']);

    const follower = setup(held('other'));
    await follower.elector.start();
    await follower.elector.close();
    assert.equal(follower.lock.writes.length, 1); // the initial record only
    assert.equal(follower.count('stopped'), 0);
  });

  it('is idempotent; start() after close() rejects with ClosedError; await using closes', async () => {
    const { elector, lock, count } = setup();
    await elector.start();
    await Promise.all([elector.close(), elector.close()]);
    await elector.close();
    assert.equal(count('stopped'), 1);
    assert.equal(lock.writes.filter((w) => w.record?.holderIdentity === '').length, 1);
    await assert.rejects(elector.start(), ClosedError);

    const other = setup();
    {
      await using e = other.elector;
      await e.start();
    }
    assert.equal(other.lock.current?.record.holderIdentity, '');
    assert.equal(other.count('stopped'), 1);
  });

  it('calls onStoppedLeading on close even if the callback of the start threw', async () => {
    const stopped = mock.fn();
    const { elector } = setup(undefined, {
      onStartedLeading: () => {
        throw new Error('app failed');
      },
      onStoppedLeading: stopped,
    });
    await elector.start();
    assert.equal(elector.isLeader, true);
    await elector.close();
    assert.equal(stopped.mock.callCount(), 1);
  });
});
