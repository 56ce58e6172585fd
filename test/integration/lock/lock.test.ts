/**
 * Locks against the real kube-apiserver, with a 3 s TTL (renew deadline 2 s,
 * renew period 500 ms): mutual exclusion between two stores, a handover on
 * unlock that does not wait for expiry, increasing fencing tokens, a holder
 * told of its loss (deleted Lease, partition) before anyone else acquires, an
 * aborted lock() that never acquires, Leases that stay out of list(), an RBAC
 * refusal that rejects lock() at once, and store.close() releasing its locks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { decodeKey } from '../../../src/codec/index.js';
import { KubeLeaseLock, type LeaseLock } from '../../../src/election/index.js';
import { AbortedError, ClosedError, ConfigMapStore, ForbiddenError, NotLeaderError, type LockHandle } from '../../../src/index.js';
import { Lock, lockLeaseName } from '../../../src/lock/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminApis, recordWatch, userWithRole, type Apis } from '../../support/kube.js';
import { TcpProxy, serverPort } from '../../support/tcp-proxy.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const ttlMs = 3000;
const retryPeriodMs = ttlMs / 6;
/**
 * Without a release, a waiter acquires only after seeing the Lease unchanged
 * for the TTL; it last saw a renewal at most one renew period before the
 * unlock. Acquiring sooner than this after unlock proves the release and the
 * watch worked.
 */
const beforeExpiryMs = ttlMs - retryPeriodMs;
let admin: Apis;
let ns: string;
const stores: ConfigMapStore[] = [];
const locks: Lock[] = [];

before(async () => {
  admin = adminApis();
  ns = await cp.freshNamespace('lock');
});

after(async () => {
  await Promise.all([...locks.map((l) => l.close()), ...stores.map((s) => s.close())]);
});

