/**
 * The CLI beside a running StateManager: writes to a bucket it leads are
 * refused (exit 4, NOT_LEADER, nothing sent) unless --force; a forced write
 * is an ordinary CAS that the leader's cache sees through its watch and
 * that fences nobody; `status`, `leader` and `locks` show who holds what.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { load } from 'js-yaml';
import { ConfigMapStore, StateManager } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { readRaw } from '../../support/store.js';
import { waitFor } from '../../support/wait.js';
import { adminArgs, describeResult, kubekv, type CliResult } from './run-kubekv.js';

const cp = testControlPlane();
const timings = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, describeResult(result));
  return result;
}

async function leader(namespace: string, identity = 'replica-a'): Promise<StateManager> {
  const manager = await StateManager.start({ name: 'shop', namespace, kubeConfig: cp.adminKubeConfig(), identity, ...timings });
  cleanups.push(() => manager.close());
  await waitFor(() => manager.isLeader, `${identity} to lead`);
  return manager;
}

describe('writing to a bucket a StateManager leads', () => {
  it('is refused without --force (exit 4, NOT_LEADER naming the leader), nothing sent', async () => {
    const namespace = await cp.freshNamespace('cli-led');
    const manager = await leader(namespace);
    await manager.store.put('owned', 'by the leader');
    const b = ['-n', namespace, '-b', 'shop-state', ...adminArgs()];
    const before = (await readRaw(namespace, 'shop-state')).metadata?.resourceVersion;
    const dump = JSON.stringify({ kind: 'kubekv.dev/dump', version: 1, namespace, bucket: 'shop-state', revision: 0, dumpedAt: '', entries: [{ key: 'x', text: 'y' }] });
    for (const [args, stdin] of [[['put', 'k', 'v']], [['del', 'owned']], [['restore'], dump]] as const) {
      const result = await kubekv([...args, ...b], stdin === undefined ? {} : { stdin });
      assert.equal(result.code, 4, `${args[0]}: ${describeResult(result)}`);
      assert.match(result.stderr, /^error: NOT_LEADER: bucket .*\/shop-state is led by replica-a \(Lease shop-leader, epoch 0\).*--force/);
    }
    assert.equal((await readRaw(namespace, 'shop-state')).metadata?.resourceVersion, before, 'a refused write changed the bucket');

    // status says so, in every format.
    const status = JSON.parse(ok(await kubekv(['status', 'shop-state', '-n', namespace, ...adminArgs(), '-o', 'json'])).text) as Record<string, unknown>;
    assert.deepEqual(status.ledBy, { lease: 'shop-leader', holder: 'replica-a', transitions: 0, renewTime: (status.ledBy as { renewTime: string }).renewTime });
    assert.equal(status.epochRaisedBy, 'replica-a');
    assert.equal(status.keys, 1);
    assert.deepEqual((status.lastWriter as { revision: number }).revision, status.revision);
    assert.match(ok(await kubekv(['status', 'shop-state', '-n', namespace, ...adminArgs()])).text, /^Led by: +replica-a \(Lease shop-leader, renewed \d+s ago\): writes need --force$/m);
    const yaml = load(ok(await kubekv(['status', '-b', 'shop-state', '-n', namespace, ...adminArgs(), '-o', 'yaml'])).text) as { ledBy: { holder: string; lease: string } };
    assert.deepEqual([yaml.ledBy.holder, yaml.ledBy.lease], ['replica-a', 'shop-leader']);
  });

  it('goes through with --force as a CAS the leader sees through its watch, without fencing it', async () => {
    const namespace = await cp.freshNamespace('cli-force');
    const manager = await leader(namespace);
    await manager.store.put('counter', '1');
    const epochBefore = (await readRaw(namespace, 'shop-state')).metadata?.annotations?.['kubekv.dev/epoch'];
    const b = ['-n', namespace, '-b', 'shop-state', ...adminArgs(), '--force'];

    ok(await kubekv(['put', 'operator/note', 'set by hand', ...b]));
    const raw = await readRaw(namespace, 'shop-state');
    assert.equal(raw.data?.['operator__note'], 'set by hand');
    assert.equal(raw.metadata?.annotations?.['kubekv.dev/epoch'], epochBefore, 'a forced write moved the epoch');
    assert.equal(raw.metadata?.annotations?.['kubekv.dev/leader'], 'replica-a');
    // The leader's cache (not a consistent read) learns it from its watch.
    await waitFor(async () => (await manager.store.get('operator/note'))?.text === 'set by hand', "the leader's cache to see the forced write");
    // The leader goes on writing: not fenced, still leading; its next commit lands on top.
    await manager.store.put('counter', '2');
    assert.equal(manager.isLeader, true);
    assert.equal(manager.status().lastError, undefined);
    const after = await readRaw(namespace, 'shop-state');
    assert.equal(after.data?.counter, '2');
    assert.equal(after.data?.['operator__note'], 'set by hand', "the leader's write lost the forced one");

    ok(await kubekv(['del', 'operator/note', ...b]));
    await waitFor(async () => (await manager.store.get('operator/note')) === undefined, "the leader's cache to see the forced delete");
  });

  it('is allowed again once the leader has released its Lease; --lease names the Lease to judge by', async () => {
    const namespace = await cp.freshNamespace('cli-release');
    const manager = await leader(namespace);
    const b = ['-n', namespace, ...adminArgs()];
    // A bucket no StateManager raised is not led: unless --lease names a held Lease.
    ok(await kubekv(['put', 'k', 'v', '-b', 'other', '--create-bucket', ...b]));
    const named = await kubekv(['put', 'k', 'w', '-b', 'other', '--lease', 'shop-leader', ...b]);
    assert.equal(named.code, 4, describeResult(named));
    const missing = await kubekv(['put', 'k', 'w', '-b', 'other', '--lease', 'no-such-lease', ...b]);
    assert.equal(missing.code, 3, describeResult(missing));

    await manager.close();
    ok(await kubekv(['put', 'k', 'v', '-b', 'shop-state', ...b]));
    ok(await kubekv(['put', 'k', 'w', '-b', 'other', '--lease', 'shop-leader', ...b]));
    assert.match(ok(await kubekv(['status', 'shop-state', ...b])).text, /^Led by: +<none>: writes need no --force$/m);
  });
});

describe('kubekv leader / locks', () => {
  it('shows the leader Lease: holder, epoch, transitions, time since renew; by Lease or app name', async () => {
    const namespace = await cp.freshNamespace('cli-leader');
    await leader(namespace, 'replica-b');
    const b = ['-n', namespace, ...adminArgs()];
    const view = JSON.parse(ok(await kubekv(['leader', 'shop', ...b, '-o', 'json'])).text) as Record<string, unknown>;
    assert.equal(view.lease, 'shop-leader');
    assert.equal(view.holder, 'replica-b');
    assert.equal(view.state, 'held');
    assert.equal(view.epoch, 0);
    assert.equal(view.transitions, 0);
    assert.equal(view.leaseDurationSeconds, 4);
    assert.ok(typeof view.sinceRenewSeconds === 'number' && view.sinceRenewSeconds >= 0);
    assert.deepEqual(Object.keys(load(ok(await kubekv(['leader', 'shop-leader', ...b, '-o', 'yaml'])).text) as object).sort(), Object.keys(view).sort());
    const table = ok(await kubekv(['leader', 'shop-leader', ...b])).text;
    assert.match(table, /^Holder: +replica-b$/m);
    assert.match(table, /^State: +held \(expires in \d+s\)$/m);
    assert.match(table, /^Renewed: +\S+ \(\d+s ago\)$/m);
    const missing = await kubekv(['leader', 'nothing', ...b]);
    assert.equal(missing.code, 3, describeResult(missing));
    assert.match(missing.stderr, /^error: LEASE_NOT_FOUND: lease .*\/nothing \(nor nothing-leader\) does not exist/);
  });

  it('lists the locks of a bucket with key, holder, state and fencing token', async () => {
    const namespace = await cp.freshNamespace('cli-locks');
    await using store = await ConfigMapStore.open({ name: 'jobs', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
    const b = ['-n', namespace, ...adminArgs()];
    assert.equal(ok(await kubekv(['locks', 'jobs', ...b])).stderr, 'No locks found for bucket jobs.\n');
    await using held = await store.newLock('reports/nightly', { identity: 'worker-1', ttlMs: 10_000 }).lock();
    const locks = JSON.parse(ok(await kubekv(['locks', '-b', 'jobs', ...b, '-o', 'json'])).text) as Array<Record<string, unknown>>;
    assert.equal(locks.length, 1);
    assert.deepEqual({ ...locks[0], renewTime: undefined, sinceRenewSeconds: undefined }, {
      key: 'reports/nightly', lease: locks[0]!.lease, holder: 'worker-1', state: 'held', token: held.token, ttlSeconds: 10, renewTime: undefined, sinceRenewSeconds: undefined,
    });
    assert.match(String(locks[0]!.lease), /^jobs-lock-[0-9a-f]{16}$/);
    assert.match(ok(await kubekv(['locks', 'jobs', ...b])).text, /^reports\/nightly +worker-1 +held +\d+ +<none> +10s +\d+s ago +jobs-lock-/m);
    // A lock can carry the holder's value (libkv's LockOptions.Value), shown to anyone who looks.
    const withValue = store.newLock('reports/weekly', { identity: 'worker-2', ttlMs: 10_000, value: '10.0.0.7:8080' });
    await using weekly = await withValue.lock();
    const listed = JSON.parse(ok(await kubekv(['locks', 'jobs', ...b, '-o', 'json'])).text) as Array<Record<string, unknown>>;
    assert.equal(listed.find((l) => l.key === 'reports/weekly')?.value, '10.0.0.7:8080');
    assert.match(ok(await kubekv(['locks', 'jobs', ...b])).text, /^reports\/weekly +worker-2 +held +\d+ +10\.0\.0\.7:8080 +10s /m);
    assert.deepEqual(await store.newLock('reports/weekly').inspect(), { holder: 'worker-2', value: '10.0.0.7:8080', token: weekly.token });
    await weekly.unlock();
    assert.equal(await store.newLock('reports/weekly').inspect(), undefined, 'released: nobody holds it');
    await held.unlock();
    const released = JSON.parse(ok(await kubekv(['locks', 'jobs', ...b, '-o', 'json'])).text) as Array<Record<string, unknown>>;
    assert.equal(released[0]!.state, 'released');
  });
});
