/**
 * resign() and handoff() on the real kube-apiserver (short timings:
 * leaseDuration 3 s, renewDeadline 2 s, retryPeriod 500 ms). The test
 * control plane runs without the CoordinatedLeaderElection gate, so the API
 * server drops spec.preferredHolder: these tests show the handoff carried
 * by kubekv's annotation, as on most clusters. Also: a handoff to a
 * client-go elector (the Go peer, `kubekv-controlplane elect`), which knows
 * nothing of preferred holders, while a kubekv contender waits.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { LeaseElector, PREFERRED_HOLDER_ANNOTATION, type LeaseElectorOptions } from '../../../src/election/index.js';
import { controlPlaneEnv, testControlPlane, type ControlPlaneDescription } from '../../controlplane/remote.js';
import { adminApis, type Apis } from '../../support/kube.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
let admin: Apis;
let ns: string;
const open: LeaseElector[] = [];
const children: ChildProcess[] = [];

before(async () => {
  admin = adminApis();
  ns = await cp.freshNamespace('handoff');
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(open.map((e) => e.close()));
});

/** An elector that records when it started leading (performance.now()). */
function contender(name: string, identity: string, extra: Partial<LeaseElectorOptions> = {}) {
  const started: number[] = [];
  const elector = new LeaseElector({
    name, namespace: ns, kubeConfig: cp.adminKubeConfig(), identity, advertise: `http://${identity}.svc:8080`, ...timings,
    onStartedLeading: () => void started.push(performance.now()),
    ...extra,
  });
  open.push(elector);
  return { elector, started };
}

describe('resign and handoff on a real API server', () => {
  it('handoff(x): x leads next and no other; followers see its address; resign(): another leads well within a lease duration', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((id) => contender('steer', id)) as [ReturnType<typeof contender>, ReturnType<typeof contender>, ReturnType<typeof contender>];
    await a.elector.start();
    await Promise.all([b.elector.start(), c.elector.start()]);
    assert.ok(a.elector.isLeader);
    assert.deepEqual(b.elector.leaderInfo, { identity: 'a', address: 'http://a.svc:8080', term: 0 });

    const handedAt = performance.now();
    assert.equal(await a.elector.handoff('c'), 'released');
    await waitFor(() => c.elector.isLeader, 'c to lead', 10_000, 5);
    console.log(`handoff to c: ${(c.started[0]! - handedAt).toFixed(0)} ms`);
    assert.equal(b.started.length, 0, 'b took a Lease handed to c');
    assert.ok(c.started[0]! - handedAt < timings.leaseDurationMs);
    const lease = await admin.coordination.readNamespacedLease({ name: 'steer', namespace: ns });
    assert.equal(lease.spec?.holderIdentity, 'c');
    assert.equal(lease.spec?.leaseTransitions, 1);
    assert.equal(lease.spec?.preferredHolder, undefined);
    assert.equal(lease.metadata?.annotations?.[PREFERRED_HOLDER_ANNOTATION], undefined, 'the new holder did not clear the preference');
    await waitFor(() => b.elector.leaderInfo?.identity === 'c', 'b to see c lead', 5_000, 5);
    assert.deepEqual(b.elector.leaderInfo, { identity: 'c', address: 'http://c.svc:8080', term: 1 });

    const resignedAt = performance.now();
    assert.equal(await c.elector.resign(), 'released');
    const next = await waitFor(() => [a, b].find((t) => t.elector.isLeader), 'a or b to lead', 10_000, 5);
    const took = next.started.at(-1)! - resignedAt;
    console.log(`resign: ${next.elector.identity} leads after ${took.toFixed(0)} ms`);
    assert.ok(took < timings.leaseDurationMs, `took ${took} ms`);
    assert.equal(c.started.length, 1, 'c contended during its cool-down');
  });

  it('a kubekv leader hands over to a client-go elector; the other kubekv contender waits, and never overlaps it', async () => {
    const binary = (JSON.parse(readFileSync(process.env[controlPlaneEnv]!, 'utf8')) as ControlPlaneDescription).binary;
    const a = contender('to-go', 'kubekv-a');
    await a.elector.start();
    assert.ok(a.elector.isLeader);
    const b = contender('to-go', 'kubekv-b');
    await b.elector.start();
    const child = spawn(binary, ['elect', '--kubeconfig', cp.adminKubeconfigPath, '--namespace', ns, '--name', 'to-go', '--identity', 'go-peer',
      '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms', '--release=true'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const goEvents: Array<{ event: string; at: number }> = [];
    createInterface({ input: child.stdout }).on('line', (line) => goEvents.push(JSON.parse(line) as { event: string; at: number }));
    await waitFor(() => goEvents.some((e) => e.event === 'ready'), 'the Go peer to be ready', 15_000, 10);

    const handedAt = Date.now();
    assert.equal(await a.elector.handoff('go-peer'), 'released');
    const started = await waitFor(() => goEvents.find((e) => e.event === 'started'), 'the Go peer to lead', 10_000, 5);
    console.log(`handoff to the Go peer: ${started.at - handedAt} ms`);
    // Several of the Go peer's renewals: b must not take it, nor have taken it before.
    await new Promise((r) => setTimeout(r, 2 * timings.leaseDurationMs));
    assert.equal(b.started.length, 0, 'the kubekv contender led while the Go peer was preferred or leading');
    assert.equal(b.elector.leader, 'go-peer');
    assert.equal(a.started.length, 1);
    assert.ok(!goEvents.some((e) => e.event === 'stopped'));
  });
});
