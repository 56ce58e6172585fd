/**
 * close() settles every write whose answer was lost, not just the last: a
 * later write on the same base answered 409 proves only that the base moved
 * on, and what moved it may be our own earlier write, landed late. With the
 * watch broken (the usual companion of lost answers), close() must read the
 * Lease and release it, or it stays naming a contender that has gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaseElector } from '../../../src/election/index.js';
import type { LeaseLock, LeaseRecord, LeaseWriteResult } from '../../../src/election/lease-lock.js';
import { FakeClock } from '../../support/fake-clock.js';
import { MemoryLeaseLock } from '../../support/memory-lease-lock.js';

const T0 = Date.UTC(2030, 0, 1);

const released: LeaseRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: new Date(T0 - 60_000), renewTime: new Date(T0 - 60_000), leaseTransitions: 4 };

/**
 * The first update never gets an answer (it hangs until its signal aborts) and
 * reaches the server late: just before the next update is applied.
 */
function lateFirstUpdate(inner: MemoryLeaseLock): LeaseLock & { updates: number } {
  let held: (() => Promise<LeaseWriteResult>) | undefined;
  const lock = {
    updates: 0,
    describe: () => inner.describe(),
    get: (signal) => inner.get(signal),
    create: (record, signal) => inner.create(record, signal),
    touch: (rv, signal) => inner.touch(rv, signal),
    watch: (observer) => inner.watch(observer),
    update: async (record, rv, signal) => {
      if (lock.updates++ === 0) {
        held = () => inner.update(record, rv);
        await new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
      }
      // The delayed copy of the first write arrives just ahead of this one.
      const late = held;
      held = undefined;
      if (late) await late();
      return inner.update(record, rv, signal);
    },
  } satisfies LeaseLock & { updates: number };
  return lock;
}

describe('close() after an uncertain write that a later 409 seemed to settle', () => {
  it('leaves no Lease naming the closed contender', async () => {
    const clock = new FakeClock(T0);
    const memory = new MemoryLeaseLock(released);
    const lock = lateFirstUpdate(memory);
    const elector = new LeaseElector({ name: 'election', identity: 'me', clock, lock });
    void elector.start().catch(() => {});
    await clock.advance(0);
    // Attempt 1: get, then the acquiring update, whose answer never comes.
    assert.equal(lock.updates, 1);
    // The watch breaks (as it tends to when answers are lost).
    memory.pauseWatch();
    await clock.advance(10_000); // renewDeadlineMs: attempt 1 is aborted, outcome unknown
    assert.equal(memory.current?.record.holderIdentity, '', 'the first write has not landed yet');
    await clock.advance(4_400); // retry: get (still released), update on the same base
    assert.equal(lock.updates, 2);
    // The late first write landed; the second was answered 409.
    assert.equal(memory.current?.record.holderIdentity, 'me', 'the late write landed');
    assert.equal(elector.isLeader, false);
    await elector.close();
    assert.notEqual(memory.current?.record.holderIdentity, 'me', 'close() left the Lease naming a contender that has gone');
  });
});
