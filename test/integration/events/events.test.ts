/**
 * Kubernetes Events against the real control plane: after a real failover
 * the namespace holds client-go's LeaderElection events regarding the Lease
 * (with its uid, so `kubectl describe lease` lists them); a fenced replica
 * and a lost lock leave Warnings; with `events: false` none are created;
 * and when RBAC forbids Events, writes and the election go on (best effort)
 * and the failure is logged at debug without secrets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { ConfigMapStore, FencedError, StateManager, type Logger } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { asServiceAccount } from '../../support/rbac.js';
import { waitFor } from '../../support/wait.js';
import { listEvents, readLease, setBucketEpoch, takeOverLease, type EventV1 } from './kube-helpers.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };

/** A failover: a leads, then hands over to b by closing; b closes too. */
async function failover(namespace: string, options: { name?: string; events?: boolean; kubeConfig?: ReturnType<typeof cp.adminKubeConfig>; logger?: Logger } = {}) {
  const kubeConfig = options.kubeConfig ?? cp.adminKubeConfig();
  const common = { name: options.name ?? 'app', namespace, kubeConfig, ...timings, ...(options.events === undefined ? {} : { events: options.events }), ...(options.logger ? { logger: options.logger } : {}) };
  const a = await StateManager.start({ ...common, identity: 'a' });
  let b: StateManager | undefined;
  try {
    await waitFor(() => a.isLeader, 'a to lead');
    b = await StateManager.start({ ...common, identity: 'b' });
    await a.store.put('k', 'from a');
    await a.close();
    await waitFor(() => b!.isLeader, 'b to take over');
    await b.store.put('k', 'from b');
  } finally {
    // close() waits for the queued Events (at most 2 s).
    await a.close();
    await b?.close();
  }
}

const leaderElection = (events: EventV1[]) => events.filter((e) => e.reason === 'LeaderElection');

