/**
 * The `events` and `metrics` options are validated up front, before any
 * request, with an InvalidOptionError naming the option (no cluster needed:
 * nothing is sent).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigMapStore, InvalidOptionError, LeaseElector, StateManager } from '../../../src/index.js';
import { Lock } from '../../../src/lock/lock.js';
import { MemoryLeaseLock } from '../../support/memory-lease-lock.js';

const named = (option: string) => (err: unknown) => err instanceof InvalidOptionError && err.option === option;

describe('events and metrics options', () => {
  it('StateManager.start refuses a non-boolean `events` and a `metrics` without a Registry', async () => {
    await assert.rejects(StateManager.start({ name: 'app', namespace: 'default', events: 'yes' as unknown as boolean }), named('events'));
    await assert.rejects(StateManager.start({ name: 'app', namespace: 'default', metrics: {} as never }), named('metrics.registry'));
  });

  it('ConfigMapStore.open refuses them too', async () => {
    await assert.rejects(ConfigMapStore.open({ name: 'b', namespace: 'default', events: 1 as unknown as boolean }), named('events'));
    await assert.rejects(ConfigMapStore.open({ name: 'b', namespace: 'default', metrics: { registry: 'r' } as never }), named('metrics.registry'));
  });

  it('a LeaseElector and a Lock refuse a bad `metrics` in their constructors', () => {
    assert.throws(() => new LeaseElector({ name: 'l', lock: new MemoryLeaseLock(), metrics: { registry: null } as never }), named('metrics.registry'));
    assert.throws(
      () => new Lock({ bucket: 'b', namespace: 'default', key: 'k', leaseLock: new MemoryLeaseLock(), options: { metrics: 5 as never } }),
      named('metrics'),
    );
  });
});
