/**
 * The HA topology of the harness does what its fault controls promise, with
 * real requests: the balancer routes around a killed apiserver, an apiserver
 * partitioned from etcd hangs while the others serve, and the three-member
 * etcd cluster stays writable when its leader dies and takes it back.
 *
 * This file starts its own HA control plane (three etcd members, two
 * apiservers) beside the run's shared one, and stops it at the end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiException, CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { ConfigMapStore } from '../../../src/index.js';
import { ControlPlane, type HaControl } from '../../controlplane/index.js';
import { withSignal } from '../../support/kube.js';
import { waitFor } from '../../support/wait.js';

/** Deadline of one request that should succeed, in ms. */
const REQUEST_MS = 10_000;
/** How long a request to a partitioned apiserver must hang, in ms. */
const HANG_MS = 3000;

let cp: ControlPlane;
let ha: HaControl;
let namespace: string;

/** A copy of the admin kubeconfig aimed at `server` (an apiserver directly). */
function kubeConfigAt(server: string): KubeConfig {
  const admin = cp.adminKubeConfig();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: admin.clusters.map((c) => ({ ...c, server })),
    users: admin.users,
    contexts: admin.contexts,
    currentContext: admin.currentContext,
  });
  return kc;
}

/** CoreV1Api through the balancer (`cp.server`) or straight to `server`. */
function core(server = cp.server): CoreV1Api {
  return kubeConfigAt(server).makeApiClient(CoreV1Api);
}

/** Reads ConfigMap `name`, giving up after `ms`. */
function read(api: CoreV1Api, name: string, ms = REQUEST_MS): Promise<V1ConfigMap> {
  return api.readNamespacedConfigMap({ name, namespace }, withSignal(AbortSignal.timeout(ms)));
}

/** Creates ConfigMap `name` with `data`, giving up after `ms`. */
function create(api: CoreV1Api, name: string, data: Record<string, string>, ms = REQUEST_MS): Promise<V1ConfigMap> {
  return api.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data } }, withSignal(AbortSignal.timeout(ms)));
}

describe('HA control plane', { timeout: 170_000 }, () => {
  before(async () => {
    const started = Date.now();
    cp = await ControlPlane.start({ ha: true, readyTimeoutMs: 90_000 });
    ha = cp.ha!;
    namespace = await cp.freshNamespace('ha');
    console.log(`HA control plane ready in ${Date.now() - started} ms`);
  }, { timeout: 120_000 });

  after(async () => {
    if (!cp) return;
    const stats = cp.stats();
    console.log(`HA peak RSS (MiB): ${Object.entries(stats.peakRssByProcess ?? {}).map(([p, b]) => `${p} ${(b / 2 ** 20).toFixed(0)}`).join(', ')}`);
    await cp.stop();
  }, { timeout: 60_000 });

  it('has the HA shape: a balancer in front, three members, two apiservers', () => {
    assert.equal(ha.apiservers, 2);
    assert.equal(ha.etcdMembers, 3);
    assert.notEqual(cp.server, ha.apiserverUrl(0));
    assert.notEqual(ha.apiserverUrl(0), ha.apiserverUrl(1));
    assert.equal(cp.adminKubeConfig().getCurrentCluster()?.server, cp.server);
  });

  it('writes and reads through the balancer; every apiserver sees the writes', async () => {
    const store = await ConfigMapStore.open({ name: 'bucket', namespace, kubeConfig: cp.adminKubeConfig(), create: true, requestTimeoutMs: REQUEST_MS });
    try {
      await store.put('greeting', 'hello');
      assert.equal((await store.get('greeting'))?.text, 'hello');
    } finally {
      await store.close();
    }
    await create(core(), 'written', { k: 'v' });
    for (let i = 0; i < ha.apiservers; i++) {
      assert.deepEqual((await read(core(ha.apiserverUrl(i)), 'written')).data, { k: 'v' }, `apiserver ${i}`);
    }
  });

  it('keeps serving through the balancer after an apiserver is killed', async () => {
    await ha.killApiserver(0);
    try {
      await assert.rejects(read(core(ha.apiserverUrl(0)), 'written', 2000), 'apiserver 0 is down');
      // Round-robin would send every other new connection to the dead one;
      // each request here is a new client, so a new connection.
      for (let n = 0; n < 6; n++) {
        await create(core(), `after-kill-${n}`, { n: String(n) });
        assert.deepEqual((await read(core(), `after-kill-${n}`)).data, { n: String(n) });
      }
    } finally {
      await ha.startApiserver(0);
    }
    assert.deepEqual((await read(core(ha.apiserverUrl(0)), 'after-kill-5')).data, { n: '5' });
  });

  it('an apiserver partitioned from etcd hangs while the others serve; heal restores it', async () => {
    const partitioned = core(ha.apiserverUrl(1));
    const healthy = core(ha.apiserverUrl(0));
    ha.partitionApiserverFromEtcd(1);
    try {
      const started = Date.now();
      await assert.rejects(read(partitioned, 'written', HANG_MS), (err: Error) => {
        assert.match(`${err.name} ${err.message}`, /abort|timeout/i);
        return true;
      });
      assert.ok(Date.now() - started >= HANG_MS - 100, 'the request hung until the deadline');
      await create(healthy, 'during-partition', { p: '1' });
      assert.deepEqual((await read(healthy, 'during-partition')).data, { p: '1' });
    } finally {
      ha.healApiserverFromEtcd(1);
    }
    const healed = await waitFor(
      () => read(partitioned, 'during-partition', 5000),
      'apiserver 1 to serve again after the heal',
      30_000,
      200,
    );
    assert.deepEqual(healed.data, { p: '1' });
  });

  it('stays writable when the etcd leader dies, elects a new one and takes the member back', async () => {
    const leader = await ha.etcdLeader();
    await ha.killEtcdMember(leader);
    try {
      // Requests in flight at the kill may fail; within the election timeout writes go through again.
      // (409: an attempt that timed out here was applied after all.)
      await waitFor(() => create(core(), 'leaderless-0', { w: '0' }, 5000).then(() => true, (err: unknown) => {
        if (err instanceof ApiException && err.code === 409) return true;
        throw err;
      }), 'a write with the etcd leader dead', 30_000, 200);
      for (let n = 1; n <= 3; n++) await create(core(), `leaderless-${n}`, { w: String(n) });
      const next = await ha.etcdLeader();
      assert.notEqual(next, leader, 'a new leader was elected');
    } finally {
      await ha.startEtcdMember(leader);
    }
    // The member is back in the quorum: with another one down, writes still need it.
    const other = (leader + 1) % ha.etcdMembers;
    await ha.killEtcdMember(other);
    try {
      await waitFor(() => create(core(), 'rejoined', { r: '1' }, 5000).then(() => true, (err: unknown) => {
        if (err instanceof ApiException && err.code === 409) return true;
        throw err;
      }), 'a write with the rejoined member and one other', 30_000, 200);
    } finally {
      await ha.startEtcdMember(other);
    }
    assert.ok((await ha.etcdLeader()) >= 0);
    for (let i = 0; i < ha.apiservers; i++) {
      assert.deepEqual((await read(core(ha.apiserverUrl(i)), 'leaderless-3')).data, { w: '3' }, `apiserver ${i}`);
    }
  });
});
