/**
 * Per-key TTL on kubekv/testing's FakeCluster with ManualClocks: the real
 * ConfigMapStore records the TTL in the head, its sweeper deletes the key
 * with a conditional delete once the TTL has passed on the sweeper's own
 * clock since it saw the key's write (never early, whatever the wall
 * clocks say), watchers see reason 'expired', and a new sweeper is late by
 * at most one TTL. The same on the real control plane is in
 * test/integration/store/expiry.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigMapStore, InvalidOptionError, type TreeEvent } from '../../../src/index.js';
import { storeInternals } from '../../../src/store/configmap-store.js';
import { FakeCluster, ManualClock } from '../../../src/testing/index.js';
import { waitFor } from '../../support/wait.js';

const NS = 'expiry';
const TTL = 10_000;

type Head = { metadata: { annotations?: Record<string, string> }; data?: Record<string, string> } | undefined;
const head = (cluster: FakeCluster, name = 'app') => cluster.object('configmaps', NS, name) as Head;
const stored = (cluster: FakeCluster, cmKey: string, name = 'app') => head(cluster, name)?.data?.[cmKey];

async function open(cluster: FakeCluster, clock: ManualClock, extra: { sweep?: boolean; chunks?: { compactBytes: number } } = {}) {
  return ConfigMapStore.open({ name: 'app', namespace: NS, api: cluster.api, create: true, clock, ...extra });
}

/** Collects a watchTree's events until the signal aborts. */
function collect(store: ConfigMapStore, prefix: string, signal: AbortSignal): TreeEvent[] {
  const events: TreeEvent[] = [];
  void (async () => {
    for await (const event of store.watchTree(prefix, { signal })) events.push(event);
  })();
  return events;
}

