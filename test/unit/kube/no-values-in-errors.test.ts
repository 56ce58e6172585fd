/**
 * No kubekv error carries a value: an answer that is not valid JSON (cut off
 * mid-way, or from something that is not the API server) fails with an
 * UnavailableError that names its length, not with the parser's message,
 * which quotes the text (a Secret's data, for a Secret bucket). The same for
 * a watch line.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../../src/errors.js';
import { WireKubeApi, type KubeWire } from '../../../src/kube/api.js';

const SECRET = 'hunter2-correct-horse';

function garbageWire(text: string): KubeWire {
  return {
    sendText: () => Promise.resolve(text),
    open: () => Promise.resolve({ status: 200, body: lines(`${text}\n`), text: () => Promise.resolve('') }),
  };
}

async function* lines(text: string): AsyncGenerator<Uint8Array> {
  await Promise.resolve();
  yield Buffer.from(text);
}

function assertNoValue(err: unknown): true {
  assert.ok(err instanceof UnavailableError, `expected UnavailableError, got ${String(err)}`);
  // The whole error as a logger or the CLI could print it: message, cause chain, fields.
  const shown = inspect(err, { depth: 10 });
  assert.ok(!shown.includes('hunter2') && !shown.includes(Buffer.from(SECRET).toString('base64').slice(0, 12)), `a value shows in the error:\n${shown}`);
  return true;
}

describe('errors never quote an answer', () => {
  // Texts whose JSON.parse message would quote the start: a value up front, or its base64.
  const texts = [`${SECRET} is not JSON`, `${Buffer.from(SECRET).toString('base64')}...`];
  for (const text of texts) {
    it(`get, list, create and watch of Secrets: ${JSON.stringify(text.slice(0, 12))}...`, async () => {
      const secrets = new WireKubeApi(garbageWire(text)).secrets('ns');
      await assert.rejects(secrets.get('s'), assertNoValue);
      await assert.rejects(secrets.list(), assertNoValue);
      await assert.rejects(secrets.create({ metadata: { name: 's' } }), assertNoValue);
      await assert.rejects(async () => {
        for await (const _ of secrets.watch({})) { /* the first line fails */ }
      }, assertNoValue);
    });
  }
});
