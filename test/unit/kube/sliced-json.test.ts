/**
 * parseSlicedValues (src/kube/sliced-json.ts) reads a chunk's answer with
 * its values as slices of the text: whatever it returns must equal what
 * JSON.parse returns, and what it cannot read it must leave to JSON.parse.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseSlicedValues } from '../../../src/kube/sliced-json.js';

/** A ConfigMap-shaped object: metadata with annotations, data and binaryData maps of any strings (escapes, __proto__ and all). */
const configMapLike = fc.record(
  {
    kind: fc.constant('ConfigMap'),
    metadata: fc.record({ name: fc.string(), annotations: fc.dictionary(fc.string(), fc.string()), labels: fc.dictionary(fc.string(), fc.string()) }),
    data: fc.dictionary(fc.oneof(fc.string(), fc.constant('__proto__')), fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.base64String())),
    binaryData: fc.dictionary(fc.string({ unit: 'grapheme-ascii' }), fc.base64String()),
    immutable: fc.boolean(),
    extra: fc.jsonValue(),
  },
  { requiredKeys: ['metadata'] },
);

describe('parseSlicedValues', () => {
  it('equals JSON.parse for every ConfigMap-shaped answer, compact or indented', () => {
    fc.assert(
      fc.property(configMapLike, fc.boolean(), (object, indent) => {
        const text = JSON.stringify(object, null, indent ? 2 : undefined);
        const parsed = parseSlicedValues(text);
        assert.ok(parsed, 'a ConfigMap answer is read');
        assert.deepStrictEqual(parsed, JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('equals JSON.parse for any JSON object, or leaves it to JSON.parse', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
        const text = JSON.stringify(object);
        const parsed = parseSlicedValues(text);
        if (parsed !== undefined) assert.deepStrictEqual(parsed, JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a key __proto__ as data, as JSON.parse does', () => {
    const text = '{"data":{"__proto__":"x","a":"y"},"__proto__":{"polluted":true}}';
    const parsed = parseSlicedValues(text)!;
    assert.deepStrictEqual(parsed, JSON.parse(text));
    assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
    assert.equal(Object.getPrototypeOf(parsed.data), Object.prototype);
    assert.equal((parsed.data as Record<string, string>)['__proto__'], 'x');
  });

  it('leaves what is not one JSON object to JSON.parse: arrays, cut-off text, trailing garbage, maps of non-strings', () => {
    for (const text of ['[1,2]', '"s"', '{"data":{"a":"b"}', '{"data":{"a":"b"}} x', '{"data":{"a":1}}', '{"a":}', '', '{"data":{"a":"b\\"}}']) {
      assert.equal(parseSlicedValues(text), undefined, text);
    }
  });

  it('unescapes values that have escapes, and slices the rest without changing them', () => {
    const value = 'A'.repeat(100);
    const text = JSON.stringify({ data: { plain: value, escaped: 'line\n"quoted"\\ \u00e9 \ud83d\ude00' }, binaryData: { b: 'AAEC' } });
    assert.deepStrictEqual(parseSlicedValues(text), JSON.parse(text));
  });
});
