/**
 * ObjectWatcher following labelled objects (one list and one watch for all
 * of them), on a FakeCluster through the real port: the full state after
 * each (re)list, then the changes of selected objects only, in order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ObjectWatcher } from '../../../src/kube/object-watcher.js';
import type { LeaseObject } from '../../../src/kube/types.js';
import { FakeCluster } from '../../../src/testing/index.js';
import { waitFor } from '../../support/wait.js';

const lease = (name: string, labels?: Record<string, string>): LeaseObject => ({ metadata: { name, ...(labels ? { labels } : {}) }, spec: { holderIdentity: 'a' } });

describe('ObjectWatcher with a labelSelector', () => {
  it('lists the labelled objects, then delivers their changes only, in order; relists after 410', async () => {
    const cluster = new FakeCluster();
    const leases = cluster.api.leases('default');
    await leases.create(lease('one', { group: 'g' }));
    await leases.create(lease('two', { group: 'g' }));
    await leases.create(lease('other', { group: 'h' }));
    const lists: string[][] = [];
    const events: string[] = [];
    const watcher = new ObjectWatcher<LeaseObject>({
      api: leases,
      labelSelector: 'group=g',
      onList: (objects) => lists.push(objects.map((o) => o.metadata!.name!).sort()),
      onEvent: (type, object) => events.push(`${type} ${object.metadata!.name!}`),
    });
    watcher.start();
    try {
      await waitFor(() => lists.length === 1 && watcher.connected, 'the first list and the watch');
      assert.deepEqual(lists[0], ['one', 'two']);
      await leases.create(lease('three', { group: 'g' }));
      const other = cluster.object('leases', 'default', 'other') as LeaseObject;
      await leases.update({ ...other, spec: { holderIdentity: 'b' } });
      const one = cluster.object('leases', 'default', 'one') as LeaseObject;
      await leases.delete('one', { resourceVersion: one.metadata!.resourceVersion! });
      await waitFor(() => events.length === 2, 'two events');
      assert.deepEqual(events, ['ADDED three', 'DELETED one'], 'nothing of the object not selected');
      cluster.expireWatches();
      await waitFor(() => lists.length === 2, 'the relist after 410');
      assert.deepEqual(lists[1], ['three', 'two']);
    } finally {
      await watcher.stop();
    }
  });
});
