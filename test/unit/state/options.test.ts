/** StateManager.start() option errors name the option the caller got wrong, before any request. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError, StateManager } from '../../../src/index.js';

describe('StateManager.start option errors name the bad option', () => {
  for (const leaseDurationMs of [-1, Number.NaN]) {
    it(`leaseDurationMs ${leaseDurationMs} is refused as leaseDurationMs`, async () => {
      await assert.rejects(
        StateManager.start({ name: 'app', namespace: 'default', leaseDurationMs }),
        (err: unknown) => err instanceof InvalidOptionError && err.option === 'leaseDurationMs',
      );
    });
  }
});
