/**
 * Value encoding: round trips over generated values with compression on and
 * off, then the field chosen, the header, compression thresholds, size
 * accounting, and every decode error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import pako from 'pako';
import { FormatError, InvalidValueError, ValueTooLargeError } from '../../../src/errors.js';
import { dataSize, MAX_DATA_BYTES } from '../../../src/codec/format.js';
import {
  ENCODING_GZIP,
  ENCODING_RAW,
  VALUE_MAGIC,
  checkValueSize,
  decodeValue,
  encodeValue,
  validateValue,
  type CompressionOptions,
  type EncodedValue,
} from '../../../src/codec/value.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const fromBase64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const toBase64 = (bytes: Iterable<number>): string => Buffer.from([...bytes]).toString('base64');
const header = (encoding: number): number[] => [...VALUE_MAGIC, encoding];
/** Deterministic bytes that no compressor can shrink (SHA-256 output chained). */
function incompressible(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let block = createHash('sha256').update('seed').digest();
  for (let i = 0; i < length; i += block.length) {
    out.set(block.subarray(0, Math.min(block.length, length - i)), i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

function assertFormatError(fn: () => unknown, key: string, pattern: RegExp, what = ''): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `${what}: expected FormatError, got ${String(err)}`);
    assert.equal(err.code, 'FORMAT_ERROR');
    assert.equal(err.key, key);
    assert.match(err.message, pattern, what);
    assert.ok(err.message.includes(JSON.stringify(key)), 'the message names the key');
    return true;
  }, `${what}: no error thrown`);
}

const compressionModes: Record<string, CompressionOptions> = {
  default: {},
  off: { enabled: false },
  always: { minBytes: 0, minSavings: 0 },
};

describe('encodeValue / decodeValue properties', () => {
  // Runs of repeated bytes make compressible values; plain uint8Array covers the rest.
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 500 })), { maxLength: 10 }).map(
      (runs) => new Uint8Array(runs.flatMap(([b, n]) => Array<number>(n).fill(b))),
    ),
  );

  for (const [mode, options] of Object.entries(compressionModes)) {
    it(`round-trips arbitrary bytes, with size as the API server counts it (compression ${mode})`, () => {
      fc.assert(
        fc.property(bytes, (value) => {
          const encoded = encodeValue(value, options);
          assert.deepEqual(decodeValue(encoded.field, encoded.stored, 'k'), value);
          const fields = { [encoded.field]: { k: encoded.stored } };
          assert.equal(encoded.size, dataSize(fields.data, fields.binaryData));
        }),
        { numRuns: 200 },
      );
    });
  }

  it('stores any string as text in data when compression is off', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (s) => {
        const encoded = encodeValue(validateValue(s), { enabled: false });
        assert.equal(encoded.field, 'data');
        assert.equal(encoded.stored, s);
        assert.deepEqual(decodeValue('data', encoded.stored, 'k'), utf8(s));
      }),
    );
  });

  it('stores strings under 1024 bytes as text in data by default', () => {
    const short = fc.string({ unit: 'grapheme', maxLength: 100 }).filter((s) => utf8(s).length < 1024);
    fc.assert(fc.property(short, (s) => assert.deepEqual(encodeValue(utf8(s)), { field: 'data', stored: s, size: utf8(s).length })));
  });
});

