import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../../src/errors.js';
import { Backoff } from '../../../src/kube/backoff.js';

describe('Backoff', () => {
  it('grows by factor up to maxMs when jitter is off', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 });
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.next()), [100, 200, 400, 800, 1000, 1000]);
    assert.equal(b.attempt, 6);
  });

  it('draws each delay from [(1 - jitter) * d, d]', () => {
    const low = new Backoff({ initialMs: 100, jitter: 0.5, random: () => 0.999999 });
    const high = new Backoff({ initialMs: 100, jitter: 0.5, random: () => 0 });
    assert.ok(Math.abs(low.next() - 50) < 0.01);
    assert.equal(high.next(), 100);
    assert.ok(Math.abs(low.next() - 100) < 0.01);
    assert.equal(high.next(), 200);
  });

  it('starts over after reset()', () => {
    const b = new Backoff({ initialMs: 10, jitter: 0 });
    b.next();
    b.next();
    b.reset();
    assert.equal(b.next(), 10);
  });

  it('rejects invalid options naming the option', () => {
    for (const [options, name] of [
      [{ initialMs: 0 }, 'initialMs'],
      [{ maxMs: -1 }, 'maxMs'],
      [{ initialMs: 500, maxMs: 100 }, 'maxMs'],
      [{ factor: 0.5 }, 'factor'],
      [{ jitter: 2 }, 'jitter'],
    ] as const) {
      assert.throws(() => new Backoff(options), (err: unknown) => err instanceof InvalidOptionError && err.code === 'INVALID_OPTION' && err.option === name);
    }
  });
});
