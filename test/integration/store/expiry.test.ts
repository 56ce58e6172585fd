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
import { ManualClock } from '../../../src/testing/index.js';
import { openBucket, openPeer, readRaw } from '../../support/store.js';
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
});
