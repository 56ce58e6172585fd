/** The robustness workload's key set: its encodings are what the README says they are. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeKey, encodeKey } from '../../../src/codec/key.js';
import { adversarialKeys, foreignPrefix, longestKey, plainKeys, workloadKeys } from '../../robustness/keys.js';

describe('robustness keys', () => {
  it('stores the adversarial keys under the ConfigMap keys the module doc names', () => {
    const expected: Record<string, string> = {
      '/proto/': '__proto__',
      constructor: 'constructor',
      a_b: 'a_b',
      'a/b': 'a__b',
      a__b: 'a_5F_b',
      a_5Fb: 'a_5F5Fb',
      '\u00e9': '_C3_A9',
      'e\u0301': 'e_CC_81',
      '\u{1F600}': '_F0_9F_98_80',
      'x/y': 'x__y',
      x__y: 'x_5F_y',
      '/': '__',
    };
    for (const [key, stored] of Object.entries(expected)) {
      assert.ok(adversarialKeys.includes(key), key);
      assert.equal(encodeKey(key), stored, key);
    }
    // Not in the literal above: there `__proto__: ...` would set its prototype.
    assert.ok(adversarialKeys.includes('__proto__'));
    assert.equal(encodeKey('__proto__'), '_5F_proto_5F_');
  });

  it('has a key whose encoding is exactly 253 characters', () => {
    assert.equal(encodeKey(longestKey).length, 253);
    assert.ok(adversarialKeys.includes(longestKey));
    assert.throws(() => encodeKey(`${longestKey}x`), { code: 'INVALID_KEY' });
  });

  it('keeps every key apart and round-trips it', () => {
    const keys = workloadKeys('adversarial');
    assert.equal(new Set(keys.map((k) => encodeKey(k))).size, keys.length);
    for (const k of keys) assert.equal(decodeKey(encodeKey(k)), k);
    assert.deepEqual(workloadKeys('plain'), plainKeys);
    // The hand edits' keys are no workload key's.
    for (const k of keys) assert.ok(!k.startsWith(foreignPrefix) && !decodeKey(encodeKey(k)).startsWith(foreignPrefix));
    // History lines round-trip them exactly (JSON).
    assert.deepEqual(JSON.parse(JSON.stringify(keys)), keys);
  });
});
