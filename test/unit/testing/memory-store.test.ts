/**
 * MemoryStore's test controls (kubekv/testing): lost answers (landed and not
 * landed), failed writes, another writer's interleaved change, a paused
 * watch, an injected clock, and its locks. What it shares with the real
 * store (the Store contract) is proven by the store conformance suite,
 * which runs against both (test/integration/store/conformance*.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClosedError,
  DeadlineExceededError,
  ForbiddenError,
  KeyExistsError,
  KeyModifiedError,
  OutcomeUnknownError,
  type Store,
  type TreeEvent,
} from '../../../src/index.js';
import { MemoryCluster, MemoryStore, ManualClock } from '../../../src/testing/index.js';
import { expectKubekvError, nextValue } from '../../support/store.js';

/** Any code written against the Store interface, as an app would write it. */
async function increment(store: Store, key: string): Promise<{ value: number; conflicts: number }> {
  for (let conflicts = 0; ; conflicts++) {
    const current = await store.get(key, { consistent: true });
    const value = Number(current?.text ?? '0') + 1;
    try {
      await (current ? store.atomicPut(key, String(value), current) : store.atomicPut(key, String(value)));
      return { value, conflicts };
    } catch (err) {
      if (!(err instanceof KeyModifiedError || err instanceof KeyExistsError)) throw err;
    }
  }
}

const open = (cluster = new MemoryCluster()) => MemoryStore.open({ name: 'app-state', create: true, cluster });

describe('MemoryStore is a Store', () => {
  it('type-checks where a Store is expected, and opens only what exists without create', async () => {
    const cluster = new MemoryCluster();
    const store: Store = await open(cluster);
    await store.put('k', 'v');
    const peer: Store = await MemoryStore.open({ name: 'app-state', cluster });
    assert.equal((await peer.get('k'))?.text, 'v');
    await assert.rejects(MemoryStore.open({ name: 'other', cluster }), { code: 'BUCKET_NOT_FOUND' });
    await assert.rejects(MemoryStore.open({ name: 'app-state' }), { code: 'BUCKET_NOT_FOUND' }, 'a store without a cluster saw another cluster\'s bucket');
    await assert.rejects(MemoryStore.open({ name: 'Not_A_Name', create: true }), { code: 'INVALID_OPTION', option: 'name' });
    await assert.rejects(MemoryStore.open({ name: 'x', namespace: 'Bad Namespace', create: true }), { code: 'INVALID_OPTION', option: 'namespace' });
    await assert.rejects(MemoryStore.open({ name: 'x', create: true, cluster: {} as never }), { code: 'INVALID_OPTION', option: 'cluster' });
    await assert.rejects(MemoryStore.open(undefined as never), { code: 'INVALID_OPTION', option: 'options' });
    await store.close();
    await peer.close();
  });
});

describe('loseNextAnswer', () => {
  it('landed: the caller gets OutcomeUnknownError, the value is stored, and readers see it', async () => {
    const cluster = new MemoryCluster();
    await using store = await open(cluster);
    await using reader = await MemoryStore.open({ name: 'app-state', cluster });
    const before = (await store.put('warm-up', '1')).lastIndex;
    store.loseNextAnswer({ landed: true });
    const err = await expectKubekvError(store.put('jobs/1', 'done'), OutcomeUnknownError, 'OUTCOME_UNKNOWN');
    assert.equal(err.retryable, false);
    const stored = await reader.get('jobs/1', { consistent: true });
    assert.deepEqual([stored?.text, stored?.lastIndex], ['done', before + 1]);
    // The fault was used up: the next write is answered.
    assert.equal((await store.put('jobs/2', 'x')).lastIndex, before + 2);
  });

  it('not landed: the caller gets OutcomeUnknownError and nothing is stored', async () => {
    await using store = await open();
    await store.put('jobs/1', 'running');
    const before = store.status();
    store.loseNextAnswer({ landed: false });
    await expectKubekvError(store.put('jobs/1', 'done'), OutcomeUnknownError, 'OUTCOME_UNKNOWN');
    assert.equal((await store.get('jobs/1', { consistent: true }))?.text, 'running');
    assert.deepEqual([store.status().revision, store.status().resourceVersion], [before.revision, before.resourceVersion]);
  });

  it('skips writes that send nothing (a failed condition, a no-op) and hits every write of the next commit', async () => {
    await using store = await open();
    await store.put('k', 'v');
    store.loseNextAnswer({ landed: true });
    await expectKubekvError(store.atomicPut('k', 'w'), KeyExistsError, 'KEY_EXISTS');
    assert.equal(await store.delete('never-was'), false);
    const results = await Promise.allSettled([store.put('a', '1'), store.put('b', '2')]);
    assert.deepEqual(results.map((r) => r.status === 'rejected' && (r.reason as OutcomeUnknownError).code), ['OUTCOME_UNKNOWN', 'OUTCOME_UNKNOWN']);
    assert.deepEqual((await store.list('')).map((p) => p.key), ['a', 'b', 'k']);
  });

  it('lets a caller recover as the docs say: read with consistent: true before writing again', async () => {
    await using store = await open();
    store.loseNextAnswer({ landed: true });
    store.loseNextAnswer({ landed: false });
    const outcomes: string[] = [];
    for (const value of ['first', 'second']) {
      try {
        await store.put(`w/${value}`, value);
        outcomes.push('stored');
      } catch (err) {
        if (!(err instanceof OutcomeUnknownError)) throw err;
        outcomes.push((await store.exists(`w/${value}`, { consistent: true })) ? 'unknown, then found' : 'unknown, then absent');
      }
    }
    assert.deepEqual(outcomes, ['unknown, then found', 'unknown, then absent']);
  });

  it('refuses an options object without a boolean `landed`', async () => {
    await using store = await open();
    assert.throws(() => store.loseNextAnswer({} as { landed: boolean }), { code: 'INVALID_OPTION', option: 'landed' });
  });
});

