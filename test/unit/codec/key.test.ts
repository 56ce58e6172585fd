/**
 * Key encoding: the properties every key must have (round trip, valid
 * ConfigMap syntax, injectivity, plain keys unchanged) over generated keys,
 * then one example per rule of the scheme in src/codec/key.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidKeyError } from '../../../src/errors.js';
import { MAX_CONFIGMAP_KEY_LENGTH, decodeKey, encodeKey, isValidConfigMapKey } from '../../../src/codec/key.js';

/** Asserts `fn` throws an InvalidKeyError (class and code) whose message matches `pattern`. */
function assertInvalidKey(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidKeyError, `expected InvalidKeyError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_KEY');
    assert.match(err.message, pattern);
    return true;
  });
}

// Characters that exercise every rule: plain, escape, slash, dots, hex digits
// (upper and lower case) and multi-byte characters, so hex-looking sequences
// after `_` come up often. At most 6 encoded characters each ('é'), so 40 of
// them always fit in 253.
const tricky = fc.constantFrom('_', '/', '.', '-', 'A', 'B', 'F', '0', '2', '5', 'E', 'a', 'f', 'z', ' ', 'é', '%');
const keyArbitraries = {
  // 'binary' is any code point but a lone surrogate (up to 12 encoded characters).
  binary: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
  grapheme: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }),
  ascii: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 80 }),
  tricky: fc.string({ unit: tricky, minLength: 1, maxLength: 40 }),
};
const plainChar = fc.constantFrom(...'-.aZ09xY.'.split(''));

describe('encodeKey / decodeKey properties', () => {
  for (const [name, arb] of Object.entries(keyArbitraries)) {
    it(`round-trips and yields a valid ConfigMap key (${name} strings)`, () => {
      fc.assert(
        fc.property(arb, (key) => {
          // Every generated key is short enough to encode, so no throw is expected.
          const encoded = encodeKey(key);
          assert.ok(isValidConfigMapKey(encoded), `${JSON.stringify(encoded)} is not a valid ConfigMap key`);
          assert.equal(decodeKey(encoded), key);
        }),
        { numRuns: 500 },
      );
    });
  }

  it('is injective: different keys never share an encoding', () => {
    // A small alphabet makes near-collisions such as "a_5F" vs "a__" likely.
    const small = fc.string({ unit: fc.constantFrom('_', '/', '5', 'F', '.', 'é'), minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(small, small, (a, b) => {
        fc.pre(a !== b);
        assert.notEqual(encodeKey(a), encodeKey(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps plain keys ([-.a-zA-Z0-9]+, not "." or "..", not starting with "..") unchanged', () => {
    const plain = fc
      .string({ unit: plainChar, minLength: 1, maxLength: MAX_CONFIGMAP_KEY_LENGTH })
      .filter((k) => k !== '.' && !k.startsWith('..'));
    fc.assert(fc.property(plain, (key) => assert.equal(encodeKey(key), key)));
  });

  it('escapes only the leading dot of a plain key that is "." or starts with ".."', () => {
    const dotted = fc.string({ unit: plainChar, maxLength: 20 }).map((rest) => `..${rest}`);
    fc.assert(fc.property(fc.oneof(dotted, fc.constant('.')), (key) => assert.equal(encodeKey(key), `_2E${key.slice(1)}`)));
  });

  it('decodeKey never throws, and returns either the key that encodes to its input or its input unchanged', () => {
    const configMapLike = fc.string({ unit: fc.constantFrom('_', '.', '-', 'A', 'C', 'F', '0', '3', '5', '9', 'b'), maxLength: 30 });
    fc.assert(
      fc.property(fc.oneof(configMapLike, fc.string({ unit: 'binary' })), (raw) => {
        const decoded = decodeKey(raw);
        if (decoded !== raw) assert.equal(encodeKey(decoded), raw);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects every string containing a lone surrogate', () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u));
    fc.assert(
      fc.property(fc.string({ maxLength: 5 }), lone, fc.string({ maxLength: 5 }), (before, surrogate, after) => {
        // A high surrogate followed by a generated low one would be a valid pair; the ASCII
        // generator cannot produce one, so `surrogate` stays alone.
        assertInvalidKey(() => encodeKey(before + surrogate + after), /lone surrogate/);
      }),
    );
  });
});

describe('encodeKey rules', () => {
  it('writes "/" as "__"', () => {
    assert.equal(encodeKey('config/db/host'), 'config__db__host');
    assert.equal(encodeKey('/'), '__');
    assert.equal(encodeKey('//'), '____');
  });

  it('writes other characters as their UTF-8 bytes in uppercase hex', () => {
    assert.equal(encodeKey(' '), '_20'); // U+0020 is the single byte 0x20
    assert.equal(encodeKey('é'), '_C3_A9'); // U+00E9 is C3 A9 in UTF-8
    assert.equal(encodeKey('😀'), '_F0_9F_98_80'); // U+1F600, a surrogate pair, is 4 bytes
    assert.equal(encodeKey('a:b'), 'a_3Ab'); // ':' is 0x3A
    assert.equal(encodeKey('\u0000'), '_00');
  });

  it('keeps a literal "_" when it cannot be misread', () => {
    assert.equal(encodeKey('DB_HOST'), 'DB_HOST'); // 'H' is not a hex digit
    assert.equal(encodeKey('a_'), 'a_'); // trailing
    assert.equal(encodeKey('_'), '_');
    assert.equal(encodeKey('_A'), '_A'); // one hex digit, then the end
    assert.equal(encodeKey('a_Bz'), 'a_Bz'); // 'z' is not a hex digit
    assert.equal(encodeKey('a_bc'), 'a_bc'); // lowercase is never an escape
    assert.equal(encodeKey('_Aé'), '_A_C3_A9'); // the escape after 'A' starts with '_', not a hex digit
  });

  it('writes "_" as "_5F" when a literal one would read as "__" or "_XY"', () => {
    assert.equal(encodeKey('a_BC'), 'a_5FBC');
    assert.equal(encodeKey('a__b'), 'a_5F_b'); // the first "_" precedes "_"; the second precedes "b"
    assert.equal(encodeKey('_/'), '_5F__'); // "/" encodes to "__"
    assert.equal(encodeKey('_ '), '_5F_20'); // " " encodes to "_20"
    assert.equal(encodeKey('_5F'), '_5F5F');
  });

  it('escapes the leading dot of ".", ".." and keys starting with ".."', () => {
    assert.equal(encodeKey('.'), '_2E');
    assert.equal(encodeKey('..'), '_2E.');
    assert.equal(encodeKey('..x'), '_2E.x');
    assert.equal(encodeKey('.x'), '.x'); // a single leading dot is allowed
    assert.equal(encodeKey('x..'), 'x..');
  });

  it('rejects a non-string key', () => {
    for (const key of [42, null, undefined, Buffer.from('a'), ['a'], { key: 'a' }]) {
      assertInvalidKey(() => encodeKey(key), /expected a string/);
    }
  });

  it('rejects the empty key', () => {
    assertInvalidKey(() => encodeKey(''), /empty/);
  });

  it('rejects lone surrogates', () => {
    assertInvalidKey(() => encodeKey('\uD800'), /lone surrogate/);
    assertInvalidKey(() => encodeKey('a\uDC00b'), /lone surrogate/);
    assertInvalidKey(() => encodeKey('\uDE00\uD83D'), /lone surrogate/); // a pair in the wrong order
  });

  it('accepts keys up to 253 encoded characters and rejects longer ones, naming both lengths', () => {
    assert.equal(encodeKey('a'.repeat(253)), 'a'.repeat(253));
    assertInvalidKey(() => encodeKey('a'.repeat(254)), /254 characters.*at most 253/);
    // Each 'é' takes 6 characters: 42 of them take 252.
    assert.equal(encodeKey(`${'é'.repeat(42)}a`).length, 253);
    assertInvalidKey(() => encodeKey(`${'é'.repeat(42)}ab`), /254 characters.*at most 253/);
    assertInvalidKey(() => encodeKey('é'.repeat(100)), /600 characters.*at most 253/);
  });

  it('keeps the message short for a huge key', () => {
    assert.throws(
      () => encodeKey('x'.repeat(1_000_000)),
      (err: unknown) => err instanceof InvalidKeyError && err.message.length < 200 && err.message.includes('1000000'),
    );
  });
});

describe('decodeKey', () => {
  it('decodes each escape', () => {
    assert.equal(decodeKey('config__db__host'), 'config/db/host');
    assert.equal(decodeKey('_C3_A9t_C3_A9'), 'été'); // a run of byte escapes is one UTF-8 sequence
    assert.equal(decodeKey('a_5F_b'), 'a__b');
    assert.equal(decodeKey('_2E.'), '..');
    assert.equal(decodeKey('DB_HOST'), 'DB_HOST');
    assert.equal(decodeKey('x_'), 'x_');
  });

  it('returns a key kubekv would not have written unchanged', () => {
    // Each decodes, but encodeKey of the result is a different ConfigMap key,
    // so reading it as the decoded key would alias two ConfigMap keys.
    assert.equal(decodeKey('a_5Fb'), 'a_5Fb'); // "a_b" is written "a_b"
    assert.equal(decodeKey('_41'), '_41'); // "A" is written "A"
    assert.equal(decodeKey('_2F'), '_2F'); // "/" is written "__"
    assert.equal(decodeKey('_2Ex'), '_2Ex'); // ".x" is written ".x"
    assert.equal(decodeKey('_5F'), '_5F'); // a lone "_" is written "_"
  });

  it('returns a key whose escapes are not UTF-8 unchanged', () => {
    assert.equal(decodeKey('_FF'), '_FF'); // 0xFF never occurs in UTF-8
    assert.equal(decodeKey('_C3'), '_C3'); // a truncated 2-byte sequence
    assert.equal(decodeKey('_C3x'), '_C3x');
    assert.equal(decodeKey('_ED_A0_80'), '_ED_A0_80'); // the UTF-8 form of a surrogate
    assert.equal(decodeKey('_C0_AF'), '_C0_AF'); // an overlong "/"
  });

  it('returns a string that is not a valid ConfigMap key unchanged', () => {
    for (const raw of ['', 'a b', 'é', '.', '..', '..x', 'a'.repeat(254)]) assert.equal(decodeKey(raw), raw);
  });

  it('keeps a byte-order mark, which a default TextDecoder would strip', () => {
    assert.equal(encodeKey('\uFEFFx'), '_EF_BB_BFx'); // U+FEFF is EF BB BF in UTF-8
    assert.equal(decodeKey('_EF_BB_BFx'), '\uFEFFx');
    assert.equal(decodeKey('a_EF_BB_BF'), 'a\uFEFF');
  });

  it('treats lowercase hex after "_" as literal text', () => {
    assert.equal(decodeKey('_c3_a9'), '_c3_a9');
    assert.equal(encodeKey('_c3_a9'), '_c3_a9');
  });
});

describe('isValidConfigMapKey', () => {
  it('accepts the ConfigMap key alphabet up to 253 characters', () => {
    for (const k of ['a', 'A-z.0_9', '_', '.x', 'x..', 'a'.repeat(253)]) assert.ok(isValidConfigMapKey(k), k);
  });

  it('rejects empty, too long, other characters, ".", ".." and a ".." prefix', () => {
    for (const k of ['', 'a'.repeat(254), 'a/b', 'a b', 'é', '.', '..', '..x', '...']) assert.ok(!isValidConfigMapKey(k), k);
  });
});