describe('per-key TTL, on a FakeCluster', () => {
  it('records the TTL, reports it in get and list, and deletes the key once the TTL has passed: not a millisecond before', async () => {
    const cluster = new FakeCluster();
    const clock = new ManualClock();
    const store = await open(cluster, clock);
    const stop = new AbortController();
    try {
      const events = collect(store, '', stop.signal);
      const put = await store.put('members/a', 'addr-a', { ttlMs: TTL });
      assert.equal(put.ttlMs, TTL);
      await store.put('members/b', 'addr-b');
      assert.equal((await store.get('members/a'))?.ttlMs, TTL);
      assert.deepEqual((await store.list('members/')).map((p) => [p.key, p.ttlMs]), [['members/a', TTL], ['members/b', undefined]]);
      assert.deepEqual(JSON.parse(JSON.stringify(await store.get('members/a'))), { key: 'members/a', lastIndex: put.lastIndex, ttlMs: TTL, text: 'addr-a' });
      const expiry = JSON.parse(head(cluster)?.metadata.annotations?.['kubekv.dev/expiry'] ?? '{}') as Record<string, unknown>;
      assert.deepEqual(expiry, { members__a: { r: put.lastIndex, ttl: TTL } });

      await clock.advance(TTL - 1);
      assert.equal(stored(cluster, 'members__a'), 'addr-a', 'still there 1 ms before its TTL');
      await clock.advance(1);
      await waitFor(() => stored(cluster, 'members__a') === undefined, 'the expiry commit');
      assert.equal(await store.get('members/a'), undefined);
      assert.equal(stored(cluster, 'members__b'), 'addr-b', 'a key without TTL stays');
      await store.delete('members/b');
      await waitFor(() => events.length === 5, 'five events');
      const deletes = events.filter((e) => e.type === 'delete');
      assert.deepEqual(deletes.map((e) => [e.key, e.reason]), [['members/a', 'expired'], ['members/b', 'deleted']]);
      assert.equal(head(cluster)?.metadata.annotations?.['kubekv.dev/expired'], undefined, 'the expired marker is dropped by the next commit');
    } finally {
      stop.abort();
      await store.close();
    }
  });

  it('a write restarts the TTL; a write without ttlMs makes the key permanent', async () => {
    const cluster = new FakeCluster();
    const clock = new ManualClock();
    const store = await open(cluster, clock);
    try {
      await store.put('k', 'v1', { ttlMs: TTL });
      await clock.advance(TTL - 1000);
      await store.put('k', 'v2', { ttlMs: TTL });
      await clock.advance(TTL - 1);
      assert.equal(stored(cluster, 'k'), 'v2', 'timed from the second write');
      await clock.advance(1);
      await waitFor(() => stored(cluster, 'k') === undefined, 'the expiry');

      await store.put('p', 'v1', { ttlMs: TTL });
      const permanent = await store.put('p', 'v2');
      assert.equal(permanent.ttlMs, undefined);
      await clock.advance(3 * TTL);
      assert.equal((await store.get('p'))?.ttlMs, undefined);
      assert.equal(stored(cluster, 'p'), 'v2');
      assert.equal(head(cluster)?.metadata.annotations?.['kubekv.dev/expiry'], undefined, 'no expiry records left');
    } finally {
      await store.close();
    }
  });

  it('never early: a sweeper times from when it saw the write on its own clock, whatever its wall clock says', async () => {
    const cluster = new FakeCluster();
    const writerClock = new ManualClock();
    const writer = await open(cluster, writerClock, { sweep: false });
    const sweeperClock = new ManualClock();
    // A day ahead of the writer: a sweeper comparing wall times would delete at once.
    sweeperClock.setWall(writerClock.now() + 86_400_000);
    const sweeper = await open(cluster, sweeperClock);
    try {
      const put = await writer.put('k', 'v', { ttlMs: TTL });
      await waitFor(async () => (await sweeper.get('k'))?.lastIndex === put.lastIndex, 'the sweeper to see the write');
      // The writer's time is irrelevant: only the sweeper's clock decides.
      await writerClock.advance(10 * TTL);
      await sweeperClock.advance(TTL - 1);
      assert.equal(stored(cluster, 'k'), 'v');
      await sweeperClock.advance(1);
      await waitFor(() => stored(cluster, 'k') === undefined, 'the expiry');
    } finally {
      await Promise.all([writer.close(), sweeper.close()]);
    }
  });

  it('late by at most one TTL after the sweeper changes; a store that does not sweep still times the key', async () => {
    const cluster = new FakeCluster();
    const clockA = new ManualClock();
    const a = await open(cluster, clockA);
    const clockB = new ManualClock();
    const b = await open(cluster, clockB, { sweep: false });
    try {
      const put = await a.put('k', 'v', { ttlMs: TTL });
      await waitFor(async () => (await b.get('k'))?.lastIndex === put.lastIndex, 'b to see the write');
      const seenAt = clockB.monotonic();
      await clockA.advance(TTL / 2);
      await a.close(); // the sweeper dies half way
      await clockB.advance(TTL - 1);
      assert.equal(stored(cluster, 'k'), 'v', 'b does not sweep');
      assert.equal(b[storeInternals].expiryDueAt('k'), seenAt + TTL, 'but b timed the key from when it saw it');
      // b takes over (as a new leader would) and deletes once the key is due on its clock.
      b[storeInternals].setSweeping(true);
      await clockB.advance(0);
      assert.equal(stored(cluster, 'k'), 'v', 'not before it is due');
      await clockB.advance(1);
      await waitFor(() => stored(cluster, 'k') === undefined, 'the expiry by b');

      // A sweeper that opens later starts its TTL then: late by up to one TTL, not early.
      await b.put('late', 'v', { ttlMs: TTL });
      await b.close();
      const clockC = new ManualClock();
      const c = await open(cluster, clockC);
      try {
        await clockC.advance(TTL - 1);
        assert.equal(stored(cluster, 'late'), 'v');
        await clockC.advance(1);
        await waitFor(() => stored(cluster, 'late') === undefined, 'the expiry by c');
      } finally {
        await c.close();
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('concurrent sweepers delete the key once, and never a key written again meanwhile', async () => {
    const cluster = new FakeCluster();
    const clocks = [new ManualClock(), new ManualClock(), new ManualClock()];
    const stores = await Promise.all(clocks.map((clock) => open(cluster, clock)));
    const stop = new AbortController();
    try {
      const events = collect(stores[0]!, '', stop.signal);
      const put = await stores[0]!.put('k', 'v', { ttlMs: TTL });
      for (const store of stores) await waitFor(async () => (await store.get('k'))?.lastIndex === put.lastIndex, 'every store to see the write');
      await Promise.all(clocks.map((clock) => clock.advance(TTL)));
      await waitFor(() => stored(cluster, 'k') === undefined, 'the expiry');
      await waitFor(() => events.filter((e) => e.type === 'delete').length === 1, 'one delete');

      // A sweeper whose cache still shows the old write cannot delete the new one.
      const again = await stores[0]!.put('j', 'v1', { ttlMs: TTL });
      for (const store of stores) await waitFor(async () => (await store.get('j'))?.lastIndex === again.lastIndex, 'every store to see j');
      await Promise.all(clocks.slice(1).map((clock) => clock.advance(TTL - 1)));
      const rewritten = await stores[0]!.put('j', 'v2'); // permanent now
      await Promise.all(clocks.slice(1).map((clock) => clock.advance(1)));
      await Promise.all(clocks.map((clock) => clock.advance(TTL)));
      assert.equal(stored(cluster, 'j'), 'v2');
      assert.equal((await stores[0]!.get('j', { consistent: true }))?.lastIndex, rewritten.lastIndex);
      assert.equal(events.filter((e) => e.type === 'delete').length, 1);
    } finally {
      stop.abort();
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('the TTL stays with a key that compaction moves into a chunk', async () => {
    const cluster = new FakeCluster();
    const clock = new ManualClock();
    const store = await open(cluster, clock, { chunks: { compactBytes: 2048 } });
    try {
      const put = await store.put('ttl-key', 'v', { ttlMs: TTL });
      for (let i = 0; i < 10; i++) await store.batch(Array.from({ length: 20 }, (_, j) => ({ op: 'put' as const, key: `filler/${i}/${j}`, value: 'x'.repeat(40) })));
      assert.equal(stored(cluster, 'ttl-key'), undefined, 'the key moved into a chunk');
      assert.ok((head(cluster)?.metadata.annotations?.['kubekv.dev/chunks'] ?? '[]') !== '[]');
      const pair = await store.get('ttl-key', { consistent: true });
      assert.deepEqual([pair?.lastIndex, pair?.ttlMs], [put.lastIndex, TTL]);
      await clock.advance(TTL);
      await waitFor(async () => (await store.get('ttl-key', { consistent: true })) === undefined, 'the chunked key to expire');
      assert.ok(head(cluster)?.metadata.annotations?.['kubekv.dev/tombstones']?.includes('ttl-key'), 'deleted by a tombstone');
      const batch = await store.batch([{ op: 'put', key: 'b', value: 'v', ttlMs: TTL }]);
      assert.equal((await store.get('b'))?.ttlMs, TTL);
      assert.equal((await store.get('b'))?.lastIndex, batch);
    } finally {
      await store.close();
    }
  });

  it('an expiry record an older writer left stale (the key written again since) is ignored', async () => {
    const cluster = new FakeCluster();
    const clock = new ManualClock();
    const store = await open(cluster, clock);
    try {
      const put = await store.put('k', 'v1', { ttlMs: TTL });
      // An older kubekv rewrites the key: a new revision, the expiry annotation untouched.
      const current = head(cluster)!;
      const rv = (cluster.object('configmaps', NS, 'app') as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
      const revision = put.lastIndex + 1;
      await cluster.api.configMaps(NS).patch('app', {
        metadata: { resourceVersion: rv, annotations: { 'kubekv.dev/revision': String(revision), 'kubekv.dev/index': JSON.stringify({ k: revision }) } },
        data: { k: 'v2' },
      });
      assert.ok(current.metadata.annotations?.['kubekv.dev/expiry']);
      await waitFor(async () => (await store.get('k'))?.text === 'v2', 'the store to see the old writer');
      assert.equal((await store.get('k'))?.ttlMs, undefined);
      await clock.advance(2 * TTL);
      assert.equal(stored(cluster, 'k'), 'v2', 'not expired');
    } finally {
      await store.close();
    }
  });
});

describe('per-key TTL: bad input', () => {
  for (const ttlMs of [0, -1000, 999, 1500.5, 86_400_001, Number.NaN, '30000', null]) {
    it(`refuses ttlMs ${String(ttlMs)} with InvalidOptionError, writing nothing`, async () => {
      const cluster = new FakeCluster();
      const store = await open(cluster, new ManualClock());
      try {
        const before = head(cluster)?.metadata.annotations?.['kubekv.dev/revision'];
        const bad = ttlMs as number;
        await assert.rejects(store.put('k', 'v', { ttlMs: bad }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'ttlMs' && err.code === 'INVALID_OPTION');
        await assert.rejects(store.atomicPut('k', 'v', undefined, { ttlMs: bad }), InvalidOptionError);
        await assert.rejects(store.batch([{ op: 'put', key: 'ok', value: 'v' }, { op: 'put', key: 'k', value: 'v', ttlMs: bad }]), (err: unknown) => err instanceof InvalidOptionError && err.option === 'operations[1].ttlMs');
        assert.equal(head(cluster)?.metadata.annotations?.['kubekv.dev/revision'], before);
        assert.equal(await store.get('ok'), undefined);
      } finally {
        await store.close();
      }
    });
  }
  it('accepts the bounds, 1 s and one day', async () => {
    const cluster = new FakeCluster();
    const store = await open(cluster, new ManualClock());
    try {
      assert.equal((await store.put('a', 'v', { ttlMs: 1000 })).ttlMs, 1000);
      assert.equal((await store.put('b', 'v', { ttlMs: 86_400_000 })).ttlMs, 86_400_000);
    } finally {
      await store.close();
    }
  });
});