describe('failNextWrite', () => {
  it('by default the write rejects with DeadlineExceededError (retryable) and is not stored', async () => {
    await using store = await open();
    store.failNextWrite();
    const err = await expectKubekvError(store.put('k', 'v'), DeadlineExceededError, 'DEADLINE_EXCEEDED');
    assert.equal(err.retryable, true);
    assert.equal(await store.exists('k', { consistent: true }), false);
    await store.put('k', 'v');
    assert.equal(await store.exists('k'), true);
  });

  it('rejects with the error given, e.g. a ForbiddenError', async () => {
    await using store = await open();
    store.failNextWrite(new ForbiddenError('patch', 'configmaps', 'app-state', 'default'));
    await expectKubekvError(store.batch([{ op: 'put', key: 'a', value: '1' }]), ForbiddenError, 'FORBIDDEN');
    assert.deepEqual(await store.list(''), []);
  });
});

describe('beforeNextWrite', () => {
  it('makes a read-modify-write meet another writer\'s change: the CAS fails once, the retry wins, nothing is lost', async () => {
    await using store = await open();
    await store.put('counter', '5');
    const interposed = store.beforeNextWrite((other) => other.put('counter', '10'));
    const result = await increment(store, 'counter');
    await interposed;
    assert.deepEqual(result, { value: 11, conflicts: 1 });
    assert.equal((await store.get('counter'))?.text, '11');
  });

  it('the other writer is another store on the bucket: a watcher sees its change, then this store\'s, in order', async () => {
    await using store = await open();
    const controller = new AbortController();
    const events = store.watchTree('', { signal: controller.signal })[Symbol.asyncIterator]();
    await nextValue(events);
    const interposed = store.beforeNextWrite(async (other) => {
      assert.notEqual(other, store);
      await other.put('by/other', 'x');
    });
    const mine = await store.put('by/me', 'y');
    await interposed;
    const first: TreeEvent = await nextValue(events);
    const second: TreeEvent = await nextValue(events);
    assert.deepEqual([first.type === 'put' && first.pair.key, second.type === 'put' && second.pair.key], ['by/other', 'by/me']);
    assert.equal(second.revision, mine.lastIndex);
    assert.equal(first.revision, mine.lastIndex - 1);
    controller.abort();
  });

  it('rejects with the action\'s error and still commits the write; rejects with ClosedError if the store closes first', async () => {
    const store = await open();
    const failing = store.beforeNextWrite(() => {
      throw new Error('boom');
    });
    await store.put('k', 'v');
    await assert.rejects(failing, /boom/);
    assert.equal(await store.exists('k'), true);
    const never = store.beforeNextWrite(() => {});
    await store.close();
    await assert.rejects(never, ClosedError);
  });
});

