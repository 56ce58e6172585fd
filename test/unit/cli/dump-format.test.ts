/**
 * The dump format: any keys and byte values survive dump -> JSON -> restore
 * exactly; text stays readable; a malformed or newer dump is refused with
 * INVALID_VALUE naming where it is wrong.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidValueError } from '../../../src/errors.js';
import { DUMP_KIND, buildDump, entryBytes, parseDump, serializeDump, valueFields } from '../../../src/cli/dump-format.js';

const source = { namespace: 'ns', bucket: 'app', revision: 7, at: new Date('2026-11-30T12:00:00Z') };
const utf8 = (s: string) => new TextEncoder().encode(s);

function refused(text: string, pattern: RegExp): void {
  assert.throws(() => parseDump(text), (err: unknown) => err instanceof InvalidValueError && err.code === 'INVALID_VALUE' && pattern.test(err.message));
}

const valid = (entries: unknown[]) => JSON.stringify({ kind: DUMP_KIND, version: 1, namespace: 'ns', bucket: 'b', revision: 1, dumpedAt: 'x', entries });

describe('dump format', () => {
  it('round-trips any keys and bytes exactly', () => {
    const pairs = fc.uniqueArray(fc.record({ key: fc.string({ minLength: 1, unit: 'grapheme' }), value: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.string({ unit: 'grapheme' }).map(utf8)) }), { selector: (p) => p.key, maxLength: 8 });
    fc.assert(
      fc.property(pairs, (input) => {
        const parsed = parseDump(serializeDump(buildDump(source, input)));
        const back = new Map(parsed.entries.map((e) => [e.key, entryBytes(e)]));
        assert.equal(back.size, input.length);
        for (const { key, value } of input) assert.deepEqual(back.get(key), value, `key ${JSON.stringify(key)}`);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a key\'s ttlMs and session, and refuses a ttlMs outside 1 s to one day naming the entry', () => {
    const doc = parseDump(serializeDump(buildDump(source, [
      { key: 'a', value: utf8('x'), ttlMs: 30_000 },
      { key: 'b', value: utf8('y'), ttlMs: 10_000, session: 's-1' },
      { key: 'c', value: utf8('z') },
    ])));
    assert.deepEqual(doc.entries, [{ key: 'a', ttlMs: 30_000, text: 'x' }, { key: 'b', ttlMs: 10_000, session: 's-1', text: 'y' }, { key: 'c', text: 'z' }]);
    for (const ttlMs of [999, 86_400_001, 1.5, '30s', null]) refused(valid([{ key: 'k', text: 'v', ttlMs }]), /entries\[0\]\.ttlMs/);
    refused(valid([{ key: 'k', text: 'v', session: 7 }]), /entries\[0\]\.session/);
  });

  it('writes UTF-8 values as text (a BOM, NUL and control characters included) and anything else as base64', () => {
    assert.deepEqual(valueFields(utf8('héllo 🎉')), { text: 'héllo 🎉' });
    assert.deepEqual(valueFields(utf8('\ufeffbom\u0000\n')), { text: '\ufeffbom\u0000\n' });
    assert.deepEqual(valueFields(new Uint8Array()), { text: '' });
    assert.deepEqual(valueFields(new Uint8Array([0xff, 0x00])), { base64: '/wA=' });
    // A lone continuation byte or an overlong form is not UTF-8: base64, so it comes back byte for byte.
    assert.deepEqual(valueFields(new Uint8Array([0xc0, 0x80])), { base64: 'wIA=' });
  });

  it('sorts entries by key and records where the dump came from', () => {
    const dump = buildDump(source, [{ key: 'b', value: utf8('2') }, { key: 'a', value: utf8('1') }]);
    assert.deepEqual(dump, {
      kind: 'kubekv.dev/dump',
      version: 1,
      namespace: 'ns',
      bucket: 'app',
      revision: 7,
      dumpedAt: '2026-11-30T12:00:00.000Z',
      entries: [{ key: 'a', text: '1' }, { key: 'b', text: '2' }],
    });
  });

  it('refuses what is not a dump, naming what is wrong', () => {
    refused('not json', /not JSON/);
    refused('[]', /not a JSON object/);
    refused(JSON.stringify({ kind: 'List', version: 1 }), /kind is "List"/);
    refused(JSON.stringify({ kind: DUMP_KIND, version: 2 }), /newer kubekv/);
    refused(valid([{ key: 'a' }]), /entries\[0\] must have exactly one of text and base64/);
    refused(valid([{ key: 'a', text: 'x', base64: 'eA==' }]), /exactly one/);
    refused(valid([{ key: '', text: 'x' }]), /entries\[0\]\.key/);
    refused(valid([{ key: 'a', text: 'x' }, { key: 'a', text: 'y' }]), /entries\[1\]: key "a" appears twice/);
    refused(valid([{ key: 'a', base64: 'not base64!' }]), /entries\[0\]\.base64 is not canonical base64/);
    refused(valid([{ key: 'a', base64: 'eA' }]), /canonical/);
    refused(valid([{ key: 'a', text: '\ud800' }]), /lone surrogate/);
    refused(JSON.stringify({ kind: DUMP_KIND, version: 1, namespace: 'ns', bucket: 'b', revision: 1, dumpedAt: 'x' }), /entries is not an array/);
  });

  it('ignores fields it does not know (a later version may add informational ones)', () => {
    const parsed = parseDump(JSON.stringify({ ...JSON.parse(valid([{ key: 'a', text: 'x', note: 'hi' }])), comment: 'by hand' }));
    assert.deepEqual(parsed.entries, [{ key: 'a', text: 'x' }]);
  });
});