describe('encodeValue', () => {
  it('stores UTF-8 text in data, counting bytes rather than characters', () => {
    assert.deepEqual(encodeValue(utf8('hello')), { field: 'data', stored: 'hello', size: 5 });
    assert.deepEqual(encodeValue(utf8('é')), { field: 'data', stored: 'é', size: 2 });
    assert.deepEqual(encodeValue(new Uint8Array()), { field: 'data', stored: '', size: 0 });
  });

  it('keeps a leading byte-order mark', () => {
    const value = new Uint8Array([0xef, 0xbb, 0xbf, 0x41]); // U+FEFF then "A"
    const encoded = encodeValue(value);
    assert.deepEqual(encoded, { field: 'data', stored: '\uFEFFA', size: 4 });
    assert.deepEqual(decodeValue(encoded.field, encoded.stored, 'k'), value);
  });

  it('stores bytes that are not UTF-8 raw in binaryData behind the "\\0KVr" header', () => {
    const encoded = encodeValue(new Uint8Array([0xff, 0x00]));
    assert.equal(encoded.field, 'binaryData');
    assert.deepEqual(fromBase64(encoded.stored), new Uint8Array([0x00, 0x4b, 0x56, 0x72, 0xff, 0x00]));
    assert.equal(encoded.size, 6); // decoded bytes, not base64 characters
  });

  it('gzips a compressible value of at least 1024 bytes, readable with a standard gunzip after the header', () => {
    const value = utf8('a'.repeat(1024));
    const encoded = encodeValue(value);
    assert.equal(encoded.field, 'binaryData');
    const stored = fromBase64(encoded.stored);
    assert.deepEqual([...stored.subarray(0, 4)], [0x00, 0x4b, 0x56, 0x7a]);
    assert.deepEqual(new Uint8Array(gunzipSync(stored.subarray(4))), value);
    assert.equal(encoded.size, stored.length);
    assert.ok(encoded.size < 1024 * 0.9);
  });

  it('does not compress below minBytes', () => {
    assert.equal(encodeValue(utf8('a'.repeat(1023))).field, 'data');
    assert.equal(encodeValue(utf8('a'.repeat(99)), { minBytes: 100 }).field, 'data');
    assert.equal(encodeValue(utf8('a'.repeat(100)), { minBytes: 100 }).field, 'binaryData');
  });

  it('does not compress when disabled', () => {
    assert.equal(encodeValue(utf8('a'.repeat(5000)), { enabled: false }).field, 'data');
  });

  it('compresses only when the saving, header included, reaches minSavings', () => {
    // Base64 text carries 6 bits per byte: gzip saves roughly a quarter of it.
    const text = utf8(Buffer.from(incompressible(3000)).toString('base64'));
    const saving = (text.length - (4 + pako.gzip(text).length)) / text.length;
    assert.ok(saving > 0.1 && saving < 0.5, `saving ${saving}`);
    assert.equal(encodeValue(text, { minSavings: saving - 0.001 }).field, 'binaryData');
    assert.equal(encodeValue(text, { minSavings: saving + 0.001 }).field, 'data');
    assert.equal(encodeValue(text).field, 'binaryData'); // default 0.1
  });

  it('stores incompressible binary raw even when it is large', () => {
    const value = incompressible(4096);
    const encoded = encodeValue(value);
    assert.equal(encoded.field, 'binaryData');
    assert.equal(fromBase64(encoded.stored)[3], ENCODING_RAW);
    assert.equal(encoded.size, 4 + 4096);
  });
});

