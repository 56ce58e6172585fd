/**
 * Who sweeps under a StateManager: only the leader deletes expired keys; a
 * follower times them all along, so after a handover the new leader is late
 * by at most one TTL from when it saw the key, never early. The real
 * StateManager on kubekv/testing's MemoryCluster, each replica on its own
 * ManualClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, MemoryCluster, MemoryStateManager } from '../../../src/testing/index.js';
import { waitFor } from '../../support/wait.js';

const TTL = 10_000;
const stored = (cluster: MemoryCluster, cmKey: string) => (cluster.fake.object('configmaps', 'default', 'app-state') as { data?: Record<string, string> } | undefined)?.data?.[cmKey];

describe('expiry under a StateManager', () => {
  it('only the leader sweeps; after a handover the new leader deletes at most one TTL after it saw the key', async () => {
    const cluster = new MemoryCluster();
    const clockA = new ManualClock();
    const clockB = new ManualClock();
    await using a = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a', clock: clockA });
    await using b = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-b', clock: clockB, elect: false });
    assert.ok(a.isLeader);
    const put = await a.store.put('k', 'v', { ttlMs: TTL });
    await waitFor(async () => (await b.bucket('app-state').get('k'))?.lastIndex === put.lastIndex, 'the follower to see the write');
    await clockB.advance(2 * TTL);
    assert.equal(stored(cluster, 'k'), 'v', 'a follower does not sweep');
    await clockA.advance(TTL - 1);
    assert.equal(stored(cluster, 'k'), 'v');
    await clockA.advance(1);
    await waitFor(() => stored(cluster, 'k') === undefined, 'the leader to expire the key');

    const again = await a.store.put('j', 'v', { ttlMs: TTL });
    await waitFor(async () => (await b.bucket('app-state').get('j'))?.lastIndex === again.lastIndex, 'the follower to see j');
    const seen = clockB.monotonic();
    await a.depose({ leader: 'pod-b' });
    await b.elect();
    assert.ok(b.isLeader);
    // The new leader timed j from when it saw it: due then, not from its election.
    await clockB.advance(seen + TTL - 1 - clockB.monotonic());
    assert.equal(stored(cluster, 'j'), 'v', 'not early');
    await clockB.advance(1);
    await waitFor(() => stored(cluster, 'j') === undefined, 'the new leader to expire j');
  });
});