async function openStore(bucket: string, kubeConfig: KubeConfig = cp.adminKubeConfig()): Promise<ConfigMapStore> {
  const store = await ConfigMapStore.open({ name: bucket, namespace: ns, kubeConfig, create: true });
  stores.push(store);
  return store;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const readLease = (name: string) => admin.coordination.readNamespacedLease({ name, namespace: ns });
/** lock() that fails the test instead of hanging it. */
const acquire = (lock: Lock, ms = 30_000) => lock.lock({ signal: AbortSignal.timeout(ms) });

describe('Lock on a real API server', () => {
  it('excludes two stores from one critical section over several rounds; tokens strictly increase', async () => {
    const [a, b] = [await openStore('mutex'), await openStore('mutex')];
    await a.put('counter', '0');
    const sections: Array<{ who: string; token: number; enter: number; exit: number }> = [];
    const worker = async (store: ConfigMapStore, who: string) => {
      const lock = store.newLock('jobs/nightly', { ttlMs });
      for (let round = 0; round < 4; round++) {
        const handle = await acquire(lock);
        const enter = performance.now();
        // A read-modify-write that loses updates unless the lock excludes the other store.
        const value = Number((await store.get('counter', { consistent: true }))!.text);
        await sleep(50);
        await store.put('counter', String(value + 1));
        assert.equal(handle.signal.aborted, false, `${who} lost the lock inside its critical section`);
        sections.push({ who, token: handle.token, enter, exit: performance.now() });
        await handle.unlock();
      }
    };
    await Promise.all([worker(a, 'a'), worker(b, 'b')]);
    sections.sort((x, y) => x.enter - y.enter);
    for (let i = 1; i < sections.length; i++) {
      const [prev, next] = [sections[i - 1]!, sections[i]!];
      assert.ok(next.enter >= prev.exit, `${next.who} entered at ${next.enter} before ${prev.who} left at ${prev.exit}`);
      assert.ok(next.token > prev.token, `token ${next.token} of ${next.who} does not exceed ${prev.token} of ${prev.who}`);
    }
    assert.equal(sections.length, 8);
    assert.deepEqual(new Set(sections.map((s) => s.who)), new Set(['a', 'b']));
    assert.equal((await a.get('counter', { consistent: true }))!.text, '8', 'an update was lost: the critical sections overlapped');
  });

  it('a waiter sends no request while the holder renews, and acquires at once after unlock', async () => {
    const store = await openStore('handover');
    const holder = store.newLock('deploy', { ttlMs });
    const held = await acquire(holder);
    const counted = countingLock(new KubeLeaseLock({ kubeConfig: cp.adminKubeConfig(), namespace: ns, name: lockLeaseName('handover', 'deploy') }));
    const waiter = new Lock({ bucket: 'handover', namespace: ns, key: 'deploy', leaseLock: counted.lock, options: { ttlMs } });
    locks.push(waiter);
    let acquiredAt = 0;
    const waiting = acquire(waiter).then((h) => ((acquiredAt = performance.now()), h));
    await waitFor(() => counted.calls.includes('get') || counted.watching, 'the waiter to look at the lease');
    await sleep(500);
    counted.calls.length = 0;
    const renewBefore = Date.parse(String((await readLease(holder.leaseName)).spec!.renewTime));
    await sleep(2 * ttlMs);
    assert.deepEqual(counted.calls, [], 'the waiter polled the lease');
    assert.equal(acquiredAt, 0, 'the waiter acquired a held lock');
    assert.ok(Date.parse(String((await readLease(holder.leaseName)).spec!.renewTime)) - renewBefore >= ttlMs, 'the holder kept renewing');

    const unlockedAt = performance.now();
    await held.unlock();
    const next = await waiting;
    const handoverMs = acquiredAt - unlockedAt;
    console.log(`  handover after unlock(): ${handoverMs.toFixed(0)} ms (TTL ${ttlMs} ms)`);
    assert.ok(handoverMs < beforeExpiryMs, `handover took ${handoverMs} ms: the waiter waited for expiry`);
    assert.ok(next.token > held.token);
    assert.equal((await readLease(holder.leaseName)).spec!.holderIdentity, waiter.identity);
    await next.unlock();
  });

  it("aborts the handle's signal when the Lease is deleted; lock() again takes a new Lease", async () => {
    const store = await openStore('deleted');
    const lock = store.newLock('k', { ttlMs });
    const handle = await acquire(lock);
    await admin.coordination.deleteNamespacedLease({ name: lock.leaseName, namespace: ns });
    await waitFor(() => handle.signal.aborted, 'the handle to abort', 10_000, 10);
    assert.ok(handle.signal.reason instanceof NotLeaderError, String(handle.signal.reason));
    assert.equal(lock.held, false);
    const again = await acquire(lock);
    assert.equal((await readLease(lock.leaseName)).spec!.holderIdentity, lock.identity);
    await again.unlock();
  });

  it('a partitioned holder learns it lost the lock before another store acquires it', async () => {
    const proxy = await TcpProxy.start(serverPort(cp.adminKubeConfig()));
    try {
      const cutOff = await openStore('partition', proxy.kubeConfigFor(cp.adminKubeConfig()));
      const other = await openStore('partition');
      const held = await acquire(cutOff.newLock('k', { ttlMs }));
      let lostAt = 0;
      held.signal.addEventListener('abort', () => (lostAt = performance.now()));
      let acquiredAt = 0;
      const waiting = acquire(other.newLock('k', { ttlMs })).then((h) => ((acquiredAt = performance.now()), h));
      await sleep(1000);
      proxy.block();
      const next = await waiting;
      assert.ok(lostAt > 0, 'the cut-off holder was not told it lost the lock');
      assert.ok(lostAt < acquiredAt, `the holder learned of its loss ${(lostAt - acquiredAt).toFixed(0)} ms after another acquired`);
      console.log(`  holder gave up ${(acquiredAt - lostAt).toFixed(0)} ms before the takeover`);
      assert.ok(held.signal.reason instanceof NotLeaderError, String(held.signal.reason));
      assert.ok(next.token > held.token);
      await next.unlock();
    } finally {
      proxy.unblock();
      await proxy.close();
    }
  });

  it('an aborted lock() rejects with AbortedError and never takes the lock later', async () => {
    const store = await openStore('aborted');
    const holder = store.newLock('k', { ttlMs });
    const held = await acquire(holder);
    const waiter = store.newLock('k', { ttlMs });
    const started = performance.now();
    await assert.rejects(waiter.lock({ signal: AbortSignal.timeout(700) }), AbortedError);
    assert.ok(performance.now() - started >= 690, 'rejected before the signal fired');
    const watch = await recordWatch(admin.kc, `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { fieldSelector: `metadata.name=${holder.leaseName}` });
    try {
      await held.unlock();
      await sleep(ttlMs);
      const seen = watch.events.map((e) => (e.object.spec as { holderIdentity?: string } | undefined)?.holderIdentity);
      assert.ok(seen.includes(''), `the release was not seen: ${JSON.stringify(seen)}`);
      assert.ok(!seen.includes(waiter.identity), `the aborted waiter took the lock: ${JSON.stringify(seen)}`);
      assert.equal((await readLease(holder.leaseName)).spec!.holderIdentity, '');
    } finally {
      watch.stop();
    }
    const later = await acquire(waiter);
    assert.ok(later.token > held.token);
    await later.unlock();
  });

  it('keeps lock Leases out of list(), labels them by bucket, and locks on different keys independently', async () => {
    const store = await openStore('listing');
    await store.put('a', '1');
    const keys = ['a', `locks/${'é'.repeat(40)}`, 'jobs/nightly'];
    const handles: LockHandle[] = [];
    // Each is acquired while the others are held: different keys do not wait for each other.
    for (const key of keys) handles.push(await acquire(store.newLock(key, { ttlMs }), ttlMs));
    const listed = await store.list('');
    assert.deepEqual(listed.map((p) => [p.key, p.text]), [['a', '1']]);
    assert.deepEqual(Object.keys((await admin.core.readNamespacedConfigMap({ name: 'listing', namespace: ns })).data ?? {}), ['a']);

    const leases = (await admin.coordination.listNamespacedLease({ namespace: ns, labelSelector: 'kubekv.dev/bucket=listing' })).items;
    assert.deepEqual(leases.map((l) => l.metadata!.name).sort(), keys.map((k) => lockLeaseName('listing', k)).sort());
    for (const lease of leases) {
      assert.equal(lease.metadata!.labels!['app.kubernetes.io/managed-by'], 'kubekv');
      assert.equal(lease.metadata!.labels!['app.kubernetes.io/component'], 'lock');
      const key = decodeKey(lease.metadata!.annotations!['kubekv.dev/lock-key']!);
      assert.equal(lease.metadata!.name, lockLeaseName('listing', key));
      assert.ok(lease.spec!.holderIdentity, 'held');
    }
    for (const h of handles) await h.unlock();
    // Renewals and the release keep the labels (a PUT replaces the whole object).
    const after = await readLease(lockLeaseName('listing', 'a'));
    assert.equal(after.metadata!.labels!['kubekv.dev/bucket'], 'listing');
    assert.equal(after.spec!.holderIdentity, '');
  });

  it('labels the Lease of a bucket whose name is too long for a label exactly as the bucket', async () => {
    const bucket = `long-${'b'.repeat(100)}.example`;
    const store = await openStore(bucket);
    const lock = store.newLock('k', { ttlMs });
    const handle = await acquire(lock, ttlMs);
    const label = (await admin.core.readNamespacedConfigMap({ name: bucket, namespace: ns })).metadata!.labels!['kubekv.dev/bucket']!;
    const leases = (await admin.coordination.listNamespacedLease({ namespace: ns, labelSelector: `kubekv.dev/bucket=${label}` })).items;
    assert.deepEqual(leases.map((l) => l.metadata!.name), [lock.leaseName]);
    await handle.unlock();
  });

  it('rejects lock() with ForbiddenError when RBAC does not grant create on leases, instead of waiting forever', async () => {
    await openStore('rbac');
    const user = `system:serviceaccount:${ns}:reader`;
    const kubeConfig = await userWithRole(ns, 'reader', [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] },
    ], user);
    const store = await ConfigMapStore.open({ name: 'rbac', namespace: ns, kubeConfig });
    stores.push(store);
    await assert.rejects(acquire(store.newLock('k', { ttlMs })), (err: unknown) => err instanceof ForbiddenError && err.verb === 'create' && err.resource === 'leases');
  });

  it('store.close() releases its held locks at once and refuses new ones', async () => {
    const closing = await openStore('closing');
    const other = await openStore('closing');
    const lock = closing.newLock('k', { ttlMs });
    const held = await acquire(lock);
    let acquiredAt = 0;
    const waiting = acquire(other.newLock('k', { ttlMs })).then((h) => ((acquiredAt = performance.now()), h));
    await sleep(1000);
    const closedAt = performance.now();
    await closing.close();
    assert.ok(held.signal.reason instanceof ClosedError, String(held.signal.reason));
    const next = await waiting;
    assert.ok(acquiredAt - closedAt < beforeExpiryMs, `the other store waited ${acquiredAt - closedAt} ms: close() did not release`);
    await assert.rejects(lock.lock(), ClosedError);
    assert.throws(() => closing.newLock('k'), ClosedError);
    await next.unlock();
  });
});

/** Wraps a lease lock to record every get/create/update; the watch passes through. */
function countingLock(inner: LeaseLock): { lock: LeaseLock; calls: string[]; watching: boolean } {
  const counted = { calls: [] as string[], watching: false, lock: undefined as unknown as LeaseLock };
  counted.lock = {
    describe: () => inner.describe(),
    get: (signal) => (counted.calls.push('get'), inner.get(signal)),
    create: (record, signal) => (counted.calls.push('create'), inner.create(record, signal)),
    update: (record, rv, signal) => (counted.calls.push('update'), inner.update(record, rv, signal)),
    touch: (rv, signal) => (counted.calls.push('touch'), inner.touch(rv, signal)),
    watch: (observer) => ((counted.watching = true), inner.watch(observer)),
  };
  return counted;
}
