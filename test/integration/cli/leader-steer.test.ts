/**
 * `kubekv leader <name> --handoff <identity>` and `--resign` beside three
 * running StateManagers on the real API server: the request is written on
 * the Lease, the kubekv holder honours it, and the command waits until the
 * change is seen; the leader view shows address and term. Bad requests are
 * refused before anything is written.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { StateManager } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';
import { adminArgs, describeResult, kubekv, type CliResult } from './run-kubekv.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };
const managers: StateManager[] = [];
after(async () => {
  for (const manager of managers) await manager.close();
});

function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, describeResult(result));
  return result;
}

describe('kubekv leader --handoff / --resign', () => {
  it('hands leadership to the named replica, then makes it resign; shows address and term', async () => {
    const namespace = await cp.freshNamespace('cli-steer');
    for (const identity of ['replica-a', 'replica-b', 'replica-c']) {
      managers.push(await StateManager.start({ name: 'shop', namespace, kubeConfig: cp.adminKubeConfig(), identity, advertise: `http://${identity}:8080`, ...timings }));
      if (identity === 'replica-a') await waitFor(() => managers[0]!.isLeader, 'replica-a to lead');
    }
    const [a, b, c] = managers as [StateManager, StateManager, StateManager];
    const args = ['-n', namespace, ...adminArgs()];
    const shown = JSON.parse(ok(await kubekv(['leader', 'shop', ...args, '-o', 'json'])).text) as Record<string, unknown>;
    assert.deepEqual([shown.holder, shown.address, shown.term], ['replica-a', 'http://replica-a:8080', 0]);

    const handed = JSON.parse(ok(await kubekv(['leader', 'shop', '--handoff', 'replica-c', ...args, '-o', 'json'])).text) as Record<string, unknown>;
    assert.deepEqual([handed.holder, handed.address, handed.term], ['replica-c', 'http://replica-c:8080', 1]);
    assert.deepEqual((handed.steered as { request: string; askedOf: string }).request, 'handoff');
    await waitFor(() => c.isLeader, 'replica-c to lead (epochs raised)');
    assert.deepEqual([a.isLeader, b.isLeader], [false, false]);
    await c.store.put('k', 'written by replica-c');
    await assert.rejects(a.store.put('k', 'late'), { code: 'NOT_LEADER' });

    // --resign returns once replica-c let go; the next holder may not have taken the Lease yet (<none>).
    const table = ok(await kubekv(['leader', 'shop', '--resign', ...args])).text;
    assert.match(table, /^Resigned: +replica-c -> (replica-[ab]|<none>) in \d+ ms$/m);
    await waitFor(() => a.isLeader || b.isLeader, 'replica-a or replica-b to lead');
    assert.equal(c.isLeader, false);
    const next = a.isLeader ? 'replica-a' : 'replica-b';
    assert.match(ok(await kubekv(['leader', 'shop', ...args])).text, new RegExp(`^Address: +http://${next}:8080$`, 'm'));

    const self = await kubekv(['leader', 'shop', '--handoff', a.isLeader ? 'replica-a' : 'replica-b', ...args]);
    assert.equal(self.code, 4, describeResult(self));
    assert.match(self.stderr, /^error: NOT_LEADER: /m);
    const both = await kubekv(['leader', 'shop', '--handoff', 'x', '--resign', ...args]);
    assert.equal(both.code, 2, describeResult(both));
  });
});
