/**
 * Per-key TTL on the real control plane: the TTL is recorded in the head
 * (kubekv.dev/expiry), a sweeper on a ManualClock deletes the key with one
 * conditional delete once the TTL has passed on its clock since it saw the
 * write, not before; a watcher on another store sees reason 'expired'.
 * The unit tests (test/unit/store/expiry.test.ts) cover the timing cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TreeEvent } from '../../../src/index.js';
import { storeInternals } from '../../../src/store/configmap-store.js';
import { ManualClock } from '../../../src/testing/index.js';
import { adminClients, openBucket, openPeer, readRaw } from '../../support/store.js';
import { waitFor } from '../../support/wait.js';

const bounded = { timeout: 120_000 };

describe('per-key TTL on the control plane', () => {
  it('a sweeper deletes the key once its TTL has passed on the sweeper clock, with reason expired', bounded, async () => {
    await using b = await openBucket('expiry', { sweep: false });
    const clock = new ManualClock();
    const sweeper = await openPeer(b, { clock });
    const stop = new AbortController();
    try {
      const events: TreeEvent[] = [];
      const watching = (async () => {
        for await (const event of b.store.watchTree('members/', { signal: stop.signal })) events.push(event);
      })();
      const put = await b.store.put('members/a', '10.0.0.1:8080', { ttlMs: 2000 });
      await b.store.put('members/b', '10.0.0.2:8080');
      const raw = await readRaw(b.namespace, b.name);
      assert.deepEqual(JSON.parse(raw.metadata?.annotations?.['kubekv.dev/expiry'] ?? '{}'), { members__a: { r: put.lastIndex, ttl: 2000 } });
      await waitFor(async () => (await sweeper.get('members/b'))?.ttlMs === undefined && (await sweeper.get('members/a'))?.ttlMs === 2000, 'the sweeper to see both writes');

      await clock.advance(1999);
      assert.equal((await readRaw(b.namespace, b.name)).data?.members__a, '10.0.0.1:8080', 'still there before its TTL');
      await clock.advance(1);
      await waitFor(async () => (await readRaw(b.namespace, b.name)).data?.members__a === undefined, 'the expiry commit');
      assert.equal((await readRaw(b.namespace, b.name)).data?.members__b, '10.0.0.2:8080');
      await waitFor(() => events.some((e) => e.type === 'delete'), 'the watcher to see the delete');
      const deleted = events.find((e) => e.type === 'delete');
      assert.deepEqual(deleted && deleted.type === 'delete' ? [deleted.key, deleted.reason] : undefined, ['members/a', 'expired']);
      stop.abort();
      await watching;
    } finally {
      stop.abort();
      await sweeper.close();
    }
  });

  it("sessions: close() deletes the keys in one commit and the Lease; a dead owner's keys go once the sweeper saw the Lease unrenewed for the TTL", bounded, async () => {
    // The owner's clock never moves: it renews never, as a SIGKILLed process.
    const ownerClock = new ManualClock();
    await using b = await openBucket('sessions', { sweep: false, clock: ownerClock });
    const sweeperClock = new ManualClock();
    const sweeper = await openPeer(b, { clock: sweeperClock });
    const leases = adminClients().coordination;
    try {
      const closing = await b.store.session({ ttlMs: 2000 });
      await b.store.put('members/x', 'x', { session: closing });
      await b.store.put('members/y', 'y', { session: closing });
      const before = Number((await readRaw(b.namespace, b.name)).metadata?.annotations?.['kubekv.dev/revision']);
      await closing.close();
      const after = await readRaw(b.namespace, b.name);
      assert.equal(Number(after.metadata?.annotations?.['kubekv.dev/revision']), before + 1, 'one commit');
      assert.deepEqual(Object.keys(after.data ?? {}), []);
      await assert.rejects(leases.readNamespacedLease({ name: closing.id, namespace: b.namespace }), (err: { code?: number }) => err.code === 404);

      const dying = await b.store.session({ ttlMs: 2000 });
      const put = await b.store.put('members/a', 'a', { session: dying });
      await waitFor(async () => (await sweeper.get('members/a'))?.lastIndex === put.lastIndex, 'the sweeper to see the key');
      // Timed from when the sweeper's watch first saw the Lease (its last change, for this frozen owner).
      const due = await waitFor(() => sweeper[storeInternals].expiryDueAt('members/a'), 'the sweeper to see the session Lease');
      assert.equal(due, sweeperClock.monotonic() + 2000);
      await sweeperClock.advance(1999);
      assert.equal((await readRaw(b.namespace, b.name)).data?.members__a, 'a', 'not before the TTL');
      await sweeperClock.advance(1);
      await waitFor(async () => (await readRaw(b.namespace, b.name)).data?.members__a === undefined, 'the dead session keys to go');
    } finally {
      await sweeper.close();
    }
  });

  it('a session whose owner died before binding a key: the sweeper deletes its Lease once it has seen it unchanged for the TTL, and not after a renewal', bounded, async () => {
    // The owner's clock never moves: it renews never, as a SIGKILLed process.
    const ownerClock = new ManualClock();
    await using b = await openBucket('orphan-sessions', { sweep: false, clock: ownerClock });
    const dead = await b.store.session({ ttlMs: 2000 });
    const sweeperClock = new ManualClock();
    const sweeper = await openPeer(b, { clock: sweeperClock });
    const leases = adminClients().coordination;
    const exists = async () => {
      try {
        await leases.readNamespacedLease({ name: dead.id, namespace: b.namespace });
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return false;
        throw err;
      }
    };
    try {
      // Listed when the sweeper starts (then watched); timed from that answer, on its clock.
      const due = await waitFor(async () => {
        await sweeperClock.advance(0);
        return sweeper[storeInternals].sessionLeaseDueAt(dead.id);
      }, 'the sweeper to list the session Lease');
      assert.equal(due, sweeperClock.monotonic() + 2000);
      // A change (by hand, standing for a renewal: a new resourceVersion) before the TTL ran out: the watch brings it, timed afresh from then.
      await sweeperClock.advance(1000);
      await leases.patchNamespacedLease({ name: dead.id, namespace: b.namespace, body: [{ op: 'add', path: '/metadata/labels/renewed-by-hand', value: 'yes' }] });
      await waitFor(() => sweeper[storeInternals].sessionLeaseDueAt(dead.id) === sweeperClock.monotonic() + 2000, 'the renewal to be timed afresh');
      await sweeperClock.advance(1999);
      assert.equal(await exists(), true, 'a renewed session Lease stays: not before the TTL since the renewal, though past the one before it');
      await sweeperClock.advance(1);
      await waitFor(async () => !(await exists()), 'the unrenewed session Lease to be deleted');
    } finally {
      await sweeper.close();
    }
  });
});

