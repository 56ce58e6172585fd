/** The skewable clock of the state workload (test/robustness/state-clock.ts), on real time (short waits). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RateClock } from '../../robustness/state-clock.js';

describe('RateClock', () => {
  it('runs monotonic time at its rate and stays continuous across a rate change', async () => {
    const clock = new RateClock(2);
    // Ratios against measured real time, so a loaded machine's late wake-ups do not matter.
    const rateOver = async (ms: number) => {
      const [m0, r0] = [clock.monotonic(), performance.now()];
      await sleep(ms);
      return (clock.monotonic() - m0) / (performance.now() - r0);
    };
    const fast = await rateOver(100);
    assert.ok(Math.abs(fast - 2) < 0.05, `2x clock ran at ${fast}`);
    const before = clock.monotonic();
    clock.setRate(0.5);
    const after = clock.monotonic();
    assert.ok(after >= before && after - before < 5, `the rate change jumped the clock by ${after - before} ms`);
    const slow = await rateOver(100);
    assert.ok(Math.abs(slow - 0.5) < 0.05, `0.5x clock ran at ${slow}`);
  });

  it('fires a timer when the skewed clock reaches its deadline, rescheduling it on a rate change', async () => {
    const clock = new RateClock(0.5);
    const deadline = clock.monotonic() + 100;
    let firedAt = 0;
    clock.setTimer(() => (firedAt = performance.now()), 100);
    await sleep(50); // about 25 ms of clock time at 0.5
    const changedAt = performance.now();
    const left = deadline - clock.monotonic();
    clock.setRate(2); // what is left of the 100 ms now passes twice as fast
    await sleep(200);
    const expected = changedAt + left / 2;
    // Never early; late only by the machine's scheduling.
    assert.ok(firedAt >= expected - 2 && firedAt < expected + 60, `fired ${(firedAt - expected).toFixed(1)} ms after the skewed deadline`);
  });

  it('cancels a timer and rejects a rate that is not positive', async () => {
    const clock = new RateClock();
    let fired = false;
    clock.setTimer(() => (fired = true), 20).cancel();
    clock.setRate(4);
    await sleep(50);
    assert.equal(fired, false);
    assert.throws(() => clock.setRate(0), /not a positive number/);
  });
});
