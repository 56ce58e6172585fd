/**
 * StateManager.resign() / handoff() on the real StateManager over a
 * MemoryCluster, timing on a ManualClock: the order of the step down,
 * fencing of the resigned leader's late writes, the cool-down, the bound on
 * waiting for a preferred replica, and where the leader is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LeaderInfo } from '../../../src/election/index.js';
import { PREFERRED_HOLDER_ANNOTATION } from '../../../src/election/lease-lock.js';
import { ClosedError, InvalidOptionError, NotLeaderError } from '../../../src/errors.js';
import { ManualClock, MemoryCluster, MemoryStateManager } from '../../../src/testing/index.js';
import { until } from '../../../src/testing/memory-store.js';

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Replicas of one app on one cluster; `clock` null: real time (a store's retry backoff then runs by itself). */
async function replicas(ids: string[], clock: ManualClock | null = new ManualClock()) {
  const cluster = new MemoryCluster();
  const states: MemoryStateManager[] = [];
  for (const identity of ids) {
    states.push(await MemoryStateManager.start({ name: 'app', cluster, identity, ...(clock ? { clock } : {}), advertise: `http://${identity}:8080` }));
  }
  const leaders = () => states.filter((s) => s.isLeader).map((s) => s.identity);
  return { clock: clock ?? new ManualClock(), cluster, states, leaders, [Symbol.asyncDispose]: async () => { for (const s of states) await s.close(); } };
}

