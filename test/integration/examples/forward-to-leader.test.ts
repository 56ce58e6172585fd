/**
 * examples/forward-to-leader.ts with three replicas on the real API server:
 * a write sent to a follower is forwarded to the leader (found through its
 * advertised address on the Lease) and stored; after a handoff the
 * followers forward to the new leader; a forwarded request that reaches a
 * non-leader is refused with 503, never sent on.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { start, type Replica } from '../../../examples/forward-to-leader.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const replicas: Replica[] = [];
after(async () => {
  for (const replica of replicas) await replica.close();
});

const put = (replica: Replica, key: string, value: string, headers: Record<string, string> = {}) =>
  fetch(`${replica.url}/kv/${key}`, { method: 'PUT', body: value, headers });

describe('examples/forward-to-leader', () => {
  it('any replica takes a write and the leader applies it, also after a handoff', async () => {
    const namespace = await cp.freshNamespace('forward');
    for (const identity of ['web-a', 'web-b', 'web-c']) {
      replicas.push(await start({ identity, port: 0, namespace, kubeConfig: cp.adminKubeConfig(), leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 }));
    }
    const leader = await waitFor(() => replicas.find((r) => r.manager.isLeader), 'a leader');
    const followers = replicas.filter((r) => r !== leader);
    await waitFor(() => followers.every((f) => f.leader()?.address === leader.url), 'the followers to know the leader\'s address');

    const answer = await put(followers[0]!, 'greeting', 'hello');
    assert.equal(answer.status, 200);
    assert.equal(((await answer.json()) as { by: string }).by, leader.manager.identity);
    assert.equal((await leader.manager.store.get('greeting'))?.text, 'hello');

    const refused = await put(followers[1]!, 'loop', 'x', { 'x-forwarded-by': 'someone' });
    assert.equal(refused.status, 503);
    assert.equal(await leader.manager.store.exists('loop', { consistent: true }), false);

    const next = followers[1]!;
    assert.equal(await leader.manager.handoff(next.manager.identity), 'released');
    await waitFor(() => next.manager.isLeader, 'the named replica to lead');
    await waitFor(() => leader.leader()?.address === next.url, 'the old leader to know the new address');
    const again = await put(leader, 'greeting', 'hello again');
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { by: string }).by, next.manager.identity);
    assert.equal((await next.manager.store.get('greeting'))?.text, 'hello again');
  });
});
