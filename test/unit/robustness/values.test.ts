/** The robustness workload's large values: unique, incompressible, checked byte for byte on read. */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { describeValue, largeValue } from '../../robustness/values.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('robustness values', () => {
  it('reads a large value back as its id and length', () => {
    const v = largeValue('2.1-17', 200_000);
    assert.equal(v.length, 200_000);
    assert.deepEqual(describeValue(v, text(v)), { value: '2.1-17', size: 200_000 });
    // Small values are their text.
    const small = new TextEncoder().encode('2.1-18');
    assert.deepEqual(describeValue(small, '2.1-18'), { value: '2.1-18' });
  });

  it('is incompressible and differs between ids', () => {
    const a = largeValue('1.0-1', 100_000);
    const b = largeValue('1.0-2', 100_000);
    assert.ok(gzipSync(a).length > 0.99 * a.length);
    assert.notDeepEqual(a.subarray(10), b.subarray(10));
  });

  it('marks a value whose bytes changed, or that was cut short, as corrupt', () => {
    const v = largeValue('3.0-5', 50_000);
    const flipped = v.slice();
    flipped[40_000] = flipped[40_000]! ^ 1;
    assert.equal(describeValue(flipped, text(flipped)).value, '3.0-5!corrupt');
    // Cut short, it still reads back intact as a shorter value: the size tells it apart.
    assert.deepEqual(describeValue(v.subarray(0, 1000), ''), { value: '3.0-5', size: 1000 });
  });
});
