/**
 * StateManager in one process: one leader among replicas, follower writes
 * refused, fencing on a raised epoch, graceful handover, health endpoints.
 * (Faults across OS processes are in failover.test.ts.)
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { FencedError, NotLeaderError, StateManager, healthHandler, type StateManagerOptions } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const open: StateManager[] = [];
after(async () => {
  for (const manager of open) await manager.close();
});

async function replicas(namespace: string, count: number, extra: Partial<StateManagerOptions> = {}): Promise<StateManager[]> {
  const managers = await Promise.all(
    Array.from({ length: count }, (_, i) => StateManager.start({ name: 'app', namespace, kubeConfig: cp.adminKubeConfig(), identity: `replica-${i}`, ...timings, ...extra })),
  );
  open.push(...managers);
  return managers;
}

describe('StateManager', () => {
  it('elects exactly one leader; followers refuse writes naming it and read the leader writes', async () => {
    const namespace = await cp.freshNamespace('state');
    const managers = await replicas(namespace, 3);
    await waitFor(() => managers.filter((m) => m.isLeader).length === 1, 'one leader');
    const leader = managers.find((m) => m.isLeader)!;
    const followers = managers.filter((m) => m !== leader);
    // A follower names the leader it has seen; its watch delivers the new holder within moments.
    await waitFor(() => followers.every((f) => f.leader === leader.identity), 'the followers to observe the leader');
    await leader.store.put('greeting', 'hello');
    for (const follower of followers) {
      await assert.rejects(follower.store.put('greeting', 'mutiny'), (err: unknown) => err instanceof NotLeaderError && err.code === 'NOT_LEADER' && err.leader === leader.identity);
      await waitFor(async () => (await follower.store.get('greeting'))?.text === 'hello', `${follower.identity} to see the leader's write`);
    }
    assert.equal((await leader.store.get('greeting', { consistent: true }))?.text, 'hello');
    // The first leader of a new Lease holds term 0 and takes the new bucket without a fence.
    const lease = await cp.adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'app-leader', namespace });
    assert.equal(leader.epoch, lease.spec?.leaseTransitions ?? 0);
    assert.equal(leader.status().lastError, undefined, 'the first leader was fenced');
  });

  it('runs onLeader after raising the epoch, aborts it on close, and hands over without waiting for expiry', async () => {
    const namespace = await cp.freshNamespace('state-handover');
    const managers = await replicas(namespace, 2);
    const starts: Array<{ identity: string; epoch: number; at: number }> = [];
    const aborted: string[] = [];
    for (const manager of managers) {
      manager.onLeader(({ signal, store, epoch }) => {
        starts.push({ identity: manager.identity, epoch, at: Date.now() });
        signal.addEventListener('abort', () => aborted.push(manager.identity));
        return store.put(`led-by/${manager.identity}`, String(epoch));
      });
    }
    await waitFor(() => starts.length === 1, 'the first onLeader');
    const first = managers.find((m) => m.identity === starts[0]!.identity)!;
    const bucket = await cp.adminKubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'app-state', namespace });
    assert.equal(bucket.metadata?.annotations?.['kubekv.dev/epoch'], String(starts[0]!.epoch), 'onLeader ran before the epoch write landed');
    const closedAt = Date.now();
    await first.close();
    assert.deepEqual(aborted, [first.identity]);
    await waitFor(() => starts.length === 2, 'the second replica to lead');
    const handoverMs = starts[1]!.at - closedAt;
    console.log(`  handover after close(): ${handoverMs} ms (lease duration ${timings.leaseDurationMs} ms)`);
    assert.ok(handoverMs < timings.leaseDurationMs, `handover took ${handoverMs} ms: it waited for expiry instead of acting on the release`);
    assert.ok(starts[1]!.epoch > starts[0]!.epoch, 'the new leader must hold a higher epoch');
  });

  it('fences a leader whose bucket epoch was raised past its own (kubectl edit): FencedError, leader work ended, then it recovers with a higher epoch', async () => {
    const namespace = await cp.freshNamespace('state-fence');
    const [manager] = await replicas(namespace, 1);
    await waitFor(() => manager!.isLeader, 'leadership');
    const reasons: unknown[] = [];
    manager!.onLeader(({ signal }) => {
      signal.addEventListener('abort', () => reasons.push(signal.reason));
    });
    await manager!.store.put('before', '1');
    const held = manager!.epoch!;
    // What a stray edit (or a leader from a deleted and recreated Lease) looks like: an epoch above ours.
    const api = cp.adminKubeConfig().makeApiClient(CoreV1Api);
    const current = await api.readNamespacedConfigMap({ name: 'app-state', namespace });
    const edited = held + 5;
    await api.patchNamespacedConfigMap(
      { name: 'app-state', namespace, body: { metadata: { resourceVersion: current.metadata!.resourceVersion, annotations: { 'kubekv.dev/epoch': String(edited) } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await assert.rejects(manager!.store.put('after', '2'), (err: unknown) => err instanceof FencedError && err.code === 'FENCED' && err.currentEpoch === edited);
    assert.ok(reasons[0] instanceof FencedError, 'leader work must be aborted with the FencedError');
    assert.equal(manager!.isLeader, false);
    assert.equal((await api.readNamespacedConfigMap({ name: 'app-state', namespace })).data?.after, undefined, 'the fenced write must not land');
    // It does not stay stuck: it resigns with the next term lifted above the edit, and leads again.
    await waitFor(() => manager!.isLeader, 'leadership again', 15_000);
    assert.ok(manager!.epoch! > edited, `the new epoch ${manager!.epoch} must be above the edited ${edited}`);
    await manager!.store.put('after', '3');
    const bucket = await api.readNamespacedConfigMap({ name: 'app-state', namespace });
    assert.equal(bucket.metadata?.annotations?.['kubekv.dev/epoch'], String(manager!.epoch));
    const lease = await cp.adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'app-leader', namespace });
    assert.equal(lease.spec?.leaseTransitions, manager!.epoch, 'the epoch is the Lease term');
    assert.equal(bucket.data?.after, '3');
  });

  it('a bucket deleted and recreated does not take an old epoch back: the leader is fenced and recovers above it', async () => {
    const namespace = await cp.freshNamespace('state-recreate');
    const [manager] = await replicas(namespace, 1);
    await waitFor(() => manager!.isLeader, 'leadership');
    const held = manager!.epoch!;
    await manager!.store.put('k', 'v');
    const api = cp.adminKubeConfig().makeApiClient(CoreV1Api);
    await api.deleteNamespacedConfigMap({ name: 'app-state', namespace });
    await api.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'app-state' } } });
    // Epoch 0 on the bucket now: a ">" check would let the held epoch through and write it back.
    await waitFor(async () => {
      try {
        await manager!.store.put('k', 'again');
        return manager!.isLeader && manager!.epoch! > held;
      } catch (err) {
        assert.ok(err instanceof FencedError || err instanceof NotLeaderError, String(err));
        return false;
      }
    }, 'a write under a new epoch', 20_000);
    const bucket = await api.readNamespacedConfigMap({ name: 'app-state', namespace });
    assert.ok(Number(bucket.metadata?.annotations?.['kubekv.dev/epoch']) > held, 'the epoch went back');
  });

  it('serves /readyz on every replica, /leader only on the leader', async () => {
    const namespace = await cp.freshNamespace('state-health');
    const managers = await replicas(namespace, 2);
    await waitFor(() => managers.some((m) => m.isLeader), 'a leader');
    for (const manager of managers) {
      const server = createServer(healthHandler(manager)).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, `${manager.identity} ready`);
      assert.equal((await fetch(`${base}/livez`)).status, 200);
      const leader = await fetch(`${base}/leader`);
      assert.equal(leader.status, manager.isLeader ? 200 : 503);
      const body = (await leader.json()) as { identity: string; isLeader: boolean };
      assert.equal(body.identity, manager.identity);
      server.close();
    }
  });
});
