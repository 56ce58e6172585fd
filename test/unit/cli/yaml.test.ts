/**
 * The YAML emitter: whatever it prints, a real YAML parser (js-yaml, which
 * client-node depends on) reads back as the same data, strings that look
 * like other types included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { load } from 'js-yaml';
import { toYaml } from '../../../src/cli/yaml.js';

/** Plain data as the CLI prints it: no undefined, finite numbers, well-formed strings. */
const data = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }).filter((s) => s.isWellFormed()),
    fc.constantFrom('true', 'False', 'yes', 'NO', 'on', 'null', '~', '123', '1e3', '0x1F', '.5', '-', '2026-11-30', '12:30', 'a: b', '# c', '- x', '', ' padded ', '@x', '`x', "'x'", '"x"', '\u2028', '\u0085', '\ufeffbom', '\u007f'),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

describe('toYaml', () => {
  it('prints documents a YAML parser reads back as the same data', () => {
    fc.assert(
      fc.property(data, (value) => {
        const text = toYaml(value);
        // Through JSON on both sides: plain objects, as the CLI's data are.
        assert.deepEqual(JSON.parse(JSON.stringify(load(text))), JSON.parse(JSON.stringify(value)), `YAML:\n${text}`);
      }),
      { numRuns: 500 },
    );
  });

  it('prints plain block style for the usual shapes', () => {
    const text = toYaml({ key: 'config/db/host', lastIndex: 3, entries: [{ key: 'a', text: 'x' }, { key: 'b', base64: 'AA==' }], ledBy: null, tags: [], meta: {} });
    assert.equal(
      text,
      [
        'key: config/db/host',
        'lastIndex: 3',
        'entries:',
        '  - key: a',
        '    text: x',
        '  - key: b',
        '    base64: "AA=="',
        'ledBy: null',
        'tags: []',
        'meta: {}',
        '',
      ].join('\n'),
    );
  });

  it('quotes strings another reader could take for booleans, numbers, dates or null', () => {
    for (const word of ['true', 'Yes', 'off', 'null', 'y', '42', '2026-11-30', '']) {
      assert.match(toYaml({ v: word }), /^v: "/, `${JSON.stringify(word)} must be quoted`);
    }
  });

  it('leaves out properties whose value is undefined, as JSON does', () => {
    assert.equal(toYaml({ a: 1, b: undefined }), 'a: 1\n');
  });
});
