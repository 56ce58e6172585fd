/**
 * LeaseElector against the real kube-apiserver, with short client-go style
 * timings (leaseDuration 3 s, renewDeadline 2 s, retryPeriod 500 ms): one
 * leader among three, a release that hands over without waiting for expiry,
 * followers that send no request while idle, and a leader that steps down when
 * RBAC stops it renewing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeLeaseLock, LeaseElector, type LeaseElectorOptions, type LeaseLock } from '../../../src/election/index.js';
import type { Logger } from '../../../src/logger.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminApis, recordWatch, userWithRole, type Apis } from '../../support/kube.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
let admin: Apis;
let ns: string;
const open: LeaseElector[] = [];

before(async () => {
  admin = adminApis();
  ns = await cp.freshNamespace('election');
});

after(async () => {
  await Promise.all(open.map((e) => e.close()));
});

interface Tracked {
  elector: LeaseElector;
  /** performance.now() of each onStartedLeading / onStoppedLeading. */
  started: number[];
  stopped: number[];
  /** Date.now() of each onStoppedLeading, to compare with lastRenewAt. */
  stoppedWall: number[];
  signals: AbortSignal[];
}

function contender(name: string, identity: string, extra: Partial<LeaseElectorOptions> = {}): Tracked {
  const t: Tracked = { elector: undefined as unknown as LeaseElector, started: [], stopped: [], stoppedWall: [], signals: [] };
  t.elector = new LeaseElector({
    name,
    namespace: ns,
    kubeConfig: cp.adminKubeConfig(),
    identity,
    ...timings,
    onStartedLeading: (signal) => {
      t.started.push(performance.now());
      t.signals.push(signal);
    },
    onStoppedLeading: () => {
      t.stopped.push(performance.now());
      t.stoppedWall.push(Date.now());
    },
    ...extra,
  });
  open.push(t.elector);
  return t;
}

