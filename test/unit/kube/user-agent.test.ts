/** The User-Agent's shape: client-go's `<program>/<version> (<os>/<arch>) <runtime>` (no server needed). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { USER_AGENT } from '../../../src/kube/user-agent.js';

describe('USER_AGENT', () => {
  it('names kubekv and its package version first (the API server takes the field manager from the part before "/")', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(USER_AGENT, `kubekv/${pkg.version} (${process.platform}/${process.arch}) node/${process.version}`);
  });
});
