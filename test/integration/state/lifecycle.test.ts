/**
 * StateManager start and stop on a real API server: start() fails fast and
 * leaves nothing behind (RBAC, bad options, abort); close() hands over only
 * after the onLeader handlers returned (bounded by shutdownGraceMs); /livez
 * fails like client-go's health adaptor when renewals are overdue.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { createServer as createNetServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { AbortedError, ClosedError, ForbiddenError, InvalidOptionError, StateManager, healthHandler, systemClock, type Clock, type StateManagerOptions } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectApiStatus, userWithRole } from '../../support/kube.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const open: StateManager[] = [];
after(async () => {
  for (const manager of open) await manager.close();
});

async function start(namespace: string, identity: string, extra: Partial<StateManagerOptions> = {}): Promise<StateManager> {
  const manager = await StateManager.start({ name: 'app', namespace, kubeConfig: cp.adminKubeConfig(), identity, ...timings, ...extra });
  open.push(manager);
  return manager;
}

const core = () => cp.adminKubeConfig().makeApiClient(CoreV1Api);
const holderOf = async (namespace: string) =>
  (await cp.adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'app-leader', namespace })).spec?.holderIdentity;

describe('StateManager.start() fails fast and leaves nothing behind', () => {
  it('rejects with ForbiddenError when RBAC grants the buckets but not the Lease', async () => {
    const namespace = await cp.freshNamespace('sm-rbac');
    const kubeConfig = await userWithRole(namespace, 'no-lease', [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
    ], `system:serviceaccount:${namespace}:no-lease`);
    await assert.rejects(
      StateManager.start({ name: 'app', namespace, kubeConfig, identity: 'r', ...timings, signal: AbortSignal.timeout(30_000) }),
      (err: unknown) => err instanceof ForbiddenError && err.code === 'FORBIDDEN',
    );
  });

  it('rejects bad timing options before creating any bucket', async () => {
    const namespace = await cp.freshNamespace('sm-options');
    await assert.rejects(
      StateManager.start({ name: 'app', namespace, kubeConfig: cp.adminKubeConfig(), leaseDurationMs: 2000, renewDeadlineMs: 3000 }),
      (err: unknown) => err instanceof InvalidOptionError && err.option === 'leaseDurationMs',
    );
    await assert.rejects(StateManager.start({ name: 'app', namespace, kubeConfig: cp.adminKubeConfig(), shutdownGraceMs: -1 }), InvalidOptionError);
    await expectApiStatus(core().readNamespacedConfigMap({ name: 'app-state', namespace }), 404);
  });

  it('rejects with AbortedError when its signal aborts while the API server does not answer', async () => {
    // A black hole on loopback: connections are accepted, nothing ever answers.
    const sockets = new Set<Socket>();
    const hole = createNetServer((socket) => sockets.add(socket)).listen(0, '127.0.0.1');
    await once(hole, 'listening');
    try {
      const kubeConfig = cp.adminKubeConfig();
      kubeConfig.clusters = [{ ...kubeConfig.getCurrentCluster()!, server: `https://127.0.0.1:${(hole.address() as { port: number }).port}` }];
      const started = performance.now();
      await assert.rejects(StateManager.start({ name: 'app', namespace: 'default', kubeConfig, ...timings, signal: AbortSignal.timeout(500) }), AbortedError);
      assert.ok(performance.now() - started < 5000);
    } finally {
      for (const socket of sockets) socket.destroy();
      hole.close();
    }
  });
});

describe('graceful handover (KEP-5366 order)', () => {
  it('close() releases the Lease only after the onLeader handlers returned; their final writes land', async () => {
    const namespace = await cp.freshNamespace('sm-grace');
    const first = await start(namespace, 'first');
    await waitFor(() => first.isLeader, 'first to lead');
    const second = await start(namespace, 'second');
    let returnedAt = 0;
    let secondLedAt = 0;
    first.onLeader(async ({ signal, store }) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      // Cleanup that takes a while and writes a checkpoint, as leader work does.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await store.put('checkpoint', 'done');
      returnedAt = Date.now();
    });
    second.onLeader(() => {
      secondLedAt = Date.now();
    });
    await first.close();
    assert.ok(returnedAt > 0, 'close() returned before the handler did');
    await waitFor(() => secondLedAt > 0, 'second to lead');
    assert.ok(secondLedAt >= returnedAt, `second led ${returnedAt - secondLedAt} ms before the first's handler returned`);
    assert.equal((await second.store.get('checkpoint', { consistent: true }))?.text, 'done');
  });

  it('a handler that never returns holds the handover for shutdownGraceMs only, and cannot write after it', async () => {
    const namespace = await cp.freshNamespace('sm-grace-bound');
    const stuck = await start(namespace, 'stuck', { shutdownGraceMs: 800 });
    await waitFor(() => stuck.isLeader, 'leadership');
    let lateWrite: Promise<unknown> | undefined;
    let release: () => void = () => {};
    stuck.onLeader(({ store }) => new Promise<void>((resolve) => {
      release = () => {
        lateWrite = store.put('late', 'x');
        resolve();
      };
    }));
    const startedAt = performance.now();
    await stuck.close();
    const tookMs = performance.now() - startedAt;
    assert.ok(tookMs >= 750, `close() took ${tookMs} ms: it did not wait for the handler`);
    // Once, not once per drain (close(), then the elector's onStoppedLeading).
    assert.ok(tookMs < 800 + 1200, `close() took ${Math.round(tookMs)} ms with shutdownGraceMs 800: it waited more than once`);
    assert.equal(await holderOf(namespace), '', 'the Lease was not released after the grace');
    release();
    await assert.rejects(lateWrite!, ClosedError);
  });
});

describe('/livez', () => {
  it('ignores wall-clock steps; fails when this replica believes it leads but no renewal landed within leaseDuration + tolerance of monotonic time', async () => {
    const namespace = await cp.freshNamespace('sm-livez');
    let wallSkewMs = 0;
    // Monotonic time moved on alone: as if the process had been paused (its timers did not run meanwhile).
    let pausedMs = 0;
    const clock: Clock = { now: () => systemClock.now() + wallSkewMs, monotonic: () => systemClock.monotonic() + pausedMs, setTimer: (fn, ms) => systemClock.setTimer(fn, ms) };
    const manager = await start(namespace, 'live', { clock, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 });
    await waitFor(() => manager.isLeader, 'leadership');
    const server = createServer(healthHandler(manager, { livenessToleranceMs: 5000 })).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/livez`;
    try {
      assert.equal((await fetch(url)).status, 200);
      // NTP steps, either way, well past leaseDuration + tolerance: a healthy leader stays live.
      for (const skew of [3_600_000, -3_600_000]) {
        wallSkewMs = skew;
        assert.equal(manager.isLive(5000), true, `not live with the wall clock stepped ${skew} ms`);
        assert.equal((await fetch(url)).status, 200, `/livez failed with the wall clock stepped ${skew} ms`);
      }
      // The wall clock stays an hour back: it must not hide the overdue renewal.
      for (let attempt = 1; ; attempt++) {
        const renewedAt = manager.status().lastRenewAt;
        pausedMs += 15_000 + 5000 + 1000;
        assert.equal(manager.isLive(5000), false, 'live with its last renewal leaseDuration + tolerance + 1 s ago');
        if ((await fetch(url)).status === 503) break;
        // Only a renewal landing between the two (they come every 2 s) makes it live again.
        assert.notEqual(manager.status().lastRenewAt, renewedAt, '/livez answered 200 with no new renewal');
        assert.ok(attempt < 3, 'a renewal landed during every attempt');
      }
      // The next renewal brings it back.
      await waitFor(async () => (await fetch(url)).status === 200, 'a renewal to make it live again', 10_000);
    } finally {
      server.close();
    }
  });
});
