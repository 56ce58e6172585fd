/**
 * Sessions on kubekv/testing's MemoryStore (the real ConfigMapStore, Session
 * and Lock on an in-memory cluster), each process on its own ManualClock: a
 * session's keys are deleted in one commit when it is closed, and when its
 * owner stops renewing, once a sweeper has seen the Lease unchanged for the
 * session's TTL on its own clock, never before; renewals write the Lease,
 * never the bucket; bad input is refused with nothing written. A session
 * Lease no key names (its owner died before binding one) is deleted once a
 * sweeper has listed it unchanged for its TTL, never a renewed one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigMapStore, ForbiddenError, InvalidOptionError, SessionClosedError, type TreeEvent } from '../../../src/index.js';
import { networkError, type Parsed } from '../../../src/testing/fake-cluster.js';
import { ManualClock, MemoryCluster, MemoryStore } from '../../../src/testing/index.js';
import { sessionPair } from '../../support/session-pair.js';
import { waitFor } from '../../support/wait.js';
import { messageLogger } from '../../support/message-logger.js';

const TTL = 6000;

type Obj = { metadata: { resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string> }; data?: Record<string, string> } | undefined;
const bucket = (cluster: MemoryCluster, name = 'app') => cluster.fake.object('configmaps', 'default', name) as Obj;
const lease = (cluster: MemoryCluster, name: string) => cluster.fake.object('leases', 'default', name) as Obj;
const stored = (cluster: MemoryCluster, cmKey: string) => bucket(cluster)?.data?.[cmKey];

function collect(store: MemoryStore, prefix: string, signal: AbortSignal): TreeEvent[] {
  const events: TreeEvent[] = [];
  void (async () => {
    for await (const event of store.watchTree(prefix, { signal })) events.push(event);
  })();
  return events;
}

describe('sessions, on a MemoryStore', () => {
  it('binds keys; renewing writes the Lease, never the bucket; close() deletes its keys in one commit', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    await using store = await MemoryStore.open({ name: 'app', create: true, cluster, clock });
    const stop = new AbortController();
    const events = collect(store, '', stop.signal);
    try {
      const session = await store.session({ ttlMs: TTL });
      assert.match(session.id, /^app-session-[0-9a-f]{16}$/);
      assert.equal(lease(cluster, session.id)?.metadata.labels?.['app.kubernetes.io/component'], 'session');
      const put = await store.put('members/a', 'addr-a', { session });
      assert.deepEqual([put.session, put.ttlMs], [session.id, TTL]);
      await store.atomicPut('members/b', 'addr-b', undefined, { session });
      await store.batch([{ op: 'put', key: 'members/c', value: 'addr-c', session }, { op: 'put', key: 'other', value: 'stays' }]);
      assert.deepEqual((await store.list('members/')).map((p) => p.session), [session.id, session.id, session.id]);

      const bucketVersion = bucket(cluster)?.metadata.resourceVersion;
      const leaseVersion = lease(cluster, session.id)?.metadata.resourceVersion;
      await clock.advance(5 * TTL);
      assert.ok(session.active);
      assert.notEqual(lease(cluster, session.id)?.metadata.resourceVersion, leaseVersion, 'the Lease was renewed');
      assert.equal(bucket(cluster)?.metadata.resourceVersion, bucketVersion, 'the bucket was not written');
      assert.equal(stored(cluster, 'members__a'), 'addr-a', 'a renewed session keeps its keys');

      const revision = store.status().revision;
      await session.close();
      assert.equal(session.signal.aborted, true);
      assert.equal(store.status().revision, revision + 1, 'one commit');
      assert.deepEqual(await store.list('members/'), []);
      assert.equal((await store.get('other'))?.text, 'stays');
      assert.equal(lease(cluster, session.id), undefined, 'the Lease is deleted');
      await waitFor(() => events.filter((e) => e.type === 'delete').length === 3, 'three deletes');
      assert.deepEqual(events.filter((e) => e.type === 'delete').map((e) => e.type === 'delete' && [e.key, e.reason, e.revision]), [
        ['members/a', 'expired', revision + 1], ['members/b', 'expired', revision + 1], ['members/c', 'expired', revision + 1],
      ]);
      await session.close(); // idempotent
    } finally {
      stop.abort();
    }
  });

  it("a dead owner's keys go once a sweeper has seen its Lease unrenewed for the TTL on the sweeper's clock, not before", async () => {
    const cluster = new MemoryCluster();
    const ownerClock = new ManualClock();
    const sweeperClock = new ManualClock();
    // A day ahead on the wall: the Lease's renewTime is never compared with it.
    sweeperClock.setWall(ownerClock.now() + 86_400_000);
    await using owner = await MemoryStore.open({ name: 'app', create: true, cluster, clock: ownerClock, sweep: false });
    await using sweeper = await MemoryStore.open({ name: 'app', cluster, clock: sweeperClock });
    const session = await owner.session({ ttlMs: TTL });
    const put = await owner.put('members/a', 'addr-a', { session });
    await waitFor(async () => (await sweeper.get('members/a'))?.lastIndex === put.lastIndex, 'the sweeper to see the key');

    // While the owner renews, the session lives, however long.
    for (let i = 0; i < 18; i++) {
      await ownerClock.advance(TTL / 6);
      await sweeperClock.advance(TTL / 6);
    }
    assert.equal(stored(cluster, 'members__a'), 'addr-a');

    // The owner dies (its clock stops: no renewal ever again).
    const renewed = lease(cluster, session.id)?.metadata.resourceVersion;
    await waitFor(async () => (await sweeper.get('members/a')) !== undefined && lease(cluster, session.id)?.metadata.resourceVersion === renewed, 'quiet');
    // The sweeper saw the last renewal at most TTL/6 ago on its clock; step to just before TTL after it.
    await sweeperClock.advance(TTL - TTL / 6 - 1);
    assert.equal(stored(cluster, 'members__a'), 'addr-a', 'not before the Lease went unrenewed for the TTL');
    await sweeperClock.advance(TTL / 6 + 1);
    await waitFor(() => stored(cluster, 'members__a') === undefined, 'the session keys to be deleted');
    await waitFor(() => lease(cluster, session.id) === undefined, 'the expired Lease to be deleted');
    // The owner's watch sees its Lease gone: the session is lost, and a write naming it is refused.
    await waitFor(() => session.signal.aborted, 'the owner to see its session lost');
    await assert.rejects(owner.put('members/a', 'again', { session }), (err: unknown) => err instanceof SessionClosedError && err.code === 'SESSION_CLOSED');
    assert.equal(await owner.get('members/a', { consistent: true }), undefined);
  });

  it('a session whose Lease is deleted has its keys deleted at once, and its owner sees it lost', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    await using store = await MemoryStore.open({ name: 'app', create: true, cluster, clock });
    const session = await store.session({ ttlMs: TTL });
    await store.put('k', 'v', { session });
    await cluster.fake.api.leases('default').delete(session.id, {});
    await waitFor(async () => {
      await clock.advance(0);
      return stored(cluster, 'k') === undefined;
    }, 'the keys of a session whose Lease is gone');
    await waitFor(() => session.signal.aborted, 'the owner to see its session lost');
  });

  it('a session its owner lost is released once the owner reaches the API server: a sweeper ends it at once, before the TTL, never before the owner was told', async () => {
    await using pair = await sessionPair(TTL);
    const { cluster, ownerClock, sweeperClock, session } = pair;
    // Every renewal fails (lost answers, a partition) until the owner gives up; then it reaches the server again.
    const cutOff = cluster.fake.react((request) => request.resource === 'leases' && request.verb === 'update', () => Promise.reject(networkError('ECONNRESET', 'the owner is cut off')));
    let storedAtAbort: string | undefined;
    session.signal.addEventListener('abort', () => {
      storedAtAbort = stored(cluster, 'k');
      cutOff();
    });
    let elapsed = 0;
    while (!session.signal.aborted && elapsed < TTL) {
      elapsed += 100;
      await ownerClock.advance(100);
      await sweeperClock.advance(100);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    }
    assert.ok(session.signal.aborted && elapsed <= (2 * TTL) / 3 + 100, `the owner gives up 2/3 of the TTL after its last renewal (${elapsed} ms)`);
    assert.equal(storedAtAbort, 'v', 'the keys were there when the owner was told');
    // No clock moves from here: the keys go at once, not TTL after the last renewal.
    await waitFor(async () => {
      await sweeperClock.advance(0);
      return stored(cluster, 'k') === undefined;
    }, 'the keys of the released session to be deleted without waiting for the TTL');
  });

  it('refuses bad input with a typed error and writes nothing', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    await using store = await MemoryStore.open({ name: 'app', create: true, cluster, clock });
    await using other = await MemoryStore.open({ name: 'other', create: true, cluster, clock });
    for (const ttlMs of [0, 999, 1500, 86_401_000, '15000']) {
      await assert.rejects(store.session({ ttlMs: ttlMs as number }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'ttlMs');
    }
    await assert.rejects(store.session({ tll: 5000 } as never), (err: unknown) => err instanceof InvalidOptionError && err.option === 'tll');
    const session = await store.session({ ttlMs: TTL });
    const foreign = await other.session({ ttlMs: TTL });
    const revision = store.status().revision;
    await assert.rejects(store.put('k', 'v', { session: foreign }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'session');
    await assert.rejects(store.put('k', 'v', { session, ttlMs: 5000 }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'ttlMs');
    await assert.rejects(store.put('k', 'v', { session: { id: 'fake' } as never }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'session');
    await session.close();
    await assert.rejects(store.put('k', 'v', { session }), (err: unknown) => err instanceof SessionClosedError && err.session === session.id);
    await assert.rejects(store.atomicPut('k', 'v', undefined, { session }), SessionClosedError);
    await assert.rejects(store.batch([{ op: 'put', key: 'a', value: 'v' }, { op: 'put', key: 'k', value: 'v', session }]), SessionClosedError);
    assert.equal(store.status().revision, revision, 'nothing written (the close had no keys to delete)');
    assert.equal(await store.get('a'), undefined);
    await foreign.close();
  });

  it('closing the store closes its sessions, deleting their keys', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    const store = await MemoryStore.open({ name: 'app', create: true, cluster, clock });
    const session = await store.session({ ttlMs: TTL });
    await store.put('k', 'v', { session });
    await store.close();
    assert.equal(session.active, false);
    assert.equal(stored(cluster, 'k'), undefined);
    assert.equal(lease(cluster, session.id), undefined);
  });

  it('a refused expiry is tried again after 1 s, then after 2 s (doubling per failure in a row)', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    await using store = await MemoryStore.open({ name: 'app', create: true, cluster, clock });
    await store.put('k', 'v', { ttlMs: TTL });
    store.failNextWrite(new ForbiddenError('patch', 'configmaps', 'app', 'default'));
    await clock.advance(TTL);
    assert.equal(stored(cluster, 'k'), 'v', 'the expiry was refused');
    store.failNextWrite(new ForbiddenError('patch', 'configmaps', 'app', 'default'));
    await clock.advance(999);
    assert.equal(stored(cluster, 'k'), 'v', 'not tried again before 1 s');
    await clock.advance(1);
    assert.equal(stored(cluster, 'k'), 'v', 'tried again at 1 s, refused again');
    await clock.advance(1999);
    assert.equal(stored(cluster, 'k'), 'v', 'not tried again before 2 s more');
    await clock.advance(1);
    await waitFor(() => stored(cluster, 'k') === undefined, 'the third attempt to land');
  });
});

describe('session Leases no key names, on a MemoryStore', () => {
  it("a session whose owner died before binding a key: a sweeper deletes its Lease once it has seen it unrenewed for the TTL on its own clock, and never a renewed one", async () => {
    const cluster = new MemoryCluster();
    const deadClock = new ManualClock(); // never advanced: its owner never renews, as a SIGKILLed process
    const liveClock = new ManualClock();
    const sweeperClock = new ManualClock();
    // A day ahead on the wall: no renewTime is ever compared with it.
    sweeperClock.setWall(liveClock.now() + 86_400_000);
    await using deadOwner = await MemoryStore.open({ name: 'app', create: true, cluster, clock: deadClock, sweep: false });
    await using liveOwner = await MemoryStore.open({ name: 'app', cluster, clock: liveClock, sweep: false });
    await using otherBucket = await MemoryStore.open({ name: 'other', create: true, cluster, clock: deadClock, sweep: false });
    const dead = await deadOwner.session({ ttlMs: TTL });
    const live = await liveOwner.session({ ttlMs: TTL });
    const foreign = await otherBucket.session({ ttlMs: TTL });

    let lists = 0;
    cluster.fake.react((request) => request.resource === 'leases' && request.verb === 'list', async (next) => {
      const answer = await next();
      lists++;
      return answer;
    });
    // The sweeper lists the bucket's session Leases when it starts (that answer starts their TTL on its clock), then watches them.
    await using _sweeper = await MemoryStore.open({ name: 'app', cluster, clock: sweeperClock });
    await waitFor(async () => {
      await sweeperClock.advance(0);
      return lists === 1;
    }, 'the sweeper to list the session Leases');

    // The live owner renews every TTL/6; the sweeper's clock runs alongside.
    for (let i = 0; i < 6; i++) {
      await liveClock.advance(TTL / 6);
      if (i < 5) await sweeperClock.advance(TTL / 6);
      else await sweeperClock.advance(TTL / 6 - 1);
    }
    assert.ok(lease(cluster, dead.id), 'not a millisecond before the TTL');
    await sweeperClock.advance(1);
    await waitFor(() => lease(cluster, dead.id) === undefined, 'the dead session Lease to be deleted');
    assert.equal(lists, 1, 'listed once: the watch brings every renewal, nothing polls');
    assert.ok(lease(cluster, live.id), 'a renewed session Lease stays');
    assert.ok(live.active);
    assert.ok(lease(cluster, foreign.id), "another bucket's session Lease stays");
    // The live session keeps renewing through further lists and is never deleted.
    for (let i = 0; i < 18; i++) {
      await liveClock.advance(TTL / 6);
      await sweeperClock.advance(TTL / 6);
    }
    assert.ok(lease(cluster, live.id) && live.active, 'still held after three TTLs');
    assert.equal(lists, 1, 'still one list');
    await live.close();
    await foreign.close();
  });

  it('a sweeper that may not list leases logs so once, goes on sweeping keys, and tries again a minute later', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    const { logger, messages } = messageLogger();
    let lists = 0;
    cluster.fake.react((request) => request.resource === 'leases' && request.verb === 'list', (next) => (lists++, next()));
    // Refused once: RBAC granted a minute later.
    cluster.fake.refuseNext(403, { match: { verb: 'list', resource: 'leases' } });
    await using store = await MemoryStore.open({ name: 'app', create: true, cluster, clock, logger });
    await store.put('k', 'v', { ttlMs: TTL });
    await clock.advance(0);
    await clock.advance(TTL);
    await waitFor(() => stored(cluster, 'k') === undefined, 'the key to expire');
    await clock.advance(10 * 60_000);
    assert.equal(messages.filter((m) => m.startsWith('may not list and watch session Leases')).length, 1, messages.join(' | '));
    assert.equal(lists, 2, 'tried again a minute later, then watched: no more lists');
  });
});

describe('what a sweeper asks of the API server', () => {
  it('one watch for every session Lease of the bucket, however many, and one list: nothing per session, nothing periodic', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    await using owner = await MemoryStore.open({ name: 'app', create: true, cluster, clock, sweep: false });
    const sessions = await Promise.all(Array.from({ length: 5 }, () => owner.session({ ttlMs: TTL })));
    for (const [i, session] of sessions.entries()) await owner.put(`k${i}`, 'v', { session });
    // The sweeper on a port of its own, so its requests can be told from the owner's.
    const port = cluster.fake.connect(clock);
    const watches = new Set<Parsed>();
    let lists = 0;
    const release = cluster.fake.hold((watch) => {
      if (watch.port === port && watch.resource === 'leases') watches.add(watch);
      return false;
    });
    cluster.fake.react((request) => request.port === port && request.resource === 'leases' && request.verb === 'list', (next) => (lists++, next()));
    try {
      await using _sweeper = await ConfigMapStore.open({ name: 'app', api: port, clock });
      // Two TTLs of renewals, each a watch event for the sweeper.
      for (let i = 0; i < 12; i++) await clock.advance(TTL / 6);
      assert.equal(watches.size, 1, 'one Lease watch');
      assert.equal(lists, 1, 'one list, when it started');
      assert.ok(sessions.every((session) => session.active));
      for (let i = 0; i < 5; i++) assert.equal(stored(cluster, `k${i}`), 'v', 'renewed sessions keep their keys');
    } finally {
      release();
      await Promise.all(sessions.map((session) => session.close()));
    }
  });
});

describe('a sweeper refused by the API server', () => {
  it('may list but not watch leases: says so once, and tries again further and further apart (1, 2, 4 minutes)', async () => {
    const cluster = new MemoryCluster();
    const clock = new ManualClock();
    const { logger, messages } = messageLogger();
    let lists = 0;
    cluster.fake.react((request) => request.resource === 'leases' && request.verb === 'list', (next) => (lists++, next()));
    for (let i = 0; i < 20; i++) cluster.fake.refuseNext(403, { match: { verb: 'watch', resource: 'leases' } });
    await using _store = await MemoryStore.open({ name: 'app', create: true, cluster, clock, logger });
    for (let minute = 0; minute < 10; minute++) await clock.advance(60_000);
    assert.equal(lists, 4, 'tried at 0, 1, 3 and 7 minutes');
    assert.equal(messages.filter((m) => m.startsWith('may not list and watch session Leases')).length, 1, messages.join(' | '));
  });

  it('may not delete a key-less session Lease: key expiry is not held back, and the delete is tried again a minute later', async () => {
    const cluster = new MemoryCluster();
    const deadClock = new ManualClock(); // never advanced: the owner never renews
    const clock = new ManualClock();
    await using deadOwner = await MemoryStore.open({ name: 'app', create: true, cluster, clock: deadClock, sweep: false });
    const dead = await deadOwner.session({ ttlMs: TTL });
    let refusing = true;
    let deletes = 0;
    cluster.fake.react((request) => request.resource === 'leases' && request.verb === 'delete' && request.about === dead.id, (next) => {
      deletes++;
      return refusing ? Promise.reject(networkError('ECONNREFUSED', 'no delete on leases')) : next();
    });
    await using sweeper = await MemoryStore.open({ name: 'app', cluster, clock });
    await clock.advance(0);
    await clock.advance(TTL);
    await waitFor(() => deletes > 0, 'the first delete of the dead Lease');
    // A key written now expires on time, not after a backoff the refused deletes built up.
    await sweeper.put('k', 'v', { ttlMs: TTL });
    await clock.advance(TTL);
    await waitFor(() => stored(cluster, 'k') === undefined, 'the key to expire on time');
    const refused = deletes;
    refusing = false;
    await clock.advance(60_000);
    await waitFor(() => lease(cluster, dead.id) === undefined, 'the Lease to go once the delete is allowed');
    assert.ok(deletes > refused);
  });
});

describe('a sweeper whose view of a session Lease is stale', () => {
  it('a key naming a session its Lease watch has not shown yet: the sweeper reads the Lease and keeps the keys; they go a TTL after the owner dies', async () => {
    const cluster = new MemoryCluster();
    const ownerClock = new ManualClock();
    const sweeperClock = new ManualClock();
    const port = cluster.fake.connect(sweeperClock);
    await using owner = await MemoryStore.open({ name: 'app', create: true, cluster, clock: ownerClock, sweep: false });
    await using sweeper = await ConfigMapStore.open({ name: 'app', api: port, clock: sweeperClock });
    await sweeperClock.advance(0);
    // The sweeper's Lease watch stalls; its bucket watch does not: it sees the key before the Lease it names.
    const resume = cluster.fake.hold((watch) => watch.port === port && watch.resource === 'leases');
    const session = await owner.session({ ttlMs: TTL });
    await owner.put('k', 'v', { session });
    await waitFor(async () => (await sweeper.get('k'))?.value !== undefined, 'the sweeper to see the key');
    for (let i = 0; i < 3; i++) {
      await ownerClock.advance(TTL / 6);
      await sweeperClock.advance(TTL / 6);
    }
    assert.equal(stored(cluster, 'k'), 'v', 'a session the watch has not shown is read, not taken for gone');
    resume();
    // The owner dies (its clock stops): its keys go a TTL after the sweeper last saw a renewal, not before.
    await sweeperClock.advance(TTL - 100);
    assert.equal(stored(cluster, 'k'), 'v', 'not before the TTL');
    await waitFor(async () => {
      await sweeperClock.advance(100);
      return stored(cluster, 'k') === undefined;
    }, 'the keys of the dead owner to go');
    await session.close();
  });
  it('reads the Lease before ending the session: a renewal its watch has not delivered keeps the keys', async () => {
    await using pair = await sessionPair(TTL);
    const { cluster, ownerClock, sweeperClock, session } = pair;
    await sweeperClock.advance(0);
    // Watch events stall (a watch that reconnects slowly, a lagging API server cache); requests still go through.
    cluster.fake.pauseWatches();
    try {
      for (let i = 0; i < 12; i++) {
        await ownerClock.advance(TTL / 6);
        await sweeperClock.advance(TTL / 6);
      }
      assert.ok(session.active, 'the owner renews all along');
      assert.equal(stored(cluster, 'k'), 'v', 'a renewed session keeps its keys, whatever the sweeper\'s watch missed');
    } finally {
      // Closing the stores needs their watches.
      cluster.fake.resumeWatches();
    }
    // The owner dies: now the sweeper ends it, a TTL after it last saw a change.
    await sweeperClock.advance(TTL);
    await waitFor(async () => {
      await sweeperClock.advance(100);
      return stored(cluster, 'k') === undefined;
    }, 'the keys of the dead owner to go');
    assert.equal(await pair.sweeper.get('k'), undefined);
  });
});
