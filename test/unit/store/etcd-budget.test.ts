/**
 * The etcd budget (src/store/etcd-budget.ts): within any window a store
 * spends at most its budget, and a store over it makes writes wait, not
 * fail: they go out together in fewer, fuller commits, each by its deadline.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_STORED_BYTES } from '../../../src/codec/index.js';
import { ClosedError, ConfigMapStore, DeadlineExceededError, InvalidOptionError } from '../../../src/index.js';
import { EtcdBudget } from '../../../src/store/etcd-budget.js';
import { FakeCluster, ManualClock } from '../../../src/testing/index.js';

describe('EtcdBudget', () => {
  it('spends at most its bytes within any window, whatever the commit sizes', async () => {
    const clock = new ManualClock();
    const bytes = 20 * MAX_STORED_BYTES;
    const windowMs = 60_000;
    const budget = new EtcdBudget(clock, { bytes, windowMs });
    const spent: Array<{ at: number; bytes: number }> = [];
    let seed = 7;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    // A greedy writer: sends whenever allowed, commits of 1 KB to etcd's largest object.
    while (clock.monotonic() < 10 * windowMs) {
      const wait = budget.waitMs();
      if (wait > 0) await clock.advance(wait);
      const size = Math.floor(1_000 + random() * (MAX_STORED_BYTES - 1_000));
      budget.charge(size);
      spent.push({ at: clock.monotonic(), bytes: size });
      await clock.advance(Math.floor(random() * 50));
    }
    let worst = 0;
    for (let i = 0, j = 0, sum = 0; i < spent.length; i++) {
      sum += spent[i]!.bytes;
      while (spent[i]!.at - spent[j]!.at >= windowMs) sum -= spent[j++]!.bytes;
      worst = Math.max(worst, sum);
    }
    assert.ok(worst <= bytes, `spent ${worst} bytes within one window, budget ${bytes}`);
    // And it is a budget, not a stop: a greedy writer gets most of it.
    assert.ok(worst > 0.8 * bytes, `a greedy writer got only ${worst} of ${bytes} bytes within a window`);
  });

  it('refuses a budget too small for one object, and a window that is not a positive integer', () => {
    const clock = new ManualClock();
    assert.throws(() => new EtcdBudget(clock, { bytes: 1_000 }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'etcdBudget.bytes');
    assert.throws(() => new EtcdBudget(clock, { windowMs: 0 }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'etcdBudget.windowMs');
  });
});

describe('a store over its etcd budget', () => {
  it('makes writes wait, not fail, and go out together once it allows', async () => {
    const clock = new ManualClock();
    const cluster = new FakeCluster();
    const bytes = 4 * MAX_STORED_BYTES;
    const store = await ConfigMapStore.open({ name: 'b', namespace: 'ns', create: true, api: cluster.api, clock, etcdBudget: { bytes, windowMs: 60_000 }, timeoutMs: 600_000, compression: false });
    const revision = () => Number((cluster.object('configmaps', 'ns', 'b') as { metadata: { annotations: Record<string, string> } }).metadata.annotations['kubekv.dev/revision']);
    const realTime = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      // Commits of ~400 KB each: the burst (bytes / 8, 786 KB) lets two
      // through at once, then the balance is in debt.
      await store.put('big', 'x'.repeat(400_000));
      await store.put('big', 'y'.repeat(400_000));
      const revisionBefore = revision();
      let settled = 0;
      const writes = Array.from({ length: 40 }, (_, i) => store.put(`k${i}`, String(i)).finally(() => settled++));
      await realTime(200);
      assert.equal(settled, 0, 'writes went out while the budget was spent');
      assert.equal(revision(), revisionBefore);
      await clock.advance(60_000);
      const results = await Promise.allSettled(writes);
      assert.deepEqual(results.filter((r) => r.status === 'rejected'), []);
      assert.equal(revision() - revisionBefore, 1, 'the 40 writes that waited did not go out in one commit');
      for (let i = 0; i < 40; i++) assert.equal((await store.get(`k${i}`))?.text, String(i));
    } finally {
      await store.close();
    }
  });

  it('a write that waits past its deadline ends DeadlineExceededError (definitely not stored); close() ends the wait', async () => {
    const clock = new ManualClock();
    const cluster = new FakeCluster();
    const store = await ConfigMapStore.open({ name: 'b', namespace: 'ns', create: true, api: cluster.api, clock, etcdBudget: { bytes: 4 * MAX_STORED_BYTES, windowMs: 60_000 }, compression: false });
    await store.put('big', 'x'.repeat(400_000));
    await store.put('big', 'y'.repeat(900_000)); // ~500 KB in debt: about 8 s of refill
    const late = assert.rejects(store.put('k', 'v', { timeoutMs: 1_000 }), DeadlineExceededError);
    await clock.advance(1_000);
    await late;
    assert.equal(await store.get('k'), undefined);
    const waiting = assert.rejects(store.put('k', 'w'), ClosedError);
    await store.close();
    await waiting;
  });

  it('etcdBudget: false sends each commit at once; a bad etcdBudget is InvalidOptionError naming it', async () => {
    const cluster = new FakeCluster();
    await assert.rejects(ConfigMapStore.open({ name: 'b', namespace: 'ns', create: true, api: cluster.api, etcdBudget: { bytes: 10 } }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'etcdBudget.bytes');
    await assert.rejects(ConfigMapStore.open({ name: 'b', namespace: 'ns', create: true, api: cluster.api, etcdBudget: { bites: 10 } as never }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'etcdBudget.bites');
    const store = await ConfigMapStore.open({ name: 'b', namespace: 'ns', create: true, api: cluster.api, etcdBudget: false, compression: false });
    try {
      for (let i = 0; i < 20; i++) await store.put('big', `${i}${'x'.repeat(900_000)}`);
    } finally {
      await store.close();
    }
  });
});