describe('StateManager.resign', () => {
  it("ends the leader work first (its last write lands), then releases; another replica leads and the resigned one's late writes are refused", async () => {
    await using r = await replicas(['pod-a', 'pod-b']);
    const [a, b] = r.states as [MemoryStateManager, MemoryStateManager];
    const order: string[] = [];
    let reason: unknown;
    a.onLeader(async ({ signal, store }) => {
      await untilAborted(signal);
      reason = signal.reason;
      await store.put('farewell', 'written while still leading');
      order.push('handler returned');
    });
    a.onFollower(() => void order.push('follower'));
    await until(() => order.length === 0 && a.isLeader);
    const held = a.store;
    assert.equal(await a.resign(), 'released');
    order.push('resigned');
    assert.ok(reason instanceof NotLeaderError);
    await until(() => b.isLeader);
    assert.deepEqual(r.leaders(), ['pod-b']);
    assert.equal(b.epoch, 1);
    assert.deepEqual(order.slice(0, 1), ['handler returned']);
    assert.equal((await b.store.get('farewell'))?.text, 'written while still leading');
    await assert.rejects(held.put('late', 'v'), (err: unknown) => err instanceof NotLeaderError && err.leader === 'pod-b');
    assert.equal(await b.store.exists('late', { consistent: true }), false);
    assert.equal(a.isLeader, false);
  });

  it('a handoff asked through the Lease (kubectl, kubekv leader --handoff) ends the leader work as resign() does: the last write lands, then the named replica leads', async () => {
    await using r = await replicas(['pod-a', 'pod-b', 'pod-c']);
    const [a, , c] = r.states as [MemoryStateManager, MemoryStateManager, MemoryStateManager];
    let farewell: unknown;
    a.onLeader(async ({ signal, store }) => {
      await untilAborted(signal);
      farewell = await store.put('farewell', 'written while still leading').then(() => 'landed', (err: unknown) => err);
    });
    await until(() => a.isLeader);
    // What `kubekv leader --handoff pod-c` writes: the preference, at the Lease's current term.
    const leases = r.cluster.fake.api.leases(a.namespace);
    const lease = await leases.get('app-leader');
    const resourceVersion = lease?.metadata?.resourceVersion;
    assert.ok(resourceVersion);
    const leaseTransitions = lease?.spec?.leaseTransitions ?? 0;
    await leases.patch('app-leader', { metadata: { resourceVersion, annotations: { [PREFERRED_HOLDER_ANNOTATION]: JSON.stringify({ holder: 'pod-c', leaseTransitions }) } } });
    await until(() => c.isLeader);
    assert.equal(farewell, 'landed');
    assert.deepEqual(r.leaders(), ['pod-c']);
    assert.equal((await c.store.get('farewell'))?.text, 'written while still leading');
  });

  it('refuses a write made while leading whose request is held across the resignation and the next leader\'s epoch raise', async () => {
    // Real time: the held write's conflict is retried after a backoff.
    await using r = await replicas(['pod-a', 'pod-b'], null);
    const [a, b] = r.states as [MemoryStateManager, MemoryStateManager];
    const interposed = a.store.beforeNextWrite(async () => {
      await a.resign();
      await until(() => b.isLeader);
    });
    await assert.rejects(a.store.put('late', 'v'), NotLeaderError);
    await interposed;
    assert.equal(await b.store.exists('late', { consistent: true }), false);
    await b.store.put('k', 'v');
  });

  it('does not contend during the cool-down, then leads again with a greater epoch (ManualClock)', async () => {
    await using r = await replicas(['pod-a']);
    const [a] = r.states as [MemoryStateManager];
    assert.equal(a.epoch, 0);
    assert.equal(await a.resign({ coolDownMs: 5_000 }), 'released');
    await r.clock.advance(4_999);
    assert.equal(a.isLeader, false);
    assert.equal(a.status().holdsLease, false);
    await r.clock.advance(1);
    await until(() => a.isLeader);
    assert.equal(a.epoch, 1);
  });

  it('checks its options; after close() it rejects ClosedError; an aborted signal stops the wait', async () => {
    await using r = await replicas(['pod-a']);
    const [a] = r.states as [MemoryStateManager];
    await assert.rejects(a.resign({ coolDownMs: -1 }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'coolDownMs');
    await assert.rejects(a.resign({ signal: AbortSignal.abort() }), { code: 'ABORTED' });
    assert.equal(a.isLeader, true, 'an aborted resign() did something');
    await a.close();
    await assert.rejects(a.resign(), ClosedError);
  });
});

describe('StateManager.handoff', () => {
  it('the named replica leads next, not another; bad input is refused with typed errors', async () => {
    await using r = await replicas(['pod-a', 'pod-b', 'pod-c']);
    const [a, b, c] = r.states as [MemoryStateManager, MemoryStateManager, MemoryStateManager];
    await assert.rejects(a.handoff(''), (err: unknown) => err instanceof InvalidOptionError && err.option === 'identity');
    await assert.rejects(a.handoff('pod-a'), (err: unknown) => err instanceof InvalidOptionError && err.option === 'identity');
    await assert.rejects(b.handoff('pod-c'), (err: unknown) => err instanceof NotLeaderError && err.code === 'NOT_LEADER');
    assert.deepEqual(r.leaders(), ['pod-a']);
    assert.equal(await a.handoff('pod-c'), 'released');
    await until(() => c.isLeader);
    assert.deepEqual(r.leaders(), ['pod-c']);
    await r.clock.advance(60_000);
    assert.deepEqual(r.leaders(), ['pod-c']);
    assert.equal(b.status().leader, 'pod-c');
  });

  it('a preferred replica that never comes keeps the Lease empty at most one lease duration (ManualClock)', async () => {
    await using r = await replicas(['pod-a', 'pod-b']);
    const [a] = r.states as [MemoryStateManager];
    assert.equal(await a.handoff('pod-gone'), 'released');
    await r.clock.advance(14_999);
    assert.deepEqual(r.leaders(), [], 'a replica took a Lease promised to another before the bound');
    await r.clock.advance(1);
    await until(() => r.leaders().length === 1);
    assert.equal(r.leaders().length, 1);
  });
});

describe('where the leader is', () => {
  it('status() and onLeaderChange give identity, advertised address and term; followers are told when it changes', async () => {
    await using r = await replicas(['pod-a', 'pod-b', 'pod-c']);
    const [a, b] = r.states as [MemoryStateManager, MemoryStateManager];
    const seen: Array<LeaderInfo | undefined> = [];
    b.onLeaderChange((leader) => void seen.push(leader));
    const status = b.status();
    assert.deepEqual([status.leader, status.leaderAddress, status.leaderTerm], ['pod-a', 'http://pod-a:8080', 0]);
    await a.handoff('pod-c');
    await until(() => seen.length >= 3);
    assert.deepEqual(seen, [
      { identity: 'pod-a', address: 'http://pod-a:8080', term: 0 },
      undefined,
      { identity: 'pod-c', address: 'http://pod-c:8080', term: 1 },
    ]);
    assert.equal(b.status().leaderAddress, 'http://pod-c:8080');
  });
});
