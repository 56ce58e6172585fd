/**
 * Three replicas of examples/counter, each its own OS process behind its own
 * TCP proxy, with short timings (3 s / 2 s / 0.5 s). A client workload runs
 * through every fault; at the end every acknowledged increment is stored
 * exactly once. Faults: SIGKILL, SIGTERM, SIGSTOP past the lease, partition.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigMapStore } from '../../../src/index.js';
import { Replica, increment, waitForLeader, type Ack, type ReplicaEvent, type Timings } from '../../../examples/counter/replicas.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const timings: Timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
// Time a 2-core CI machine may add to any handover (process scheduling, GC).
const slackMs = 2500;
const failoverBoundMs = timings.leaseDurationMs + 1.2 * timings.retryPeriodMs + slackMs;

let namespace: string;
const replicas: Replica[] = [];
const acks: Ack[] = [];
let workload: Promise<void> | undefined;
let stopWorkload = false;
let sequence = 0;

async function addReplica(identity: string): Promise<Replica> {
  const replica = await Replica.start(cp.adminKubeConfig(), namespace, identity, timings);
  replicas.push(replica);
  return replica;
}

/** First 'leader' event of a replica other than `old` after `since`. */
function nextLeaderEvent(since: number, old?: Replica): ReplicaEvent | undefined {
  return replicas.flatMap((r) => (r === old ? [] : r.events)).filter((e) => e.event === 'leader' && e.at >= since).sort((a, b) => a.at - b.at)[0];
}

before(async () => {
  namespace = await cp.freshNamespace('failover');
  for (const id of ['a', 'b', 'c']) await addReplica(id);
  await waitForLeader(replicas);
  // The workload: increments one after another through whoever leads, for the whole file.
  workload = (async () => {
    while (!stopWorkload) acks.push(await increment(replicas, `op-${++sequence}`, 90_000));
  })();
  await waitFor(() => acks.length >= 10, 'the workload to get going');
});

after(async () => {
  stopWorkload = true;
  await workload?.catch(() => {});
  for (const replica of replicas) await replica.stop();
});

