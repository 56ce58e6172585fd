/**
 * resign(), handoff() and the preferred holder, on a fake clock and an
 * in-memory lock: when a resigned replica contends again, how long others
 * wait for a preferred one (the bound), and who clears the preference.
 * Against the real API server: test/integration/election/handoff.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaseElector, type LeaderInfo, type LeaseElectorOptions } from '../../../src/election/index.js';
import type { LeaseRecord } from '../../../src/election/lease-lock.js';
import { ClosedError, InvalidOptionError, NotLeaderError } from '../../../src/errors.js';
import { FakeClock } from '../../support/fake-clock.js';
import { MemoryLeaseLock } from '../../support/memory-lease-lock.js';

const T0 = Date.UTC(2030, 0, 1);

function released(extra: Partial<LeaseRecord> = {}): LeaseRecord {
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: new Date(T0), renewTime: new Date(T0), leaseTransitions: 4, ...extra };
}

/** Electors named `ids` on one lock and one clock. */
function cluster(ids: string[], initial?: LeaseRecord, options: Partial<LeaseElectorOptions> = {}) {
  const clock = new FakeClock(T0);
  const lock = new MemoryLeaseLock(initial);
  const events: string[] = [];
  const signals = new Map<string, AbortSignal>();
  const electors = ids.map((identity) => new LeaseElector({
    name: 'election',
    identity,
    clock,
    lock,
    onStartedLeading: (signal) => {
      events.push(`${identity}:started`);
      signals.set(identity, signal);
    },
    onStoppedLeading: () => void events.push(`${identity}:stopped`),
    ...options,
  }));
  const leaders = () => electors.filter((e) => e.isLeader).map((e) => e.identity);
  return { clock, lock, electors, events, signals, leaders };
}

