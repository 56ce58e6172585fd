/**
 * The Event throttle on an injected clock (no sleeps): a burst per reason,
 * then one event per refill period; reasons do not share tokens; an event
 * identical to the last one about the same object is dropped within the
 * window (at no token cost), not after it, and not when something else
 * happened in between.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventThrottle, TokenBucket } from '../../../src/events/index.js';
import { FakeClock } from '../../support/fake-clock.js';

const event = (note: string, reason = 'LeaderElection', objectKey = 'Lease/ns/app-leader') => ({ objectKey, type: 'Normal', reason, action: 'BecomeLeader', note });

describe('TokenBucket', () => {
  it('allows a burst, then one token per refill period, never more than the burst', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(3, 1000, clock.monotonic());
    assert.deepEqual([1, 2, 3, 4].map(() => bucket.take(clock.monotonic())), [true, true, true, false]);
    await clock.advance(999);
    assert.equal(bucket.take(clock.monotonic()), false, 'not a whole token yet');
    await clock.advance(1);
    assert.equal(bucket.take(clock.monotonic()), true);
    assert.equal(bucket.take(clock.monotonic()), false);
    await clock.advance(60_000);
    assert.deepEqual([1, 2, 3, 4].map(() => bucket.take(clock.monotonic())), [true, true, true, false], 'a long pause refills to the burst only');
  });

  it('a clock reading from the past counts as no time passed', () => {
    const bucket = new TokenBucket(1, 1000, 5000);
    assert.equal(bucket.take(5000), true);
    assert.equal(bucket.take(0), false);
    assert.equal(bucket.take(5999), false);
    assert.equal(bucket.take(6000), true);
  });
});

describe('EventThrottle', () => {
  it('rate-limits per reason with the given burst and refill', async () => {
    const clock = new FakeClock();
    const throttle = new EventThrottle({ burst: 2, refillMs: 10_000 });
    const admit = (note: string, reason?: string) => throttle.admit(event(note, reason), clock.monotonic());
    assert.equal(admit('a became leader'), 'send');
    assert.equal(admit('a stopped leading'), 'send');
    assert.equal(admit('b became leader'), 'rate-limited');
    assert.equal(admit('a was fenced', 'Fenced'), 'send', 'another reason has tokens of its own');
    await clock.advance(10_000);
    assert.equal(admit('b became leader'), 'send');
    assert.equal(admit('b stopped leading'), 'rate-limited');
  });

  it("defaults to client-go's spam filter: a burst of 25, then one per 5 minutes", async () => {
    const clock = new FakeClock();
    const throttle = new EventThrottle();
    const results = Array.from({ length: 26 }, (_, i) => throttle.admit(event(`note ${i}`), clock.monotonic()));
    assert.equal(results.filter((r) => r === 'send').length, 25);
    assert.equal(results[25], 'rate-limited');
    await clock.advance(299_999);
    assert.equal(throttle.admit(event('late'), clock.monotonic()), 'rate-limited');
    await clock.advance(1);
    assert.equal(throttle.admit(event('late'), clock.monotonic()), 'send');
  });

  it('drops a repeat of the last event about the same object within the window, without spending a token', async () => {
    const clock = new FakeClock();
    const throttle = new EventThrottle({ burst: 2, refillMs: 1_000_000, dedupeWindowMs: 600_000 });
    const fencedA = event('a was fenced', 'Fenced');
    assert.equal(throttle.admit(fencedA, clock.monotonic()), 'send');
    assert.equal(throttle.admit(fencedA, clock.monotonic()), 'duplicate');
    await clock.advance(599_999);
    assert.equal(throttle.admit(fencedA, clock.monotonic()), 'duplicate');
    assert.equal(throttle.admit(event('a was fenced', 'Fenced', 'Lease/ns/other'), clock.monotonic()), 'send', 'the same event about another object is not a repeat');
    await clock.advance(1);
    assert.equal(throttle.admit(fencedA, clock.monotonic()), 'rate-limited', 'after the window it is an event again (and the two duplicates spent no token)');
  });

  it('an event identical to an earlier one is not a repeat when another came in between', () => {
    const clock = new FakeClock();
    const throttle = new EventThrottle();
    for (const note of ['a became leader', 'a stopped leading', 'a became leader']) {
      assert.equal(throttle.admit(event(note), clock.monotonic()), 'send', note);
    }
  });
});