const readLease = (name: string) => admin.coordination.readNamespacedLease({ name, namespace: ns });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LeaseElector on a real API server', () => {
  it('elects exactly one of three; close() hands over faster than leaseDuration; the record is client-go\'s', async () => {
    const all = ['alpha', 'beta', 'gamma'].map((id) => contender('three', id));
    await Promise.all(all.map((t) => t.elector.start()));
    // Exactly one leader, and the same one, throughout 4 renew periods.
    const first = all.filter((t) => t.elector.isLeader);
    assert.equal(first.length, 1, `leaders: ${first.map((t) => t.elector.identity).join(', ')}`);
    const leader = first[0]!;
    for (let i = 0; i < 40; i++) {
      await sleep(50);
      assert.deepEqual(all.filter((t) => t.elector.isLeader), [leader]);
    }
    for (const t of all) assert.equal(t.elector.leader, leader.elector.identity);

    const before = await readLease('three');
    const spec = before.spec!;
    assert.equal(spec.holderIdentity, leader.elector.identity);
    assert.equal(spec.leaseDurationSeconds, 3);
    assert.equal(spec.leaseTransitions, 0);
    // MicroTime on the wire: microsecond precision, as client-go writes it.
    assert.match(String(spec.acquireTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.match(String(spec.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(Date.parse(String(spec.renewTime)) - Date.parse(String(spec.acquireTime)) >= 1000, 'renewals moved renewTime, not acquireTime');

    const watch = await recordWatch(admin.kc, `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, {
      fieldSelector: 'metadata.name=three', resourceVersion: before.metadata!.resourceVersion!,
    });
    try {
      const closedAt = performance.now();
      await leader.elector.close();
      const next = (await waitFor(() => all.find((t) => t !== leader && t.elector.isLeader), 'another contender to lead', 10_000, 10));
      const handoverMs = next.started[0]! - closedAt;
      console.log(`handover after close(): ${handoverMs.toFixed(0)} ms (leaseDuration ${timings.leaseDurationMs} ms)`);
      assert.ok(handoverMs < timings.leaseDurationMs, `handover took ${handoverMs} ms: it waited for expiry instead of acting on the release`);
      assert.ok(leader.stopped.length === 1 && leader.signals[0]!.aborted);

      // The release record client-go writes, then the takeover.
      const specs = (await watch.until((events) => events.some((e) => spec_(e.object).holderIdentity === next.elector.identity)))
        .map((e) => spec_(e.object));
      const released = specs.find((s) => s.holderIdentity === '');
      assert.ok(released, `no release in ${JSON.stringify(specs)}`);
      assert.equal(released.leaseDurationSeconds, 1);
      assert.equal(released.leaseTransitions, 0);
      assert.equal(released.acquireTime, released.renewTime);
      const taken = (await readLease('three')).spec!;
      assert.equal(taken.holderIdentity, next.elector.identity);
      assert.equal(taken.leaseDurationSeconds, 3);
      assert.equal(taken.leaseTransitions, 1);
      assert.equal(next.elector.term, 1);
    } finally {
      watch.stop();
    }
  });

  it('a follower sends no request while the leader renews (it watches and keeps one timer)', async () => {
    const leader = contender('idle', 'leader');
    await leader.elector.start();
    assert.ok(leader.elector.isLeader);
    const inner = new KubeLeaseLock({ kubeConfig: cp.adminKubeConfig(), namespace: ns, name: 'idle' });
    const counting = countingLock(inner);
    const follower = contender('idle', 'follower', { lock: counting.lock });
    await follower.elector.start();
    assert.equal(follower.elector.leader, 'leader');
    const renewTimeBefore = String((await readLease('idle')).spec!.renewTime);
    counting.calls.length = 0;
    // Two full lease durations: a follower that did not see the renewals
    // through its watch would have had to read the Lease at least once.
    await sleep(2 * timings.leaseDurationMs);
    assert.deepEqual(counting.calls, [], 'the follower polled');
    assert.equal(follower.elector.isLeader, false);
    assert.ok(leader.elector.isLeader);
    const renewTimeAfter = String((await readLease('idle')).spec!.renewTime);
    assert.ok(Date.parse(renewTimeAfter) - Date.parse(renewTimeBefore) >= timings.leaseDurationMs, 'the leader kept renewing meanwhile');
  });

  it('a leader that RBAC stops from renewing steps down after renewDeadline, before the lease could expire', async () => {
    const user = `system:serviceaccount:${ns}:elector`;
    const role = (verbs: string[]) => ({
      metadata: { name: 'elector' },
      rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs }],
    });
    const kubeConfig = await userWithRole(ns, 'elector', role(['get', 'list', 'watch', 'create', 'update']).rules, user);
    const warnings: string[] = [];
    const t = contender('rbac', 'restricted', { kubeConfig, logger: capture(warnings) });
    await t.elector.start();
    assert.ok(t.elector.isLeader);
    await sleep(1000);
    assert.ok(t.elector.isLeader, 'renewals work while update is granted');

    await admin.rbac.replaceNamespacedRole({ name: 'elector', namespace: ns, body: role(['get', 'list', 'watch', 'create']) });
    await waitFor(() => t.stopped.length > 0, 'the leader to step down', 10_000, 10);
    assert.equal(t.stopped.length, 1);
    assert.ok(t.signals[0]!.aborted);
    assert.equal(t.elector.isLeader, false);
    assert.ok(warnings.some((w) => /forbidden/i.test(w)), `no forbidden failure logged: ${warnings.join(' | ')}`);
    // It kept trying until renewDeadline (allowing for ms rounding and the time
    // the role change took to apply) and gave up before anyone could take over.
    const heldFor = t.stoppedWall[0]! - t.elector.lastRenewAt!;
    console.log(`stepped down ${heldFor} ms after its last successful renewal (renewDeadline ${timings.renewDeadlineMs} ms)`);
    assert.ok(heldFor >= timings.renewDeadlineMs - 100, `stepped down ${heldFor} ms after the last renewal: too early`);
    assert.ok(heldFor < timings.leaseDurationMs, `stepped down ${heldFor} ms after the last renewal: the lease could have expired`);
    assert.equal((await readLease('rbac')).spec!.holderIdentity, 'restricted', 'nobody else wrote the lease');
  });
});

function spec_(object: Record<string, unknown>): { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number; acquireTime?: string; renewTime?: string } {
  const spec: ReturnType<typeof spec_> = object.spec ?? {};
  return spec;
}

/** Wraps a lock to record every get/create/update (the watch is passed through). */
function countingLock(inner: LeaseLock): { lock: LeaseLock; calls: string[] } {
  const calls: string[] = [];
  const lock: LeaseLock = {
    describe: () => inner.describe(),
    get: (signal) => (calls.push('get'), inner.get(signal)),
    create: (record, signal) => (calls.push('create'), inner.create(record, signal)),
    update: (record, rv, signal) => (calls.push('update'), inner.update(record, rv, signal)),
    touch: (rv, signal) => (calls.push('touch'), inner.touch(rv, signal)),
    watch: (observer) => inner.watch(observer),
  };
  return { lock, calls };
}

/** A logger that keeps warn and error messages. */
function capture(into: string[]): Logger {
  const keep = (obj: Record<string, unknown> | string, msg?: string) => {
    into.push(typeof obj === 'string' ? obj : `${msg ?? ''} ${JSON.stringify(obj)}`);
  };
  const logger: Logger = { debug: () => {}, info: () => {}, warn: keep, error: keep, child: () => logger };
  return logger;
}