describe('pauseWatch and an injected clock', () => {
  it('a paused store keeps its stale cache (status says so) until resumeWatch; consistent reads see the truth', async () => {
    const clock = new ManualClock();
    const cluster = new MemoryCluster();
    await using writer = await open(cluster);
    await using follower = await MemoryStore.open({ name: 'app-state', cluster, clock });
    const events = follower.watch('k')[Symbol.asyncIterator]();
    assert.equal((await nextValue(events)).pair, undefined);
    follower.pauseWatch();
    const written = await writer.put('k', 'v1');
    await clock.advance(7_000);
    assert.equal(await follower.get('k'), undefined, 'a paused cache saw a change');
    // As over a stalled watch connection: still connected, but nothing heard for 7 s of the store's clock.
    const status = follower.status();
    assert.deepEqual([status.connected, status.stalenessMs, status.lastError], [true, 7_000, undefined]);
    await follower.resumeWatch();
    assert.deepEqual([(await follower.get('k'))?.text, follower.status().stalenessMs], ['v1', 0]);
    const event = await nextValue(events);
    assert.deepEqual([event.pair?.text, event.revision], ['v1', written.lastIndex]);
    follower.pauseWatch();
    await writer.put('k', 'v2');
    assert.equal((await follower.get('k', { consistent: true }))?.text, 'v2');
    await events.return?.();
  });

  it('a write whose request is held past its deadline (timeoutMs, on the injected clock) rejects with OutcomeUnknownError; the held request never lands', async () => {
    const clock = new ManualClock();
    await using store = await MemoryStore.open({ name: 'app-state', create: true, clock });
    const release = Promise.withResolvers<void>();
    const interposed = store.beforeNextWrite(() => release.promise);
    const write = store.put('k', 'v', { timeoutMs: 5_000 });
    const settled = write.then(() => 'stored', (err: { code?: string }) => err.code);
    await clock.advance(4_999);
    assert.equal(await Promise.race([settled, Promise.resolve('pending')]), 'pending');
    await clock.advance(1);
    // The request was on its way when the deadline passed: the real store cannot know whether it landed.
    assert.equal(await settled, 'OUTCOME_UNKNOWN');
    release.resolve();
    await interposed;
    assert.equal(await store.exists('k', { consistent: true }), false);
  });
});

describe('on a Secret bucket (kind: \'Secret\')', () => {
  it('the controls hit the store\'s Secret: a lost answer, a refused write, a paused watch', async () => {
    const cluster = new MemoryCluster();
    await using store = await MemoryStore.open({ name: 'app-state', kind: 'Secret', create: true, cluster });
    await using follower = await MemoryStore.open({ name: 'app-state', kind: 'Secret', cluster });
    assert.ok(cluster.fake.object('secrets', 'default', 'app-state'));
    store.loseNextAnswer({ landed: true });
    await expectKubekvError(store.put('a', '1'), OutcomeUnknownError, 'OUTCOME_UNKNOWN');
    assert.equal((await store.get('a', { consistent: true }))?.text, '1');
    store.failNextWrite();
    await expectKubekvError(store.put('b', '2'), DeadlineExceededError, 'DEADLINE_EXCEEDED');
    follower.pauseWatch();
    await store.put('c', '3');
    assert.equal(await follower.get('c'), undefined, 'a paused cache saw a change');
    await follower.resumeWatch();
    assert.equal((await follower.get('c'))?.text, '3');
  });
});

describe('locks', () => {
  it('Locks of two stores on one cluster exclude each other; unlock hands over at once with a greater token', async () => {
    const cluster = new MemoryCluster();
    await using a = await open(cluster);
    await using b = await MemoryStore.open({ name: 'app-state', cluster });
    const held = await a.newLock('reports/nightly').lock();
    let acquired = false;
    const waiting = b.newLock('reports/nightly').lock().then((handle) => ((acquired = true), handle));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(acquired, false, 'a second holder acquired a held lock');
    assert.deepEqual(await a.list(''), [], 'a lock showed up as a key');
    await held.unlock();
    assert.equal(held.signal.aborted, true);
    const next = await waiting;
    assert.ok(next.token > held.token, `token ${next.token} is not above ${held.token}`);
    await next.unlock();
  });

  it('on a ManualClock: a holder that keeps renewing keeps the lock however long; its unlock hands over at once', async () => {
    const clock = new ManualClock();
    const cluster = new MemoryCluster();
    await using a = await MemoryStore.open({ name: 'app-state', create: true, cluster, clock });
    await using b = await MemoryStore.open({ name: 'app-state', cluster, clock });
    const held = await a.newLock('k', { ttlMs: 3_000 }).lock();
    let acquired = false;
    const waiting = b.newLock('k', { ttlMs: 3_000 }).lock().then((handle) => ((acquired = true), handle));
    await clock.advance(60_000);
    assert.deepEqual([acquired, held.signal.aborted], [false, false], 'the lock changed hands while its holder renewed');
    await held.unlock();
    const next = await waiting;
    assert.ok(next.token > held.token);
    await next.unlock();
  });

  it('close() unlocks a held lock and rejects a waiting lock() with ClosedError', async () => {
    const cluster = new MemoryCluster();
    const a = await open(cluster);
    await using b = await MemoryStore.open({ name: 'app-state', cluster });
    const held = await a.newLock('k').lock();
    const other = await b.newLock('w').lock();
    const waiting = a.newLock('w').lock();
    await a.close();
    assert.equal(held.signal.aborted, true);
    await assert.rejects(waiting, ClosedError);
    await other.unlock();
    const again = await b.newLock('k').lock({ signal: AbortSignal.timeout(5_000) });
    await again.unlock();
    assert.throws(() => a.newLock('k'), ClosedError);
  });
});
