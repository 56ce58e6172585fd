/**
 * A lock's value (libkv's LockOptions.Value): the holder publishes it in the
 * Lease with every renewal, anyone reads it with inspect(), a release
 * removes it, and a value left behind by a holder that no longer holds
 * (a client-go contender took the Lease over, keeping annotations it does
 * not know) is never attributed to the new holder. The real Lock on a
 * MemoryStore.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../../src/index.js';
import { ManualClock, MemoryCluster, MemoryStore } from '../../../src/testing/index.js';

type LeaseObj = { metadata: { name: string; resourceVersion: string; annotations?: Record<string, string> }; spec: Record<string, unknown> };

describe('lock values', () => {
  it('publishes the holder value to anyone who inspects the lock, and removes it on release', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    await using store = await MemoryStore.open({ name: 'app', create: true, cluster, clock });
    const reader = store.newLock('leader');
    assert.equal(await reader.inspect(), undefined, 'no Lease yet');
    const lock = store.newLock('leader', { identity: 'pod-a', value: '10.0.0.1:8080', ttlMs: 6000 });
    const handle = await lock.lock();
    assert.deepEqual(await reader.inspect(), { holder: 'pod-a', value: '10.0.0.1:8080', token: handle.token });
    await clock.advance(20_000); // renewals keep it
    assert.equal((await reader.inspect())?.value, '10.0.0.1:8080');
    await handle.unlock();
    assert.equal(await reader.inspect(), undefined);
    const name = lock.leaseName;
    const released = cluster.fake.object('leases', 'default', name) as LeaseObj;
    assert.equal(released.metadata.annotations?.['kubekv.dev/lock-value'], undefined, 'the release removed it');

    // A holder without a value, then a foreign takeover that keeps a stale annotation.
    const b = await store.newLock('leader', { identity: 'pod-b', value: 'b-addr', ttlMs: 6000 }).lock();
    assert.equal((await reader.inspect())?.value, 'b-addr');
    const current = cluster.fake.object('leases', 'default', name) as LeaseObj;
    await cluster.fake.api.leases('default').update({ ...current, spec: { ...current.spec, holderIdentity: 'go-client' } });
    assert.deepEqual(await reader.inspect(), { holder: 'go-client', value: undefined, token: b.token });
  });

  it('refuses a value that is not text or is over 16 KiB', () => {
    const cluster = new MemoryCluster();
    return (async () => {
      await using store = await MemoryStore.open({ name: 'app', create: true, cluster });
      for (const value of [42, 'x'.repeat(16_385), new Uint8Array(1)]) {
        assert.throws(() => store.newLock('k', { value: value as string }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'value');
      }
      assert.ok(store.newLock('k', { value: 'é'.repeat(8192) }));
    })();
  });
});
