/**
 * kubekv/testing's FakeCluster answers the api-facts suite
 * (test/support/api-facts.ts) as the real kube-apiserver does
 * (test/integration/kube/api-facts-port.test.ts runs it there), and its
 * faults reach the real components as the same error classes a cluster
 * would give.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError, UnavailableError } from '../../../src/errors.js';
import { ConfigMapStore } from '../../../src/index.js';
import { FakeCluster, ManualClock, MemoryCluster, MemoryStore } from '../../../src/testing/index.js';
import { apiFacts } from '../../support/api-facts.js';

let fake = new FakeCluster();
apiFacts({
  name: 'FakeCluster',
  space: () => {
    fake = new FakeCluster();
    return Promise.resolve({ api: fake.api, namespace: 'facts' });
  },
  compact: () => Promise.resolve(fake.compact()),
});

describe('FakeCluster faults', () => {
  it('a request past its deadline is UnavailableError for a ConfigMap, a Lease and an Event alike', async () => {
    const cluster = new FakeCluster({ requestTimeoutMs: 20 });
    const requests = [
      () => cluster.api.configMaps('ns').get('b'),
      () => cluster.api.leases('ns').get('l'),
      () => cluster.api.events('ns').create({ metadata: { name: 'e' } }),
    ];
    for (const request of requests) {
      cluster.delayNext(5_000);
      await assert.rejects(request(), (err: unknown) => err instanceof UnavailableError && /timed out after 20 ms/.test(err.message));
    }
  });

  it('on a ManualClock, a held request times out when the test advances the clock past its deadline, not in real time', async () => {
    const clock = new ManualClock();
    const cluster = new FakeCluster({ clock, requestTimeoutMs: 5_000 });
    cluster.delayNext(60_000, { match: { resource: 'leases' } });
    const outcome = cluster.api.leases('ns').get('l').then(() => 'answered', (err: unknown) => err);
    try {
      // Real time passes, the clock does not: a deadline timed by real time would fire here.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await clock.advance(4_999);
      assert.equal(await Promise.race([outcome, Promise.resolve('pending')]), 'pending');
      await clock.advance(1);
      // Settled by the advance itself (it lets promise chains run), not later by a real timer.
      const err = await Promise.race([outcome, Promise.resolve('pending')]);
      assert.ok(err instanceof UnavailableError && /timed out after 5000 ms/.test(err.message), String(err));
    } finally {
      // Ends the held fault (it keeps the process alive until it settles).
      await clock.advance(60_000);
    }
  });

  it('a lost answer after the write landed: the real store reads back and resolves the put', async () => {
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'b', namespace: 'ns', create: true, api: cluster.api });
    try {
      cluster.loseNextAnswer({ match: { verb: 'patch', resource: 'configmaps' } });
      const pair = await store.put('k', 'v');
      assert.equal(pair.text, 'v');
      assert.deepEqual(Object.values((cluster.object('configmaps', 'ns', 'b') as { data?: Record<string, string> }).data ?? {}).includes('v'), true);
    } finally {
      await store.close();
    }
  });

  it('loseNextAnswer() without a verb passes reads and watches by: the next write is the one whose answer is lost', async () => {
    const cluster = new FakeCluster();
    const cms = cluster.api.configMaps('ns');
    const created = await cms.create({ metadata: { name: 'x' }, data: { a: '1' } });
    assert.ok(created.ok);
    cluster.loseNextAnswer();
    assert.deepEqual((await cms.get('x'))?.data, { a: '1' });
    await assert.rejects(cms.patch('x', { metadata: { resourceVersion: created.object.metadata!.resourceVersion! }, data: { a: '2' } }), UnavailableError);
    assert.deepEqual((cluster.object('configmaps', 'ns', 'x') as { data?: unknown }).data, { a: '2' });
  });

  it('delayNext waits on the clock of the request\'s port: a MemoryStore\'s write on a ManualClock lands when the test advances it', async () => {
    const clock = new ManualClock();
    const cluster = new MemoryCluster();
    await using store = await MemoryStore.open({ name: 'b', create: true, cluster, clock });
    cluster.fake.delayNext(1_000, { match: { verb: 'patch' } });
    const put = store.put('k', 'v').then(() => 'stored', (err: unknown) => err);
    await clock.advance(999);
    assert.equal(await Promise.race([put, Promise.resolve('pending')]), 'pending');
    await clock.advance(1);
    assert.equal(await put, 'stored');
  });

  it('a delayed request whose caller gave up is never applied, and keeps the process alive no longer', async () => {
    const clock = new ManualClock();
    const cluster = new FakeCluster({ clock, requestTimeoutMs: 1_000 });
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timers();
    cluster.delayNext(60_000);
    const created = cluster.api.configMaps('ns').create({ metadata: { name: 'late' } }).catch((err: unknown) => err);
    await clock.advance(1_000);
    assert.ok((await created) instanceof UnavailableError);
    assert.equal(timers(), before);
    await clock.advance(60_000);
    assert.equal(cluster.object('configmaps', 'ns', 'late'), undefined);
  });

  it('refuses fault arguments no request could match or no server would give, with InvalidOptionError', () => {
    const cluster = new FakeCluster();
    const invalid = (option: string) => ({ code: 'INVALID_OPTION', option });
    assert.throws(() => cluster.refuseNext(200), invalid('status'));
    assert.throws(() => cluster.delayNext('100' as unknown as number), invalid('ms'));
    assert.throws(() => cluster.loseNextAnswer({ match: { verb: 'PATCH' as 'patch' } }), invalid('match.verb'));
    assert.throws(() => cluster.refuseNext(503, { match: { resource: 'configmap' as 'configmaps' } }), invalid('match.resource'));
    assert.throws(() => new FakeCluster({ requestTimeoutMs: -1 }), invalid('requestTimeoutMs'));
    assert.throws(() => cluster.refuseNext(503, { match: 'leases' as never }), invalid('match'));
    cluster.refuseNext(503, { match: { resource: 'leasecandidates' as 'leases' } });
  });

  it('a refused request is the error class the server\'s status maps to, nothing applied', async () => {
    const cluster = new FakeCluster();
    cluster.refuseNext(503);
    await assert.rejects(cluster.api.configMaps('ns').create({ metadata: { name: 'x' } }), UnavailableError);
    assert.equal(cluster.object('configmaps', 'ns', 'x'), undefined);
    await assert.rejects(cluster.api.leases('ns').get('l', { signal: AbortSignal.abort() }), AbortedError);
  });

  it('expireWatches ends a watch with 410: the real store relists and still sees later writes', async () => {
    const cluster = new FakeCluster();
    const writer = await ConfigMapStore.open({ name: 'b', namespace: 'ns', create: true, api: cluster.api });
    const reader = await ConfigMapStore.open({ name: 'b', namespace: 'ns', api: cluster.api });
    try {
      await writer.put('a', '1');
      cluster.expireWatches();
      await writer.put('b', '2');
      for (let i = 0; i < 200 && (await reader.get('b')) === undefined; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal((await reader.get('b'))?.text, '2');
      assert.equal((await reader.get('a'))?.text, '1');
    } finally {
      await writer.close();
      await reader.close();
    }
  });
});
