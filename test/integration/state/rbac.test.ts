/**
 * deploy/rbac.yaml is enough for a StateManager with locks: election, epoch
 * raises, writes, follower reads, a lock (its Lease name added to the leases
 * rule, as the manifest says) and the release on close. Locks it does not
 * name stay forbidden.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { ForbiddenError, StateManager } from '../../../src/index.js';
import { lockLeaseName } from '../../../src/lock/lock.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { asServiceAccount } from '../../support/rbac.js';
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
});