describe('Events', () => {
  it("after a failover: client-go's LeaderElection events regarding the Lease, in order, listed as kubectl describe lists them", async () => {
    const namespace = await cp.freshNamespace('events-failover');
    await failover(namespace);
    const admin = cp.adminKubeConfig();
    const uid = (await readLease(admin, namespace, 'app-leader')).metadata?.uid;
    assert.ok(uid);
    const events = leaderElection(await listEvents(admin, namespace));
    assert.deepEqual(
      events.map((e) => e.note),
      ['a became leader', 'a stopped leading', 'b became leader', 'b stopped leading'],
    );
    for (const event of events) {
      assert.equal(event.type, 'Normal');
      assert.equal(event.reportingController, 'kubekv.dev/state-manager');
      assert.equal(event.reportingInstance, event.note.split(' ')[0]);
      assert.equal(event.action, event.note.endsWith('became leader') ? 'BecomeLeader' : 'StopLeading');
      assert.deepEqual(event.regarding, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: 'app-leader', namespace, uid });
    }
    // kubectl describe lease finds events through the core/v1 view by involvedObject, uid included.
    const described = await admin.makeApiClient(CoreV1Api).listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.kind=Lease,involvedObject.name=app-leader,involvedObject.uid=${uid}`,
    });
    assert.equal(described.items.filter((e) => e.reason === 'LeaderElection').length, 4);
  });

  it('with events: false, a failover creates none', async () => {
    const namespace = await cp.freshNamespace('events-off');
    await failover(namespace, { events: false });
    assert.deepEqual(await listEvents(cp.adminKubeConfig(), namespace), []);
  });

  it('a fenced replica leaves a Warning Fenced regarding the Lease', async () => {
    const namespace = await cp.freshNamespace('events-fenced');
    const kubeConfig = cp.adminKubeConfig();
    const manager = await StateManager.start({ name: 'app', namespace, kubeConfig, identity: 'a', ...timings });
    try {
      await waitFor(() => manager.isLeader, 'a to lead');
      const held = manager.epoch!;
      await setBucketEpoch(kubeConfig, namespace, 'app-state', held + 5);
      await assert.rejects(manager.store.put('k', 'v'), FencedError);
      const warning = await waitFor(async () => (await listEvents(kubeConfig, namespace)).find((e) => e.reason === 'Fenced'), 'the Fenced event');
      assert.equal(warning.type, 'Warning');
      assert.equal(warning.action, 'Resign');
      assert.equal(warning.reportingInstance, 'a');
      assert.equal(warning.regarding.name, 'app-leader');
      assert.equal(warning.note, `a was fenced: it led at epoch ${held} but a bucket carries epoch ${held + 5}; it stops its leader work and resigns`);
    } finally {
      await manager.close();
    }
  });

  it("a lost lock leaves a Warning LockLost regarding the lock's Lease, without the key", async () => {
    const namespace = await cp.freshNamespace('events-lock');
    const kubeConfig = cp.adminKubeConfig();
    const store = await ConfigMapStore.open({ name: 'b', namespace, kubeConfig, create: true });
    try {
      const lock = store.newLock('secret-job-name', { ttlMs: 3000, identity: 'worker-1' });
      const handle = await lock.lock({ signal: AbortSignal.timeout(20_000) });
      await takeOverLease(kubeConfig, namespace, lock.leaseName, 'intruder');
      await waitFor(() => handle.signal.aborted, 'the lock to be lost');
      const warning = await waitFor(async () => (await listEvents(kubeConfig, namespace)).find((e) => e.reason === 'LockLost'), 'the LockLost event');
      assert.equal(warning.type, 'Warning');
      assert.equal(warning.reportingController, 'kubekv.dev/lock');
      assert.equal(warning.reportingInstance, 'worker-1');
      assert.equal(warning.regarding.name, lock.leaseName);
      assert.equal(warning.regarding.uid, (await readLease(kubeConfig, namespace, lock.leaseName)).metadata?.uid);
      assert.equal(warning.note, `worker-1 lost the lock (fencing token ${handle.token}): the Lease is now held by intruder`);
      assert.ok(!JSON.stringify(warning).includes('secret-job-name'), 'the key is not in the event');
    } finally {
      await store.close();
    }
  });

  it('when RBAC forbids Events, elections and writes go on; the refusal is logged at debug, without secrets', async () => {
    const namespace = await cp.freshNamespace('events-forbidden');
    // deploy/rbac.yaml without its events rule.
    const kubeConfig = await asServiceAccount(cp, namespace, (m) => {
      const without = m.replace(/ {2}- apiGroups: \["events\.k8s\.io"\]\n {4}resources: \["events"\]\n {4}verbs: \["create"\]\n/, '');
      assert.notEqual(without, m, 'the manifest has the events rule to remove');
      return without;
    });
    const records: Array<{ level: string; msg?: string; [field: string]: unknown }> = [];
    const capture = (bindings: Record<string, unknown> = {}): Logger => {
      const write = (level: string) => (objOrMsg: Record<string, unknown> | string, msg?: string) =>
        void records.push({ level, ...bindings, ...(typeof objOrMsg === 'string' ? { msg: objOrMsg } : { ...objOrMsg, msg }) });
      return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (b) => capture({ ...bindings, ...b }) };
    };
    await failover(namespace, { name: 'my-app', kubeConfig, logger: capture() });
    assert.deepEqual(await listEvents(cp.adminKubeConfig(), namespace), [], 'no Event could be created');
    const refused = records.filter((r) => r.msg === 'event not recorded' && r.code === 'FORBIDDEN');
    assert.equal(refused.length, 4, 'each of the four LeaderElection events was refused and logged');
    for (const record of refused) {
      assert.equal(record.level, 'debug');
      assert.deepEqual(Object.keys(record).filter((k) => !['level', 'msg', 'identity', 'lease'].includes(k)).sort(), ['code', 'reason']);
    }
  });
});
