/**
 * deploy/rbac.yaml is enough for a StateManager with locks: election, epoch
 * raises, writes, follower reads, a lock (its Lease name added to the leases
 * rule, as the manifest says), its Events and the release on close. Locks
 * it does not name stay forbidden, and Events are granted exactly: create
 * on events.k8s.io events in the namespace, nothing broader.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthorizationV1Api, CoordinationV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { ForbiddenError, StateManager } from '../../../src/index.js';
import { lockLeaseName } from '../../../src/lock/lock.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { asServiceAccount } from '../../support/rbac.js';
import { listEvents } from '../events/kube-helpers.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };

describe('deploy/rbac.yaml with a StateManager and locks', () => {
  it('elects, raises the epoch, writes, follows, locks and releases under exactly that Role', async () => {
    const namespace = await cp.freshNamespace('rbac-state');
    const lockLease = lockLeaseName('my-app-state', 'jobs/nightly');
    // The manifest's own instruction: add each lock's Lease name to the leases rule.
    const kc = await asServiceAccount(cp, namespace, (m) => m.replace('resourceNames: ["my-app-leader"]', `resourceNames: ["my-app-leader", "${lockLease}"]`));
    const managers = await Promise.all(['a', 'b'].map((identity) => StateManager.start({ name: 'my-app', kubeConfig: kc, identity, ...timings })));
    try {
      await waitFor(() => managers.some((m) => m.isLeader), 'a leader');
      const leader = managers.find((m) => m.isLeader)!;
      const follower = managers.find((m) => m !== leader)!;
      assert.equal(leader.namespace, namespace);
      await leader.store.put('config/feature', 'on');
      // The Role lets the replicas record their Events too.
      await waitFor(
        async () => (await listEvents(cp.adminKubeConfig(), namespace)).some((e) => e.reason === 'LeaderElection' && e.note === `${leader.identity} became leader`),
        'the LeaderElection event, created under the Role',
      );
      await waitFor(async () => (await follower.store.get('config/feature'))?.text === 'on', 'the follower to read the write');

      const lock = leader.store.newLock('jobs/nightly', { ttlMs: 3000 });
      assert.equal(lock.leaseName, lockLease);
      const handle = await lock.lock({ signal: AbortSignal.timeout(20_000) });
      await handle.unlock();
      await assert.rejects(leader.store.newLock('jobs/other').lock({ signal: AbortSignal.timeout(20_000) }), ForbiddenError);

      await leader.close();
      const lease = await cp.adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'my-app-leader', namespace });
      assert.notEqual(lease.spec?.holderIdentity, leader.identity, 'close() released the Lease');
      await waitFor(() => follower.isLeader, 'the follower to take over');
      await follower.store.put('config/feature', 'off');
    } finally {
      for (const manager of managers) await manager.close();
    }
  });

  it('grants Events exactly: create on events.k8s.io events in its namespace, nothing broader', async () => {
    const namespace = await cp.freshNamespace('rbac-events');
    await asServiceAccount(cp, namespace);
    const admin = cp.adminKubeConfig();
    const role = await admin.makeApiClient(RbacAuthorizationV1Api).readNamespacedRole({ name: 'my-app-kubekv', namespace });
    const eventRules = (role.rules ?? []).filter((r) => r.apiGroups?.some((g) => g === 'events.k8s.io' || g === '*') || r.resources?.some((x) => x === 'events' || x === '*'));
    assert.deepEqual(eventRules.map((r) => ({ apiGroups: r.apiGroups, resources: r.resources, verbs: r.verbs, resourceNames: r.resourceNames })), [
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'], resourceNames: undefined },
    ]);
    // What the API server's authorizer decides for the ServiceAccount.
    const authz = admin.makeApiClient(AuthorizationV1Api);
    const allowed = async (verb: string, group: string, ns = namespace) =>
      (await authz.createSubjectAccessReview({
        body: {
          spec: {
            user: `system:serviceaccount:${namespace}:my-app`,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
            resourceAttributes: { namespace: ns, verb, group, resource: 'events' },
          },
        },
      })).status?.allowed === true;
    assert.equal(await allowed('create', 'events.k8s.io'), true, 'create events.k8s.io events in the namespace');
    for (const verb of ['get', 'list', 'watch', 'update', 'patch', 'delete', 'deletecollection']) {
      assert.equal(await allowed(verb, 'events.k8s.io'), false, `${verb} events.k8s.io events is not granted`);
    }
    assert.equal(await allowed('create', ''), false, 'the core v1 events API is not granted');
    assert.equal(await allowed('create', 'events.k8s.io', 'default'), false, 'nor Events in another namespace');
  });
});
