/**
 * ManualClock (kubekv/testing): time that moves only when a test says so.
 * What tests rely on beyond firing due timers in order: advances made at
 * once add up, a clock that follows another (each store's and replica's
 * clock follows the one a test gives) keeps its timers' times after a test
 * control leaps it ahead, and bad arguments are InvalidOptionErrors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/testing/index.js';

describe('ManualClock', () => {
  it('advance() calls made at once each move time by their own ms, firing timers in order', async () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    for (const ms of [1_500, 500, 2_000]) clock.setTimer(() => fired.push(ms), ms);
    await Promise.all([clock.advance(1_000), clock.advance(1_000)]);
    assert.equal(clock.monotonic(), 2_000);
    assert.deepEqual(fired, [500, 1_500, 2_000]);
  });

  it('a following clock leapt ahead fires a pending timer when it falls due on it, not as late as the leap', async () => {
    const base = new ManualClock();
    const clock = ManualClock.following(base);
    let fired = false;
    clock.setTimer(() => (fired = true), 200);
    await clock.leap(150);
    await base.advance(49);
    assert.equal(fired, false);
    await base.advance(1);
    assert.equal(fired, true);
    assert.equal(clock.pendingTimers, 0);
  });

  it('re-books its pending timers after a leap even when a timer fired on the way throws', async () => {
    const base = new ManualClock();
    const clock = ManualClock.following(base);
    let fired = false;
    clock.setTimer(() => {
      throw new Error('boom');
    }, 10);
    clock.setTimer(() => (fired = true), 200);
    // The leap ends where the throwing timer fell due: 10 ms ahead of the base clock.
    await assert.rejects(clock.leap(150), /boom/);
    await base.advance(189);
    assert.equal(fired, false);
    await base.advance(1);
    assert.equal(fired, true);
  });

  it('refuses a wall time or a step that is not a finite number of ms', async () => {
    assert.throws(() => new ManualClock('2030-01-01' as unknown as number), { code: 'INVALID_OPTION', option: 'wallStart' });
    const clock = new ManualClock();
    assert.throws(() => clock.setWall(Number.NaN), { code: 'INVALID_OPTION', option: 'ms' });
    await assert.rejects(clock.advance(-1), { code: 'INVALID_OPTION', option: 'ms' });
    clock.setWall(Date.UTC(2031, 0, 1));
    assert.equal(clock.now(), Date.UTC(2031, 0, 1));
  });
});