describe('decodeValue', () => {
  it('returns the UTF-8 bytes of a data value', () => {
    assert.deepEqual(decodeValue('data', 'héllo', 'k'), new Uint8Array([0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f]));
  });

  it('returns a binaryData value without the magic as is (written with kubectl)', () => {
    assert.deepEqual(decodeValue('binaryData', toBase64([1, 2, 3]), 'k'), new Uint8Array([1, 2, 3]));
    assert.deepEqual(decodeValue('binaryData', '', 'k'), new Uint8Array());
    assert.deepEqual(decodeValue('binaryData', toBase64([0x00, 0x4b]), 'k'), new Uint8Array([0x00, 0x4b])); // part of the magic
    assert.deepEqual(decodeValue('binaryData', toBase64([0x4b, 0x56, 0x72, 9]), 'k'), new Uint8Array([0x4b, 0x56, 0x72, 9]));
  });

  it('returns a plain Uint8Array, not a Buffer view of a shared pool', () => {
    const value = decodeValue('binaryData', toBase64([...header(ENCODING_RAW), 7]), 'k');
    assert.equal(Object.getPrototypeOf(value), Uint8Array.prototype);
    assert.equal(value.buffer.byteLength, value.byteLength);
  });

  it('unwraps raw and gzip payloads', () => {
    assert.deepEqual(decodeValue('binaryData', toBase64([...header(ENCODING_RAW), 9, 8]), 'k'), new Uint8Array([9, 8]));
    assert.deepEqual(decodeValue('binaryData', toBase64(header(ENCODING_RAW)), 'k'), new Uint8Array());
    const gz = pako.gzip(utf8('x'.repeat(50)));
    assert.deepEqual(decodeValue('binaryData', toBase64([...header(ENCODING_GZIP), ...gz]), 'k'), utf8('x'.repeat(50)));
  });

  it('rejects binaryData that is not strict base64', () => {
    for (const bad of ['AAA', 'QUJD!', 'QUJD\n', 'QQ=', 'QQ', 'AA=A', 'QR==', 'QU JD']) {
      assertFormatError(() => decodeValue('binaryData', bad, 'my/key'), 'my/key', /not valid base64/, JSON.stringify(bad));
    }
  });

  it('rejects a corrupt gzip payload', () => {
    const gz = pako.gzip(utf8('some text, some text, some text'));
    const flipped = gz.slice();
    flipped[flipped.length - 5] = (flipped[flipped.length - 5] ?? 0) ^ 1; // inside the CRC-32 trailer
    const corrupt = {
      garbage: [1, 2, 3, 4, 5],
      empty: [],
      truncated: [...gz.subarray(0, gz.length - 4)],
      'bad checksum': [...flipped],
      'zlib, not gzip': [...pako.deflate(utf8('text'))],
    };
    for (const [name, payload] of Object.entries(corrupt)) {
      const stored = toBase64([...header(ENCODING_GZIP), ...payload]);
      assertFormatError(() => decodeValue('binaryData', stored, 'k1'), 'k1', /not valid gzip/, name);
    }
  });

  it('rejects an unknown encoding byte as a newer format', () => {
    assertFormatError(() => decodeValue('binaryData', toBase64([...header(0x78), 1]), 'k2'), 'k2', /newer kubekv format.*0x78/);
    assertFormatError(() => decodeValue('binaryData', toBase64(header(0x00)), 'k2'), 'k2', /newer kubekv format.*0x00/);
  });

  it('rejects the magic without an encoding byte', () => {
    assertFormatError(() => decodeValue('binaryData', toBase64(VALUE_MAGIC), 'k3'), 'k3', /without an encoding byte/);
  });
});

describe('validateValue', () => {
  it('returns a Uint8Array or Buffer as is', () => {
    const bytes = new Uint8Array([1, 2]);
    const buffer = Buffer.from([3]);
    assert.equal(validateValue(bytes), bytes);
    assert.equal(validateValue(buffer), buffer);
  });

  it('encodes a string as UTF-8', () => {
    assert.deepEqual(validateValue('é'), new Uint8Array([0xc3, 0xa9]));
    assert.deepEqual(validateValue(''), new Uint8Array());
  });

  it('rejects other types, naming the type received', () => {
    const cases: [unknown, RegExp][] = [
      [42, /got number/],
      [null, /got null/],
      [undefined, /got undefined/],
      [true, /got boolean/],
      [new ArrayBuffer(2), /got ArrayBuffer/],
      [new Uint16Array(2), /got Uint16Array/],
      [[1, 2], /got Array/],
      [{}, /got Object/],
      [Object.create(null), /got object/],
    ];
    for (const [value, pattern] of cases) {
      assert.throws(() => validateValue(value), (err: unknown) => {
        assert.ok(err instanceof InvalidValueError);
        assert.equal(err.code, 'INVALID_VALUE');
        assert.match(err.message, pattern);
        return true;
      });
    }
  });

  it('rejects a string with a lone surrogate instead of storing U+FFFD', () => {
    assert.throws(() => validateValue('a\uD800'), (err: unknown) => err instanceof InvalidValueError && err.code === 'INVALID_VALUE');
  });
});

describe('checkValueSize', () => {
  const sized = (size: number): EncodedValue => ({ field: 'binaryData', stored: '', size });

  it('accepts a value up to the whole data limit', () => {
    assert.doesNotThrow(() => checkValueSize('k', sized(MAX_DATA_BYTES)));
  });

  it('rejects a larger value, naming key, size and limit', () => {
    assert.throws(() => checkValueSize('big', sized(MAX_DATA_BYTES + 1)), (err: unknown) => {
      assert.ok(err instanceof ValueTooLargeError);
      assert.equal(err.code, 'VALUE_TOO_LARGE');
      assert.deepEqual([err.key, err.size, err.limit], ['big', MAX_DATA_BYTES + 1, 1_048_576]);
      return true;
    });
  });
});