describe('failover across OS processes', () => {
  it('SIGKILL of the leader: a new leader within leaseDuration + 1.2 x retryPeriod (+ slack)', async () => {
    const leader = await waitForLeader(replicas);
    const killedAt = Date.now();
    leader.signal('SIGKILL');
    await leader.exited;
    const next = await waitFor(() => nextLeaderEvent(killedAt, leader), 'a new leader', 30_000);
    const failoverMs = next.at - killedAt;
    console.log(`  failover after SIGKILL: ${failoverMs} ms (bound ${failoverBoundMs} ms)`);
    assert.ok(failoverMs <= failoverBoundMs, `failover took ${failoverMs} ms`);
    const before = acks.length;
    await waitFor(() => acks.length >= before + 5, 'increments to resume under the new leader');
    await addReplica(`${leader.identity}2`);
  });

  it('SIGTERM of the leader: it releases the Lease and a follower takes over without waiting for expiry', async () => {
    const leader = await waitForLeader(replicas);
    const termAt = Date.now();
    leader.signal('SIGTERM');
    await leader.exited;
    const next = await waitFor(() => nextLeaderEvent(termAt, leader), 'a new leader', 30_000);
    const handoverMs = next.at - termAt;
    console.log(`  handover after SIGTERM: ${handoverMs} ms (lease duration ${timings.leaseDurationMs} ms)`);
    assert.ok(handoverMs < timings.leaseDurationMs, `handover took ${handoverMs} ms: the Lease was not released`);
    await addReplica(`${leader.identity}3`);
  });

  it('SIGSTOP past the lease, then SIGCONT: the old leader is fenced and none of its writes lands after the new leader\'s first', async () => {
    const old = await waitForLeader(replicas);
    const stoppedAt = Date.now();
    old.signal('SIGSTOP');
    const next = await waitFor(() => nextLeaderEvent(stoppedAt, old), 'a new leader while the old one is stopped', 30_000);
    const newLeader = replicas.find((r) => r.identity === next.identity)!;
    const before = acks.length;
    await waitFor(() => acks.length >= before + 5, 'increments under the new leader');
    // A request waiting in the stopped leader's socket: it runs the moment the process resumes.
    const pending = fetch(`${old.url}/increment?id=stale-${Date.now()}`, { method: 'POST', signal: AbortSignal.timeout(20_000) }).then((res) => res.status);
    old.signal('SIGCONT');
    const status = await pending;
    // 503 = FencedError (the write reached the bucket's epoch check), 421 =
    // NotLeaderError (its renew deadline fired first on waking): both refuse.
    console.log(`  the resumed old leader answered a pending write with HTTP ${status}`);
    assert.ok(status === 503 || status === 421, `the deposed leader answered ${status}, not a refusal`);
    await waitFor(async () => (await old.value())?.isLeader === false, 'the old leader to know it is no longer leading');
    const store = await ConfigMapStore.open({ name: 'counter-state', namespace, kubeConfig: cp.adminKubeConfig() });
    const ops = (await store.list('ops/', { consistent: true })).map((p) => JSON.parse(p.text) as Ack);
    await store.close();
    const firstOfNew = Math.min(...ops.filter((o) => o.by === newLeader.identity && o.epoch === next.epoch).map((o) => o.value));
    const lateOld = ops.filter((o) => o.by === old.identity && o.value > firstOfNew);
    assert.deepEqual(lateOld, [], 'a write of the deposed leader landed after the new leader\'s first write');
  });

  it('a replica cut off from the API server stops leading after renewDeadline; it rejoins as a follower and catches up', async () => {
    const leader = await waitForLeader(replicas);
    const cutAt = Date.now();
    leader.proxy.block();
    const stopped = await waitFor(() => leader.events.find((e) => e.event === 'stopped-leading' && e.at >= cutAt), 'the cut-off leader to stop leading', 30_000);
    const stopMs = stopped.at - cutAt;
    console.log(`  cut-off leader stopped leading after ${stopMs} ms (renewDeadline ${timings.renewDeadlineMs} ms)`);
    assert.ok(stopMs <= timings.renewDeadlineMs + slackMs, `it kept leading for ${stopMs} ms without the API server`);
    await waitFor(() => nextLeaderEvent(cutAt, leader), 'the others to elect a leader', 30_000);
    const before = acks.length;
    await waitFor(() => acks.length >= before + 5, 'increments under the new leader');
    leader.proxy.unblock();
    await waitFor(async () => {
      const [mine, theirs] = await Promise.all([leader.value(), (await waitForLeader(replicas)).value()]);
      return mine && theirs && !mine.isLeader && mine.value === theirs.value && mine.value >= acks.at(-1)!.value;
    }, 'the rejoined replica to follow and catch up', 30_000);
  });

  it('every acknowledged increment is stored exactly once', async () => {
    stopWorkload = true;
    await workload;
    const store = await ConfigMapStore.open({ name: 'counter-state', namespace, kubeConfig: cp.adminKubeConfig() });
    const counter = Number((await store.get('counter', { consistent: true }))?.text);
    const ops = (await store.list('ops/')).map((p) => JSON.parse(p.text) as Ack);
    await store.close();
    console.log(`  ${acks.length} acknowledged increments across the faults; counter ${counter}; ${ops.length} recorded`);
    assert.equal(counter, ops.length, 'the counter and the recorded increments disagree');
    assert.deepEqual(ops.map((o) => o.value).sort((a, b) => a - b), Array.from({ length: counter }, (_, i) => i + 1), 'a value was skipped or counted twice');
    for (const ack of acks) {
      const stored = ops.filter((o) => o.id === ack.id);
      assert.equal(stored.length, 1, `ack ${ack.id} stored ${stored.length} times`);
      assert.equal(stored[0]!.value, ack.value);
    }
  });
});
