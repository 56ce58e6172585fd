/**
 * How a watch body is cut into events, and which events a store that
 * already holds an object's version gets as bookmarks without parsing
 * (src/kube/watch-stream.ts). Pure: bytes in, events out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WatchLineSplitter } from '../../../src/kube/watch-stream.js';
import { eventVersion, objectVersion } from '../../../src/kube/version-prefix.js';

const event = (type: string, rv: string, data: Record<string, string> = {}, name = 'kv') =>
  JSON.stringify({ type, object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: 'ns', uid: 'u-1', resourceVersion: rv, annotations: { a: 'b' } }, data } });

/** Feeds `body` to a splitter in chunks cut at `cuts` (byte offsets) and returns the events. */
function split(body: Buffer, cuts: number[], alreadyHeld?: (rv: string) => boolean): unknown[] {
  const splitter = new WatchLineSplitter(alreadyHeld);
  const events: unknown[] = [];
  let at = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b).concat(body.length)) {
    if (cut <= at) continue;
    events.push(...splitter.push(body.subarray(at, cut)));
    at = cut;
  }
  events.push(...splitter.end());
  return events;
}

describe('eventVersion and objectVersion', () => {
  it('reads metadata.resourceVersion from the prefix the API server writes', () => {
    assert.equal(eventVersion(event('MODIFIED', '123')), '123');
    assert.equal(eventVersion(event('ADDED', '7')), '7');
  });

  it('reads nothing where the prefix differs, so such a line is always parsed', () => {
    assert.equal(eventVersion(event('DELETED', '5')), undefined, 'a deletion must reach the consumer');
    assert.equal(eventVersion(event('BOOKMARK', '5')), undefined);
    // Another field before resourceVersion could hold anything.
    assert.equal(eventVersion('{"type":"MODIFIED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"annotations":{"x":"y"},"resourceVersion":"9"}}}'), undefined);
    // An escaped quote in a name field cannot be skipped over.
    assert.equal(eventVersion('{"type":"MODIFIED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a\\",\\"resourceVersion\\":\\"1","resourceVersion":"9"}}}'), undefined);
    // Data comes after metadata: a key named resourceVersion there is not read.
    assert.equal(eventVersion('{"type":"MODIFIED","object":{"kind":"ConfigMap","apiVersion":"v1","data":{"resourceVersion":"1"},"metadata":{"resourceVersion":"9"}}}'), undefined);
    assert.equal(eventVersion(' ' + event('MODIFIED', '1')), undefined);
  });

  it('objectVersion reads the same from an object as the server answers a write with', () => {
    const object = (JSON.parse(event('MODIFIED', '77')) as { object: unknown }).object;
    assert.equal(objectVersion(JSON.stringify(object)), '77');
    assert.equal(objectVersion(event('MODIFIED', '77')), undefined, 'an event line is not an object');
    assert.equal(objectVersion('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure"}'), undefined);
  });
});

describe('WatchLineSplitter', () => {
  it('yields every line parsed, in order, wherever the chunks are cut (multi-byte characters included)', () => {
    const lines = [event('ADDED', '1', { k: 'é☃𝄞' }), event('MODIFIED', '2', { k: 'x'.repeat(5000) }), event('DELETED', '3')];
    const body = Buffer.from(lines.join('\n') + '\n');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: body.length }), { maxLength: 40 }), (cuts) => {
        assert.deepEqual(split(body, cuts), lines.map((l) => JSON.parse(l) as unknown));
      }),
    );
  });

  it('parses a last line that has no newline', () => {
    assert.deepEqual(split(Buffer.from(event('ADDED', '1')), []), [JSON.parse(event('ADDED', '1'))]);
  });

  it('turns an event at a held version into a bookmark at it, short or long, however it is cut, and parses the next line', () => {
    const big = event('MODIFIED', '41', { k: 'v'.repeat(20_000) });
    const small = event('MODIFIED', '42', { k: 'w' });
    const after = event('MODIFIED', '43', { k: 'after' });
    const body = Buffer.from([big, small, after].join('\n') + '\n');
    const held = (rv: string) => BigInt(rv) <= 42n;
    const bookmark = (rv: string) => ({ type: 'BOOKMARK', object: { metadata: { resourceVersion: rv } } });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: body.length }), { maxLength: 40 }), (cuts) => {
        assert.deepEqual(split(body, cuts, held), [bookmark('41'), bookmark('42'), JSON.parse(after)]);
      }),
    );
  });

  it('parses an event the consumer does not hold, and a deletion even at a held version', () => {
    const newer = event('MODIFIED', '50', { k: 'v'.repeat(10_000) });
    const deleted = event('DELETED', '10');
    const body = Buffer.from(`${newer}\n${deleted}\n`);
    assert.deepEqual(split(body, [100, 3000], (rv) => BigInt(rv) <= 42n), [JSON.parse(newer), JSON.parse(deleted)]);
  });

  it('still reports an in-stream error and an unparsable line', () => {
    assert.throws(() => split(Buffer.from('{"type":"ERROR","object":{"code":410}}\n'), []), /410|Gone|HttpStatus/i);
    assert.throws(() => split(Buffer.from('{"type":"MODIFIED",\n'), []), /unparsable/);
  });
});
