/**
 * A contender closed (or a lock() aborted) while its acquiring write is in
 * flight must leave no Lease naming it: the write may land with its answer
 * cut off, or reach the server only after close() returned. Real API server;
 * the lease lock is wrapped only to time the cut exactly (the requests
 * themselves are real and really land).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { AbortedError, ConfigMapStore, ForbiddenError } from '../../../src/index.js';
import { KubeLeaseLock, LeaseElector, type LeaseLock, type LeaseWriteResult } from '../../../src/election/index.js';
import { Lock } from '../../../src/lock/lock.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminApis, userWithRole, type Apis } from '../../support/kube.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
let admin: Apis;
let ns: string;

before(async () => {
  admin = adminApis();
  ns = await cp.freshNamespace('midacq');
});

const holderOf = async (name: string) => (await admin.coordination.readNamespacedLease({ name, namespace: ns })).spec?.holderIdentity;

function kubeLock(name: string): KubeLeaseLock {
  return new KubeLeaseLock({ kubeConfig: cp.adminKubeConfig(), namespace: ns, name });
}

/** Waits until `signal` aborts, then throws as a cut-off request does. */
async function cutOff(signal: AbortSignal | undefined): Promise<never> {
  if (!signal) throw new Error('the elector sent a write without a signal');
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  throw new DOMException('This operation was aborted', 'AbortError');
}

/**
 * The first write lands on the server, then `onLanded` runs (it closes the
 * contender) and the answer is withheld until the request's signal aborts:
 * the server applied the write, the contender never learns it. The watch
 * lags too (only its first observation arrives), as it tends to when answers
 * are lost, so the contender cannot learn it that way either.
 */
function answerCutOff(inner: LeaseLock, onLanded: () => void): LeaseLock {
  let writes = 0;
  const land = async (write: () => Promise<LeaseWriteResult>, signal: AbortSignal | undefined) => {
    // Only the first write (the acquisition) loses its answer; what close() sends after it is answered.
    if (writes++ > 0) return write();
    const result = await write();
    if (!result.ok) return result;
    onLanded();
    return cutOff(signal);
  };
  return {
    describe: () => inner.describe(),
    get: (signal) => inner.get(signal),
    create: (record, signal) => land(() => inner.create(record), signal),
    update: (record, rv, signal) => land(() => inner.update(record, rv), signal),
    touch: (rv, signal) => inner.touch(rv, signal),
    watch: (observer) => {
      let delivered = false;
      return inner.watch({
        onLease: (lease, rv) => {
          if (delivered) return;
          delivered = true;
          observer.onLease(lease, rv);
        },
      });
    },
  };
}

/**
 * The first write is held (as by a black-holed connection): the caller's request is
 * aborted, and the identical write reaches the server only when `deliver()`
 * is called, after the contender closed.
 */
function deliveredLate(inner: LeaseLock, onSent: () => void): { lock: LeaseLock; deliver: () => Promise<LeaseWriteResult[]> } {
  const held: Array<() => Promise<LeaseWriteResult>> = [];
  const hold = (write: () => Promise<LeaseWriteResult>, signal: AbortSignal | undefined) => {
    // Only the first write (the acquisition) is held; what close() sends after it goes through.
    if (held.length > 0) return write();
    held.push(write);
    onSent();
    return cutOff(signal);
  };
  return {
    lock: {
      describe: () => inner.describe(),
      get: (signal) => inner.get(signal),
      create: (record, signal) => hold(() => inner.create(record), signal),
      update: (record, rv, signal) => hold(() => inner.update(record, rv), signal),
      touch: (rv, signal) => inner.touch(rv, signal),
      watch: (observer) => inner.watch(observer),
    },
    deliver: () => Promise.all(held.map((write) => write())),
  };
}

function elector(name: string, identity: string, lock: LeaseLock): LeaseElector {
  return new LeaseElector({ name, namespace: ns, identity, lock, ...timings });
}

