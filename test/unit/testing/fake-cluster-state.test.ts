/**
 * The real StateManager on kubekv/testing's FakeCluster: the example of
 * docs/testing.md ("The real code on a fake cluster"), kept running.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StateManager } from '../../../src/index.js';
import { FakeCluster } from '../../../src/testing/index.js';

const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 500, events: false } as const;

/** Resolves once `check` holds, polling; the test fails on the runner's timeout otherwise. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('StateManager on a FakeCluster', () => {
  it('fails over to the other replica, and a lost answer still settles the leader\'s write once', async () => {
    const cluster = new FakeCluster();
    const a = await StateManager.start({ name: 'app', namespace: 'ns', identity: 'a', api: cluster.api, ...timing });
    await until(() => a.isLeader);
    const b = await StateManager.start({ name: 'app', namespace: 'ns', identity: 'b', api: cluster.api, ...timing });
    try {
      // The answer to the leader's next bucket patch is lost after it landed:
      // the real write pipeline reads the bucket back and resolves the put.
      cluster.loseNextAnswer({ match: { verb: 'patch', resource: 'configmaps' } });
      await a.store.put('owner', 'a');
      await a.close(); // hands the Lease over
      await until(() => b.isLeader);
      assert.ok(b.epoch! > 0);
      assert.equal((await b.store.get('owner'))?.text, 'a');
      await b.store.put('owner', 'b');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
