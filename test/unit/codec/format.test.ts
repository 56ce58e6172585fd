/**
 * Bucket metadata: the names docs/format.md promises, the per-key revision
 * index, the format version check, and size accounting as the API server
 * does it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BucketFullError, FormatError } from '../../../src/errors.js';
import {
  ANNOTATION_PREFIX,
  APP_NAME_LABEL,
  BUCKET_LABEL,
  EPOCH_ANNOTATION,
  FORMAT_ANNOTATION,
  FORMAT_VERSION,
  INDEX_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  MAX_ANNOTATIONS_BYTES,
  MAX_DATA_BYTES,
  REVISION_ANNOTATION,
  annotationsSize,
  checkBucketSize,
  dataSize,
  parseFormatVersion,
  parseIndex,
  serializeIndex,
} from '../../../src/codec/format.js';

function assertFormatError(fn: () => unknown, pattern: RegExp, what: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof FormatError, `${what}: expected FormatError, got ${String(err)}`);
      assert.equal(err.code, 'FORMAT_ERROR');
      assert.match(err.message, pattern, what);
      return true;
    },
    `${what}: no error thrown`,
  );
}

describe('format constants', () => {
  it('use the names documented in docs/format.md', () => {
    // These names are on every cluster kubekv ever wrote to: changing one is a format change.
    assert.equal(FORMAT_VERSION, 1);
    assert.deepEqual(
      [FORMAT_ANNOTATION, REVISION_ANNOTATION, INDEX_ANNOTATION, EPOCH_ANNOTATION, BUCKET_LABEL],
      ['kubekv.dev/format', 'kubekv.dev/revision', 'kubekv.dev/index', 'kubekv.dev/epoch', 'kubekv.dev/bucket'],
    );
    for (const name of [FORMAT_ANNOTATION, REVISION_ANNOTATION, INDEX_ANNOTATION, EPOCH_ANNOTATION, BUCKET_LABEL]) {
      assert.ok(name.startsWith(ANNOTATION_PREFIX), name);
    }
    assert.deepEqual([MANAGED_BY_LABEL, MANAGED_BY_VALUE, APP_NAME_LABEL], ['app.kubernetes.io/managed-by', 'kubekv', 'app.kubernetes.io/name']);
  });

  it('use the API server limits: 1 MiB of values, 256 KiB of annotations', () => {
    assert.equal(MAX_DATA_BYTES, 1024 * 1024);
    assert.equal(MAX_ANNOTATIONS_BYTES, 256 * 1024);
  });
});

describe('parseIndex / serializeIndex', () => {
  const index = fc
    .dictionary(fc.string({ unit: fc.constantFrom('a', 'B', '_', '.', '-', '1', '0'), minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }))
    .map((record) => new Map(Object.entries(record)));

  it('round-trips any index', () => {
    fc.assert(fc.property(index, (m) => assert.deepEqual(parseIndex(serializeIndex(m)), m)));
  });

  it('gives the same string for the same entries in any insertion order', () => {
    fc.assert(
      fc.property(index, (m) => {
        const reversed = new Map([...m].reverse());
        assert.equal(serializeIndex(reversed), serializeIndex(m));
      }),
    );
  });

  it('sorts keys by code unit, integer-like keys included', () => {
    // A plain object would put "10" first because it is an integer index, and "9" before it.
    const m = new Map([['b', 2], ['10', 3], ['a', 1], ['9', 4]]);
    assert.equal(serializeIndex(m), '{"10":3,"9":4,"a":1,"b":2}');
    assert.equal(serializeIndex(new Map()), '{}');
  });

  it('keeps a key named __proto__', () => {
    const m = new Map([['__proto__', 5]]);
    assert.equal(serializeIndex(m), '{"__proto__":5}');
    assert.deepEqual(parseIndex('{"__proto__":5}'), m);
  });

  it('reads an absent annotation as an empty index', () => {
    assert.equal(parseIndex(undefined).size, 0);
    assert.equal(parseIndex('{}').size, 0);
  });

  it('rejects malformed JSON, non-objects and revisions that are not positive integers', () => {
    for (const raw of ['', '{', 'not json', '{"a":1,}']) assertFormatError(() => parseIndex(raw), /not valid JSON/, raw);
    for (const raw of ['[]', '[1]', 'null', '42', '"x"', 'true']) assertFormatError(() => parseIndex(raw), /not a JSON object/, raw);
    for (const raw of ['{"a":0}', '{"a":-1}', '{"a":1.5}', '{"a":"1"}', '{"a":null}', '{"a":1e300}', '{"a":{}}']) {
      assertFormatError(() => parseIndex(raw), /not a positive integer.*"a"/, raw);
    }
  });

  it('refuses to serialize a revision it could not read back', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 60]) {
      assertFormatError(() => serializeIndex(new Map([['k', bad]])), /not a positive integer/, String(bad));
    }
  });
});

describe('parseFormatVersion', () => {
  it('reads a ConfigMap without the annotation as foreign', () => {
    assert.equal(parseFormatVersion(undefined), undefined);
    assert.equal(parseFormatVersion({}), undefined);
    assert.equal(parseFormatVersion({ 'other/annotation': '1' }), undefined);
  });

  it('reads the current version', () => {
    assert.equal(parseFormatVersion({ [FORMAT_ANNOTATION]: '1' }), 1);
  });

  it('reads format 2 (a head with chunks) and 3 (a head with a manifest chunk), and refuses a newer version, naming it', () => {
    assert.equal(parseFormatVersion({ [FORMAT_ANNOTATION]: '2' }), 2);
    assert.equal(parseFormatVersion({ [FORMAT_ANNOTATION]: '3' }), 3);
    assertFormatError(() => parseFormatVersion({ [FORMAT_ANNOTATION]: '4' }), /newer kubekv \(format 4\)/, '4');
    assertFormatError(() => parseFormatVersion({ [FORMAT_ANNOTATION]: '1000' }), /newer kubekv \(format 1000\)/, '1000');
  });

  it('refuses anything that is not a positive decimal integer', () => {
    for (const raw of ['', 'abc', '0', '-1', '1.0', '01', ' 1', '1 ', '0x1', '1e0', '99999999999999999999']) {
      assertFormatError(() => parseFormatVersion({ [FORMAT_ANNOTATION]: raw }), /not a format version/, JSON.stringify(raw));
    }
  });
});

describe('annotationsSize', () => {
  it('counts UTF-8 bytes of every key and value', () => {
    assert.equal(annotationsSize(undefined), 0);
    assert.equal(annotationsSize({}), 0);
    assert.equal(annotationsSize({ a: 'bc' }), 3);
    assert.equal(annotationsSize({ é: 'ü', x: '' }), 2 + 2 + 1);
  });
});

describe('dataSize', () => {
  it('counts UTF-8 bytes of data values, not keys', () => {
    assert.equal(dataSize(undefined, undefined), 0);
    assert.equal(dataSize({ a: 'héllo' }, undefined), 6);
    assert.equal(dataSize({ ['k'.repeat(253)]: '' }, undefined), 0);
  });

  it('counts decoded bytes of base64 binaryData values, padded or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const b64 = Buffer.from(bytes).toString('base64');
        assert.equal(dataSize(undefined, { k: b64 }), bytes.length);
        assert.equal(dataSize(undefined, { k: b64.replace(/=+$/, '') }), bytes.length);
      }),
    );
  });

  it('adds data and binaryData together', () => {
    assert.equal(dataSize({ a: 'abc', b: 'é' }, { c: 'AAAA', d: 'AA==' }), 3 + 2 + 3 + 1);
  });
});

describe('checkBucketSize', () => {
  it('accepts a bucket at both limits', () => {
    assert.doesNotThrow(() => checkBucketSize('b', { data: MAX_DATA_BYTES, annotations: MAX_ANNOTATIONS_BYTES }));
  });

  it('rejects data or annotations over their limit, naming size and limit', () => {
    const cases = [
      { size: { data: MAX_DATA_BYTES + 1, annotations: 0 }, expected: [MAX_DATA_BYTES + 1, MAX_DATA_BYTES] },
      { size: { data: 0, annotations: MAX_ANNOTATIONS_BYTES + 1 }, expected: [MAX_ANNOTATIONS_BYTES + 1, MAX_ANNOTATIONS_BYTES] },
    ];
    for (const { size, expected } of cases) {
      assert.throws(() => checkBucketSize('my-bucket', size), (err: unknown) => {
        assert.ok(err instanceof BucketFullError);
        assert.equal(err.code, 'BUCKET_FULL');
        assert.deepEqual([err.size, err.limit], expected);
        assert.match(err.message, /"my-bucket"/);
        return true;
      });
    }
  });
});