/** A released Lease (as another contender's close() leaves it), so the next acquisition is an update. */
async function releasedLease(name: string): Promise<void> {
  const first = new LeaseElector({ name, namespace: ns, kubeConfig: cp.adminKubeConfig(), identity: 'first', ...timings });
  await first.start();
  assert.ok(first.isLeader);
  await first.close();
  assert.equal(await holderOf(name), '');
}

describe('a contender closed mid-acquisition leaves no Lease naming it', () => {
  for (const path of ['create', 'update'] as const) {
    it(`the acquiring ${path} lands and close() cuts its answer off: the Lease is released`, async () => {
      const name = `cut-${path}`;
      if (path === 'update') await releasedLease(name);
      let closing: Promise<void> | undefined;
      const e = elector(name, 'cut', answerCutOff(kubeLock(name), () => {
        closing ??= e.close();
      }));
      void e.start().catch(() => {});
      await waitUntil(() => closing !== undefined, 'the acquiring write to land');
      // onLanded runs only after the server answered the write with success.
      await closing;
      assert.equal(await holderOf(name), '', 'close() left the Lease naming a contender that has gone');
    });

    it(`the acquiring ${path} reaches the server after close() returned: it cannot land`, async () => {
      const name = `late-${path}`;
      if (path === 'update') await releasedLease(name);
      let sent = false;
      const late = deliveredLate(kubeLock(name), () => (sent = true));
      const e = elector(name, 'late', late.lock);
      void e.start().catch(() => {});
      await waitUntil(() => sent, 'the acquiring write to be sent');
      await e.close();
      const results = await late.deliver();
      assert.deepEqual(results.map((r) => r.ok), [false], 'the late write landed after close()');
      assert.notEqual(await holderOf(name), 'late');
    });
  }
});

describe('an aborted lock() leaves nothing held', () => {
  it('20 waiters aborted the moment their acquiring write is answered: none stays named, the next acquires at once', async () => {
    const store = await ConfigMapStore.open({ name: 'locks', namespace: ns, kubeConfig: cp.adminKubeConfig(), create: true });
    try {
      for (let i = 0; i < 20; i++) {
        const controller = new AbortController();
        const leaseName = `aborted-${i}`;
        const lock = new Lock({
          bucket: 'locks',
          namespace: ns,
          key: `k${i}`,
          options: { ttlMs: 15_000, identity: `waiter-${i}` },
          // The abort meets the 2xx answer: fired as the answer arrives.
          leaseLock: answerCutOff(kubeLock(leaseName), () => controller.abort(new Error('gave up'))),
        });
        await assert.rejects(lock.lock({ signal: controller.signal }), AbortedError);
        await lock.close();
        assert.equal(await holderOf(leaseName), '', `waiter ${i} stays named in its Lease`);
      }
    } finally {
      await store.close();
    }
  });
});

describe('start() fails instead of hanging', () => {
  it('rejects with ForbiddenError when RBAC does not grant the Lease', async () => {
    const kubeConfig = await userWithRole(ns, 'no-leases', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }], `system:serviceaccount:${ns}:no-leases`);
    const e = new LeaseElector({ name: 'forbidden', namespace: ns, kubeConfig, identity: 'x', ...timings });
    await assert.rejects(e.start(), ForbiddenError);
    await e.close();
  });

  it('rejects with AbortedError when its signal aborts while the API server is unreachable', async () => {
    const kubeConfig = cp.adminKubeConfig();
    const cluster = kubeConfig.getCurrentCluster()!;
    kubeConfig.clusters = [{ ...cluster, server: 'https://127.0.0.1:1' }];
    const e = new LeaseElector({ name: 'unreachable', namespace: ns, kubeConfig, identity: 'x', ...timings });
    const started = performance.now();
    await assert.rejects(e.start({ signal: AbortSignal.timeout(500) }), AbortedError);
    assert.ok(performance.now() - started < 5000);
    await e.close();
  });
});

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