describe('LeaseElector.resign', () => {
  it('aborts the signal, awaits onStoppedLeading, then releases; a lone replica contends again only after the cool-down', async () => {
    let writesWhenStopped = -1;
    const events: string[] = [];
    const { clock, lock, electors: [me], signals } = cluster(['me'], undefined, {
      onStoppedLeading: async () => {
        await clock.advance(0);
        writesWhenStopped = lock.writes.length;
        events.push('me:stopped');
      },
    });
    await me!.start();
    assert.equal(me!.term, 0);
    const before = lock.writes.length;
    assert.equal(await me!.resign({ coolDownMs: 5_000 }), 'released');
    assert.ok(signals.get('me')?.aborted);
    assert.equal(writesWhenStopped, before, 'released only after onStoppedLeading returned');
    assert.deepEqual(lock.current?.record, {
      holderIdentity: '', leaseDurationSeconds: 1, acquireTime: new Date(clock.now()), renewTime: new Date(clock.now()), leaseTransitions: 0,
    });
    assert.equal(me!.isLeader, false);
    await clock.advance(4_999);
    assert.equal(lock.writes.length, before + 1, 'contended during its cool-down');
    await clock.advance(1);
    assert.equal(me!.isLeader, true);
    assert.equal(me!.term, 1);
    assert.deepEqual(events, ['me:stopped']);
    assert.equal(signals.get('me')?.aborted, false, 'the new leadership period has a signal of its own');
  });

  it('cools down for leaseDurationMs by default, also when it does not lead (then writing nothing)', async () => {
    const { clock, lock, electors: [me] } = cluster(['me'], { ...released(), holderIdentity: 'other', leaseDurationSeconds: 15 });
    await me!.start();
    assert.equal(await me!.resign(), 'not-held');
    assert.equal(lock.totalCalls, 0);
    lock.write(released());
    await clock.advance(14_999);
    assert.equal(me!.isLeader, false);
    assert.equal(lock.totalCalls, 0, 'contended during its cool-down');
    await clock.advance(1);
    assert.equal(me!.isLeader, true);
  });

  it('hands over to a waiting replica at once; the resigned one stays a follower', async () => {
    const { clock, electors: [a, b], leaders } = cluster(['a', 'b']);
    await a!.start();
    await b!.start();
    assert.deepEqual(leaders(), ['a']);
    assert.equal(await a!.resign(), 'released');
    await clock.advance(0);
    assert.deepEqual(leaders(), ['b']);
    assert.equal(b!.term, 1);
    await clock.advance(60_000);
    assert.deepEqual(leaders(), ['b']);
  });

  it('refuses a bad coolDownMs with InvalidOptionError, before anything is done', async () => {
    const { electors: [me] } = cluster(['me']);
    await me!.start();
    for (const coolDownMs of [-1, Number.NaN, 2 ** 31, '5' as unknown as number]) {
      await assert.rejects(me!.resign({ coolDownMs }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'coolDownMs');
    }
    assert.equal(me!.isLeader, true);
  });
});

describe('LeaseElector.handoff', () => {
  it('refuses bad input with typed errors and writes nothing', async () => {
    const { lock, electors: [me, other] } = cluster(['me', 'other']);
    await me!.start();
    await other!.start();
    const writes = lock.writes.length;
    for (const identity of ['', 7 as unknown as string, undefined as unknown as string, 'me']) {
      await assert.rejects(me!.handoff(identity), (err: unknown) => err instanceof InvalidOptionError && err.option === 'identity' && err.code === 'INVALID_OPTION');
    }
    await assert.rejects(other!.handoff('me'), (err: unknown) => err instanceof NotLeaderError && err.code === 'NOT_LEADER' && err.leader === 'me');
    await assert.rejects(me!.handoff('other', { coolDownMs: -5 }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'coolDownMs');
    assert.equal(lock.writes.length, writes);
    assert.equal(me!.isLeader, true);
    await me!.close();
    await assert.rejects(me!.handoff('other'), ClosedError);
  });

  it('releases naming the successor, which takes it at once; the others wait for it', async () => {
    const { clock, lock, electors: [a, b, c], leaders } = cluster(['a', 'b', 'c']);
    for (const e of [a, b, c]) await e!.start();
    assert.deepEqual(leaders(), ['a']);
    assert.equal(await a!.handoff('c'), 'released');
    const release = lock.writes.find((w) => w.record?.holderIdentity === '');
    assert.equal(release?.record?.preferredHolder, 'c');
    await clock.advance(0);
    assert.deepEqual(leaders(), ['c']);
    assert.equal(lock.current?.record.preferredHolder, undefined, 'the preferred holder clears the preference when it acquires');
    assert.equal(lock.writes.filter((w) => w.op === 'update' && w.record?.holderIdentity === 'b').length, 0, 'b tried to take it');
  });

  it('waits for a preferred holder that never comes at most its leaseDurationMs, then the Lease is taken again', async () => {
    const { clock, lock, electors: [a, b], leaders } = cluster(['a', 'b']);
    await a!.start();
    await b!.start();
    assert.equal(await a!.handoff('gone', { coolDownMs: 0 }), 'released');
    const releasedAt = clock.monotonic();
    await clock.advance(14_999);
    assert.deepEqual(leaders(), [], 'took a Lease promised to another before the bound');
    assert.equal(lock.current?.record.holderIdentity, '');
    await clock.advance(1);
    await clock.advance(0);
    assert.equal(leaders().length, 1, `nobody leads ${clock.monotonic() - releasedAt} ms after the handoff`);
    assert.equal(lock.current?.record.preferredHolder, undefined, 'the new holder cleared the stale preference');
  });
});

describe('a preferred holder set by another party (kubectl, the apiserver)', () => {
  it('the holder stops leading and releases, keeping the preference; the preferred one takes it', async () => {
    const { clock, lock, electors: [a, b], signals, leaders } = cluster(['a', 'b']);
    await a!.start();
    await b!.start();
    const current = lock.current!.record;
    lock.write({ ...current, preferredHolder: 'b' });
    await clock.advance(0);
    assert.ok(signals.get('a')?.aborted);
    assert.deepEqual(leaders(), ['b']);
    const release = lock.writes.find((w) => w.record?.holderIdentity === '');
    assert.equal(release?.record?.preferredHolder, 'b');
    assert.equal(b!.term, 1);
  });

  it('a step-down request addressed to the holder (kubekv leader --resign): it releases and sits out leaseDurationMs', async () => {
    const { clock, lock, electors: [a, b], leaders } = cluster(['a', 'b']);
    await a!.start();
    await b!.start();
    lock.write({ ...lock.current!.record, stepDownRequested: true });
    await clock.advance(0);
    assert.deepEqual(leaders(), ['b']);
    await b!.close();
    await clock.advance(14_999);
    assert.deepEqual(leaders(), [], 'a contended during its cool-down');
    await clock.advance(1);
    assert.deepEqual(leaders(), ['a']);
  });

  it('a client-go holder ignores it: the preferred one still waits for the lease to expire, never overlapping', async () => {
    const { clock, lock, electors: [me] } = cluster(['me'], { ...released(), holderIdentity: 'go-elector', leaseDurationSeconds: 15, preferredHolder: 'me' });
    await me!.start();
    await clock.advance(14_999);
    assert.equal(me!.isLeader, false);
    assert.equal(lock.totalCalls, 0);
    await clock.advance(1);
    assert.equal(me!.isLeader, true);
  });

  it('a contender that restarts under a Lease released to another waits for that one as well', async () => {
    const { clock, electors: [me] } = cluster(['me'], released({ preferredHolder: 'other' }));
    await me!.start();
    await clock.advance(14_999);
    assert.equal(me!.isLeader, false);
    await clock.advance(1);
    assert.equal(me!.isLeader, true);
  });

  it('a replica in its cool-down still takes a Lease handed to it', async () => {
    const { clock, electors: [a, b], leaders } = cluster(['a', 'b']);
    await a!.start();
    await b!.start();
    assert.equal(await a!.resign(), 'released');
    await clock.advance(0);
    assert.deepEqual(leaders(), ['b']);
    assert.equal(await b!.handoff('a'), 'released');
    await clock.advance(0);
    assert.deepEqual(leaders(), ['a'], 'the preferred replica waited out its cool-down');
  });

  it('the preferred replica takes a released Lease at once', async () => {
    const { lock, electors: [me] } = cluster(['me'], released({ preferredHolder: 'me' }));
    await me!.start();
    assert.equal(me!.isLeader, true);
    assert.equal(me!.term, 5);
    assert.equal(lock.current?.record.preferredHolder, undefined);
  });
});

describe('where the leader is', () => {
  it('records the advertised address with the leadership; followers see identity, address and term, and are told when they change', async () => {
    const seen: Array<LeaderInfo | undefined> = [];
    const clock = new FakeClock(T0);
    const lock = new MemoryLeaseLock();
    const a = new LeaseElector({ name: 'election', identity: 'a', clock, lock, advertise: 'http://10.0.0.1:8080' });
    const b = new LeaseElector({ name: 'election', identity: 'b', clock, lock, advertise: 'http://10.0.0.2:8080', onLeaderChange: (info) => seen.push(info) });
    await a.start();
    await b.start();
    assert.equal(lock.current?.record.holderAddress, 'http://10.0.0.1:8080');
    assert.deepEqual(b.leaderInfo, { identity: 'a', address: 'http://10.0.0.1:8080', term: 0 });
    await clock.advance(6_000); // renewals: nothing changes for b
    await a.resign();
    await clock.advance(0);
    assert.deepEqual(b.leaderInfo, { identity: 'b', address: 'http://10.0.0.2:8080', term: 1 });
    assert.deepEqual(seen, [
      { identity: 'a', address: 'http://10.0.0.1:8080', term: 0 },
      undefined,
      { identity: 'b', address: 'http://10.0.0.2:8080', term: 1 },
    ]);
  });

  it('refuses a bad advertise option', () => {
    for (const advertise of ['', 5 as unknown as string, 'x'.repeat(1025)]) {
      assert.throws(() => new LeaseElector({ name: 'election', lock: new MemoryLeaseLock(), advertise }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'advertise');
    }
  });
});
