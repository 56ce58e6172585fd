/**
 * A sweeper whose clock runs fast IN RATE (not an offset: a wall clock
 * set wrong is harmless, see expiry.test.ts), on the fake cluster with
 * ManualClocks stepped side by side: real time moves 100 ms a step, the
 * writer's or owner's clock 100 ms, the sweeper's r × 100 ms.
 *
 * What kubekv promises (docs/semantics.md "Clocks"), as client-go does for
 * Leases: clocks run at the right rate. These tests show the bound when
 * they do not:
 * - a key with a TTL goes ttlMs / r after its write, early by the rate;
 * - a session's owner gives up (its signal aborts) 2/3 of the TTL after
 *   its last successful renewal, and a sweeper ends the session TTL / r
 *   after it saw that renewal, so the owner never holds a session whose
 *   keys are gone while r < 1.5 (TTL / renew deadline, client-go's
 *   leaseDuration / renewDeadline); at r = 1.6 it does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigMapStore } from '../../../src/index.js';
import { networkError } from '../../../src/testing/fake-cluster.js';
import { FakeCluster, ManualClock } from '../../../src/testing/index.js';
import { sessionPair } from '../../support/session-pair.js';
import { waitFor } from '../../support/wait.js';

const STEP = 100;

/** Steps real time until `done()` holds (at most `maxMs`): each clock moves STEP × its rate. Returns the real ms elapsed. */
async function stepUntil(clocks: [ManualClock, number][], done: () => boolean | Promise<boolean>, maxMs: number): Promise<number> {
  for (let real = STEP; real <= maxMs; real += STEP) {
    for (const [clock, rate] of clocks) await clock.advance(STEP * rate);
    // Let the commits and watch events the timers started settle.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    if (await done()) return real;
  }
  throw new Error(`not done within ${maxMs} ms of real time`);
}

describe('a sweeper whose clock runs fast in rate', () => {
  it('deletes a key ttlMs / r after its write: early by the rate, no more', async () => {
    const TTL = 10_000;
    for (const rate of [1, 1.25]) {
      const cluster = new FakeCluster();
      const writerClock = new ManualClock();
      const sweeperClock = new ManualClock();
      const writer = await ConfigMapStore.open({ name: 'app', namespace: 'rate', api: cluster.api, create: true, clock: writerClock, sweep: false });
      const sweeper = await ConfigMapStore.open({ name: 'app', namespace: 'rate', api: cluster.api, clock: sweeperClock });
      try {
        const put = await writer.put('k', 'v', { ttlMs: TTL });
        await waitFor(async () => (await sweeper.get('k'))?.lastIndex === put.lastIndex, 'the sweeper to see the write');
        const stored = () => (cluster.object('configmaps', 'rate', 'app') as { data?: Record<string, string> } | undefined)?.data?.['k'];
        const gone = await stepUntil([[writerClock, 1], [sweeperClock, rate]], () => stored() === undefined, 2 * TTL);
        // Due at TTL on the sweeper's clock, which it reaches after TTL / rate of real time (to the step).
        assert.equal(gone, Math.ceil(TTL / rate / STEP) * STEP, `rate ${rate}`);
      } finally {
        await sweeper.close();
        await writer.close();
      }
    }
  });

  it("ends a session whose owner's renewals fail TTL / r after the last one it saw; the owner gives up at 2/3 of the TTL, first while r < 1.5", async () => {
    const TTL = 6000;
    const outcome: Record<number, { aborted: number; gone: number }> = {};
    for (const rate of [1, 1.4, 1.6]) {
      await using pair = await sessionPair(TTL);
      const { cluster, ownerClock, sweeperClock, session } = pair;
      // Let the sweeper's watch of the session Lease deliver its first sight (no time passes).
      await sweeperClock.advance(0);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      // From now on every renewal fails (the owner is cut off from the API server); its last success is the acquisition.
      // The sweeper's deletion of the ended Lease is refused too, so the owner learns nothing from it: only its own deadline tells it.
      cluster.fake.react((request) => request.resource === 'leases' && (request.verb === 'update' || request.verb === 'delete'), () => Promise.reject(networkError('ECONNREFUSED', 'the owner is cut off')));
      let aborted: number | undefined;
      let real = 0;
      session.signal.addEventListener('abort', () => (aborted = real));
      const stored = () => (cluster.fake.object('configmaps', 'default', 'app') as { data?: Record<string, string> } | undefined)?.data?.['k'];
      for (real = STEP; stored() !== undefined && real <= 2 * TTL; real += STEP) {
        await ownerClock.advance(STEP);
        await sweeperClock.advance(STEP * rate);
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      }
      const gone = real - STEP;
      await stepUntil([[ownerClock, 1], [sweeperClock, rate]], () => aborted !== undefined, 2 * TTL).catch(() => {});
      outcome[rate] = { aborted: aborted ?? Infinity, gone };
    }
    // The owner gives up no later than 2/3 of the TTL after its last success (to the step).
    for (const rate of [1, 1.4, 1.6]) assert.ok(outcome[rate]!.aborted <= (2 * TTL) / 3 + STEP, JSON.stringify(outcome));
    // The sweeper ends the session TTL / r after it saw the acquisition (to the step).
    for (const rate of [1, 1.4, 1.6]) assert.equal(outcome[rate]!.gone, Math.ceil(TTL / rate / STEP) * STEP, JSON.stringify(outcome));
    // Below 1.5 the owner knows first; at 1.6 its keys are gone while it still believes it holds the session.
    assert.ok(outcome[1]!.aborted < outcome[1]!.gone && outcome[1.4]!.aborted < outcome[1.4]!.gone, JSON.stringify(outcome));
    assert.ok(outcome[1.6]!.gone < outcome[1.6]!.aborted, JSON.stringify(outcome));
  });
});
