/**
 * Conformance, continued: what a writer and a second instance of the same
 * bucket see (read-after-write, the watch-fed cache, consistent reads), and
 * the watch(key) / watchTree(prefix) streams. Every test runs once per
 * backend (test/support/store-backends.ts): ConfigMapStore on the real
 * control plane and MemoryStore from kubekv/testing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyEvent, TreeEvent } from '../../../src/index.js';
import { nextValue, nextWithin, waitFor } from '../../support/store.js';
import { openBackendBucket, storeBackends } from '../../support/store-backends.js';

/** A hang fails the test after a minute, naming it, instead of stalling the run. */
const bounded = { timeout: 60_000 };

for (const backend of storeBackends) {
  describe(backend.name, () => {
    const openBucket = (name: string) => openBackendBucket(backend, name);

    describe('visibility', () => {
      it('the writer reads its own writes at once: get, exists, list and status', bounded, async () => {
        await using b = await openBucket('raw-self');
        for (let i = 0; i < 5; i++) {
          const pair = await b.store.put('k', `v${i}`);
          const read = await b.store.get('k');
          assert.deepEqual([read?.text, read?.lastIndex], [`v${i}`, pair.lastIndex], `write ${i} not visible to its writer`);
          assert.equal(b.store.status().revision, pair.lastIndex);
        }
        await b.store.put('j', 'x');
        assert.equal(await b.store.exists('j'), true);
        assert.deepEqual((await b.store.list('')).map((p) => p.key), ['j', 'k']);
        await b.store.delete('j');
        assert.equal(await b.store.exists('j'), false);
      });

      it('a second instance sees writes through its watch, and at once with consistent reads', bounded, async () => {
        await using b = await openBucket('peer-view');
        await using peer = await b.openPeer();
        await waitFor('the peer\'s watch to connect', () => peer.status().connected);

        const first = await b.store.put('k', 'v1');
        const consistent = await peer.get('k', { consistent: true });
        assert.deepEqual([consistent?.text, consistent?.lastIndex], ['v1', first.lastIndex], 'a consistent read missed an acknowledged write');

        const second = await b.store.put('k2', 'v2');
        const cached = await waitFor('the peer\'s cache to see k2', async () => peer.get('k2'));
        assert.deepEqual([cached.text, cached.lastIndex], ['v2', second.lastIndex]);
        await waitFor('the peer\'s revision to catch up', () => peer.status().revision === second.lastIndex);
        assert.equal(peer.status().resourceVersion, b.store.status().resourceVersion);
        if (b.raw) assert.equal(peer.status().resourceVersion, (await b.raw()).metadata?.resourceVersion);

        await b.store.delete('k');
        await waitFor('the peer\'s cache to lose k', async () => !(await peer.exists('k')));
        assert.deepEqual((await peer.list('')).map((p) => p.key), ['k2']);
      });
    });

    describe('watch(key)', () => {
      it('yields the current state first, then each put, then the delete; abort ends the iteration', bounded, async () => {
        await using b = await openBucket('watch-key');
        const initial = await b.store.put('w', 'v0');
        const controller = new AbortController();
        const events = b.store.watch('w', { signal: controller.signal })[Symbol.asyncIterator]();

        const first = await nextValue(events, 5_000, 'the current state');
        assert.equal(first.key, 'w');
        assert.deepEqual([first.pair?.text, first.pair?.lastIndex, first.revision], ['v0', initial.lastIndex, initial.lastIndex]);

        const p1 = await b.store.put('w', 'v1');
        await b.store.put('unrelated', 'not for this watch');
        const p2 = await b.store.put('w', Uint8Array.from([0xff]));
        const e1 = await nextValue(events, 5_000, 'the first put');
        assert.deepEqual([e1.pair?.text, e1.pair?.lastIndex, e1.revision], ['v1', p1.lastIndex, p1.lastIndex]);
        const e2 = await nextValue(events, 5_000, 'the second put');
        assert.deepEqual([e2.key, e2.pair?.value, e2.revision], ['w', Uint8Array.from([0xff]), p2.lastIndex]);

        await b.store.delete('w');
        const deleted = await nextValue(events, 5_000, 'the delete');
        assert.equal(deleted.key, 'w');
        assert.equal(deleted.pair, undefined);
        assert.equal(deleted.revision, b.store.status().revision);

        controller.abort();
        const end = await nextWithin(events, 5_000, 'the end after abort');
        assert.equal(end.done, true, `the iteration went on after abort: ${JSON.stringify(end.value)}`);
      });

      it('for an absent key yields undefined first, then a put made by another instance', bounded, async () => {
        await using b = await openBucket('watch-peer');
        await using peer = await b.openPeer();
        const controller = new AbortController();
        const events = b.store.watch('later', { signal: controller.signal })[Symbol.asyncIterator]();
        try {
          const first = await nextValue(events, 5_000, 'the initial (absent) state');
          assert.deepEqual([first.key, first.pair, first.revision], ['later', undefined, 0]);
          const written = await peer.put('later', 'from the peer');
          const seen: KeyEvent = await nextValue(events, 5_000, 'the peer\'s put');
          assert.deepEqual([seen.pair?.text, seen.pair?.lastIndex, seen.revision], ['from the peer', written.lastIndex, written.lastIndex]);
        } finally {
          controller.abort();
        }
      });

      it('close() ends a running iteration', bounded, async () => {
        const b = await openBucket('watch-close');
        const events = b.store.watch('k')[Symbol.asyncIterator]();
        await nextValue(events, 5_000, 'the current state');
        const pending = nextWithin(events, 5_000, 'the end after close');
        await b.store.close();
        assert.equal((await pending).done, true);
      });
    });

    describe('watchTree(prefix)', () => {
      it('yields a snapshot, then puts and deletes under the prefix in order, and nothing outside it', bounded, async () => {
        await using b = await openBucket('watch-tree');
        await b.store.put('t/b', 'b');
        await b.store.put('t/a', 'a');
        await b.store.put('u/x', 'outside');
        const controller = new AbortController();
        const events = b.store.watchTree('t/', { signal: controller.signal })[Symbol.asyncIterator]();

        const snapshot = await nextValue(events, 5_000, 'the snapshot');
        assert.ok(snapshot.type === 'snapshot', `expected a snapshot first, got ${snapshot.type}`);
        assert.deepEqual(snapshot.pairs.map((p) => [p.key, p.text]), [['t/a', 'a'], ['t/b', 'b']]);
        assert.equal(snapshot.revision, b.store.status().revision);

        await b.store.put('u/y', 'outside');
        const c = await b.store.put('t/c', 'c');
        await b.store.put('tz', 'outside: no slash');
        assert.equal(await b.store.delete('t/a'), true);
        const deleteRevision = b.store.status().revision;
        const batchRevision = await b.store.batch([
          { op: 'put', key: 't/d', value: 'd' },
          { op: 'delete', key: 't/b' },
          { op: 'put', key: 'u/z', value: 'outside' },
        ]);

        const got: TreeEvent[] = [];
        for (let i = 0; i < 4; i++) got.push(await nextValue(events, 5_000, `tree event ${i + 1} of 4`));
        const summary = got.map((e) => (e.type === 'put' ? ['put', e.pair.key, e.pair.text, e.revision] : e.type === 'delete' ? ['delete', e.key, e.revision] : [e.type]));
        assert.deepEqual(summary.slice(0, 2), [
          ['put', 't/c', 'c', c.lastIndex],
          ['delete', 't/a', deleteRevision],
        ]);
        // The batch is one commit: its two events share its revision; their
        // order within the commit is not part of the contract.
        assert.deepEqual(summary.slice(2).sort(), [
          ['delete', 't/b', batchRevision],
          ['put', 't/d', 'd', batchRevision],
        ]);

        controller.abort();
        const end = await nextWithin(events, 5_000, 'the end after abort');
        assert.equal(end.done, true, `events outside the prefix or after abort were delivered: ${JSON.stringify(end.value)}`);
      });

      it('"" watches every key, including puts made by another instance', bounded, async () => {
        await using b = await openBucket('watch-all');
        await using peer = await b.openPeer();
        const controller = new AbortController();
        const events = b.store.watchTree('', { signal: controller.signal })[Symbol.asyncIterator]();
        try {
          const snapshot = await nextValue(events, 5_000, 'the snapshot');
          assert.deepEqual(snapshot, { type: 'snapshot', pairs: [], revision: 0 });
          const written = await peer.put('any/key', 'v');
          const event = await nextValue(events, 5_000, 'the peer\'s put');
          assert.ok(event.type === 'put', `expected a put, got ${event.type}`);
          assert.deepEqual([event.pair.key, event.pair.text, event.revision], ['any/key', 'v', written.lastIndex]);
        } finally {
          controller.abort();
        }
      });
    });
  });
}
