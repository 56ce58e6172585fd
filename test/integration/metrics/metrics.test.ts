/**
 * Metrics against the real control plane, read the way Prometheus reads
 * them (the Registry's text exposition): the leader gauge flips across a
 * real failover; writes are counted by result and timed; CAS conflicts and
 * their retries are counted under real contention between two stores;
 * a fenced write is counted; lock holds and a real loss are counted; watch
 * restarts after dropped connections; many components share one Registry;
 * nothing is registered without the option.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Registry, register as globalRegistry } from 'prom-client';
import { ConfigMapStore, FencedError, NotLeaderError, StateManager } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { TcpProxy, serverPort } from '../../support/tcp-proxy.js';
import { waitFor } from '../../support/wait.js';
import { setBucketEpoch, takeOverLease } from '../events/kube-helpers.js';
import { scrape, sumIn, valueIn } from './scrape.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const proxies: TcpProxy[] = [];
after(async () => {
  for (const proxy of proxies) await proxy.close();
});

describe('metrics of a StateManager', () => {
  it('after a real failover: the leader gauge flips, writes are counted by result and timed, the closed store\'s staleness goes', async () => {
    const namespace = await cp.freshNamespace('metrics-failover');
    const kubeConfig = cp.adminKubeConfig();
    // One Registry per replica, as each replica process has its own.
    const ra = new Registry();
    const rb = new Registry();
    const lease = { name: 'app-leader' };
    const bucket = { namespace, bucket: 'app-state' };
    const a = await StateManager.start({ name: 'app', namespace, kubeConfig, identity: 'a', ...timings, metrics: { registry: ra } });
    let b: StateManager | undefined;
    try {
      await waitFor(() => a.isLeader, 'a to lead');
      b = await StateManager.start({ name: 'app', namespace, kubeConfig, identity: 'b', ...timings, metrics: { registry: rb } });
      let [sa, sb] = [await scrape(ra), await scrape(rb)];
      assert.equal(valueIn(sa, 'leader_election_master_status', lease), 1, 'the leader reports 1');
      assert.equal(valueIn(sb, 'leader_election_master_status', lease), 0, 'the follower reports 0');

      const okBefore = valueIn(sa, 'kubekv_writes_total', { ...bucket, result: 'ok' }) ?? 0;
      const timedBefore = valueIn(sa, 'kubekv_write_duration_seconds_count', bucket) ?? 0;
      assert.ok(okBefore >= 1, "the new leader's epoch raise is a write");
      for (let i = 0; i < 5; i++) await a.store.put(`k${i}`, 'v');
      await assert.rejects(b.store.put('k', 'v'), NotLeaderError);
      [sa, sb] = [await scrape(ra), await scrape(rb)];
      assert.equal(valueIn(sa, 'kubekv_writes_total', { ...bucket, result: 'ok' }), okBefore + 5);
      assert.equal(valueIn(sa, 'kubekv_write_duration_seconds_count', bucket), timedBefore + 5);
      assert.ok(valueIn(sa, 'kubekv_write_duration_seconds_sum', bucket)! > 0);
      assert.equal(valueIn(sb, 'kubekv_writes_total', { ...bucket, result: 'not_leader' }), 1, "the follower's refused write");
      assert.ok(valueIn(sb, 'kubekv_cache_staleness_seconds', bucket)! >= 0);

      // The failover: the leader hands over.
      await a.close();
      await waitFor(() => b!.isLeader, 'b to take over');
      await b.store.put('after', 'failover');
      [sa, sb] = [await scrape(ra), await scrape(rb)];
      assert.equal(valueIn(sa, 'leader_election_master_status', lease), 0, 'the old leader reports 0');
      assert.equal(valueIn(sb, 'leader_election_master_status', lease), 1, 'the new leader reports 1');
      assert.ok(valueIn(sb, 'kubekv_writes_total', { ...bucket, result: 'ok' })! >= 2, "the new leader's raise and its write");
      assert.equal(valueIn(sa, 'kubekv_cache_staleness_seconds', bucket), undefined, 'a closed store reports no staleness');
      assert.equal(valueIn(sa, 'kubekv_writes_total', { ...bucket, result: 'ok' }), okBefore + 5, 'totals stay after close');
    } finally {
      await a.close();
      await b?.close();
    }
  });

  it('a fenced write is counted', async () => {
    const namespace = await cp.freshNamespace('metrics-fenced');
    const kubeConfig = cp.adminKubeConfig();
    const registry = new Registry();
    const bucket = { namespace, bucket: 'app-state' };
    const manager = await StateManager.start({ name: 'app', namespace, kubeConfig, identity: 'a', ...timings, metrics: { registry } });
    try {
      await waitFor(() => manager.isLeader, 'a to lead');
      assert.equal(valueIn(await scrape(registry), 'kubekv_fenced_writes_total', bucket), 0);
      // Another epoch on the bucket, as a newer leader (or a stray kubectl edit) leaves it.
      await setBucketEpoch(kubeConfig, namespace, 'app-state', manager.epoch! + 5);
      await assert.rejects(manager.store.put('k', 'v'), FencedError);
      const samples = await scrape(registry);
      assert.equal(valueIn(samples, 'kubekv_fenced_writes_total', bucket), 1);
      assert.equal(valueIn(samples, 'kubekv_writes_total', { ...bucket, result: 'fenced' }), 1);
    } finally {
      await manager.close();
    }
  });
});

describe('metrics of stores and locks', () => {
  it('counts CAS conflicts and their retries under real contention between two stores on one bucket', async () => {
    const namespace = await cp.freshNamespace('metrics-contention');
    const kubeConfig = cp.adminKubeConfig();
    const registry = new Registry();
    const bucket = { namespace, bucket: 'shared' };
    const one = await ConfigMapStore.open({ name: 'shared', namespace, kubeConfig, create: true, metrics: { registry } });
    const two = await ConfigMapStore.open({ name: 'shared', namespace, kubeConfig, metrics: { registry } });
    try {
      let writes = 0;
      let conflicts = 0;
      // Rounds of concurrent writes from both stores until they have collided (bounded).
      for (let round = 0; round < 20 && conflicts === 0; round++) {
        await Promise.all([one, two].flatMap((store, s) => Array.from({ length: 10 }, (_, i) => store.put(`r${round}/s${s}/k${i}`, 'v'))));
        writes += 20;
        conflicts = valueIn(await scrape(registry), 'kubekv_cas_conflicts_total', bucket) ?? 0;
      }
      const samples = await scrape(registry);
      assert.ok(conflicts > 0, 'two stores writing one bucket at once collided');
      assert.equal(valueIn(samples, 'kubekv_write_retries_total', { ...bucket, reason: 'conflict' }), conflicts, 'every conflict was retried');
      assert.equal(valueIn(samples, 'kubekv_writes_total', { ...bucket, result: 'ok' }), writes, 'and every write was stored');
      assert.equal(valueIn(samples, 'kubekv_write_duration_seconds_count', bucket), writes);
      console.log(`  ${conflicts} conflicts over ${writes} writes`);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('counts lock holds, a real loss (another holder takes the Lease) and an unlock', async () => {
    const namespace = await cp.freshNamespace('metrics-lock');
    const kubeConfig = cp.adminKubeConfig();
    const registry = new Registry();
    const bucket = { namespace, bucket: 'b' };
    const store = await ConfigMapStore.open({ name: 'b', namespace, kubeConfig, create: true, metrics: { registry } });
    try {
      const lock = store.newLock('jobs/nightly', { ttlMs: 3000 });
      const handle = await lock.lock({ signal: AbortSignal.timeout(20_000) });
      let samples = await scrape(registry);
      assert.equal(valueIn(samples, 'kubekv_locks_held', bucket), 1);
      assert.equal(valueIn(samples, 'kubekv_lock_acquisitions_total', bucket), 1);
      assert.equal(valueIn(samples, 'kubekv_lock_losses_total', bucket), 0);

      await takeOverLease(kubeConfig, namespace, lock.leaseName, 'intruder');
      await waitFor(() => handle.signal.aborted, 'the holder to see the lock lost');
      samples = await scrape(registry);
      assert.equal(valueIn(samples, 'kubekv_locks_held', bucket), 0);
      assert.equal(valueIn(samples, 'kubekv_lock_losses_total', bucket), 1);
      assert.equal(valueIn(samples, 'kubekv_lock_hold_duration_seconds_count', bucket), 1);

      const other = await store.newLock('jobs/other', { ttlMs: 3000 }).lock({ signal: AbortSignal.timeout(20_000) });
      await other.unlock();
      samples = await scrape(registry);
      assert.equal(valueIn(samples, 'kubekv_lock_acquisitions_total', bucket), 2);
      assert.equal(valueIn(samples, 'kubekv_lock_losses_total', bucket), 1, 'an unlock is not a loss');
      assert.equal(valueIn(samples, 'kubekv_lock_hold_duration_seconds_count', bucket), 2);
      assert.equal(valueIn(samples, 'kubekv_locks_held', bucket), 0);
    } finally {
      await store.close();
    }
  });

  it('counts watch restarts when the connections drop, and the watch comes back', async () => {
    const namespace = await cp.freshNamespace('metrics-watch');
    const admin = cp.adminKubeConfig();
    const proxy = await TcpProxy.start(serverPort(admin));
    proxies.push(proxy);
    const registry = new Registry();
    const bucket = { namespace, bucket: 'b' };
    const writer = await ConfigMapStore.open({ name: 'b', namespace, kubeConfig: admin, create: true });
    const reader = await ConfigMapStore.open({ name: 'b', namespace, kubeConfig: proxy.kubeConfigFor(admin), metrics: { registry } });
    try {
      await waitFor(() => reader.status().connected, 'the watch to connect');
      assert.equal(sumIn(await scrape(registry), 'kubekv_watch_restarts_total', bucket), 0);
      proxy.dropConnections();
      await waitFor(async () => sumIn(await scrape(registry), 'kubekv_watch_restarts_total', bucket) >= 1, 'a watch restart to be counted');
      await writer.put('after', 'drop');
      await waitFor(async () => (await reader.get('after'))?.text === 'drop', 'the restarted watch to deliver');
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it('a manager, a second store and a lock share one Registry without "already registered"; nothing is registered without the option', async () => {
    const namespace = await cp.freshNamespace('metrics-shared');
    const kubeConfig = cp.adminKubeConfig();
    const registry = new Registry();
    const globalBefore = (await globalRegistry.getMetricsAsJSON()).map((m) => m.name);
    const manager = await StateManager.start({ name: 'app', namespace, kubeConfig, identity: 'a', ...timings, metrics: { registry } });
    const store = await ConfigMapStore.open({ name: 'other', namespace, kubeConfig, create: true, metrics: { registry } });
    const plain = await StateManager.start({ name: 'plain', namespace, kubeConfig, identity: 'p', ...timings });
    try {
      await waitFor(() => manager.isLeader && plain.isLeader, 'both to lead their Leases');
      await manager.store.put('k', 'v');
      await store.put('k', 'v');
      await plain.store.put('k', 'v');
      const handle = await store.newLock('l', { ttlMs: 3000, metrics: { registry } }).lock({ signal: AbortSignal.timeout(20_000) });
      await handle.unlock();
      const samples = await scrape(registry);
      for (const name of ['app-state', 'other']) assert.ok(valueIn(samples, 'kubekv_writes_total', { namespace, bucket: name, result: 'ok' })! >= 1, name);
      assert.equal(valueIn(samples, 'kubekv_lock_acquisitions_total', { namespace, bucket: 'other' }), 1);
      assert.equal(sumIn(samples, 'kubekv_writes_total', { bucket: 'plain-state' }), 0, 'a manager without the option reports nothing');
      assert.equal(valueIn(samples, 'leader_election_master_status', { name: 'plain-leader' }), undefined);
      assert.deepEqual((await globalRegistry.getMetricsAsJSON()).map((m) => m.name), globalBefore, "nothing lands in prom-client's global registry");
    } finally {
      await plain.close();
      await store.close();
      await manager.close();
    }
  });
});
