/**
 * The Node.js version gate every entry point runs first (src/node-check.ts):
 * which versions it refuses and the words it uses. The package test
 * (test/integration/package) runs the real thing on the machine's Node 20.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MINIMUM_NODE, unsupportedNodeMessage } from '../../../src/node-version.js';

describe('unsupportedNodeMessage', () => {
  it('refuses versions before 22.19 in words, naming the version', () => {
    assert.equal(unsupportedNodeMessage('v20.20.2'), 'kubekv needs Node >= 22.19 (this is v20.20.2)');
    assert.equal(unsupportedNodeMessage('v22.18.9'), 'kubekv needs Node >= 22.19 (this is v22.18.9)');
    assert.equal(unsupportedNodeMessage('v18.0.0'), 'kubekv needs Node >= 22.19 (this is v18.0.0)');
  });

  it('accepts 22.19 and later, including later majors', () => {
    for (const version of ['v22.19.0', 'v22.20.1', 'v23.0.0', 'v24.21.0', 'v30.1.0']) assert.equal(unsupportedNodeMessage(version), undefined, version);
  });

  it('matches package.json engines', async () => {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
    assert.equal(pkg.engines.node, `>=${MINIMUM_NODE.replace(/\.0$/, '')}`);
  });
});
