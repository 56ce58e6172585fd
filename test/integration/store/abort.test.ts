/**
 * AbortSignal on writes: a write withdrawn while queued is never stored, a
 * write already sent keeps its real outcome, and a signal shared by many
 * writes is not left holding a listener per write.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { AbortedError } from '../../../src/index.js';
import { openBucket } from '../../support/store.js';

describe('aborting writes', () => {
  it('a write that rejected with AbortedError is not stored; one that resolved is', async () => {
    await using b = await openBucket('abort-queue');
    const controller = new AbortController();
    const put = (i: number) => b.store.put(`k/${i}`, String(i), { signal: controller.signal });
    // 100 writes go out in one commit; 100 more queue behind it; then abort.
    const writes = Array.from({ length: 100 }, (_, i) => put(i));
    await new Promise((resolve) => setTimeout(resolve, 5));
    writes.push(...Array.from({ length: 100 }, (_, i) => put(100 + i)));
    controller.abort();
    const outcomes = await Promise.allSettled(writes);
    const stored = new Set((await b.store.list('k/', { consistent: true })).map((p) => p.key));
    let aborted = 0;
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') {
        assert.ok(stored.has(`k/${i}`), `k/${i} resolved but is not stored`);
      } else {
        assert.ok(outcome.reason instanceof AbortedError, `k/${i} rejected with ${String(outcome.reason)}`);
        assert.ok(!stored.has(`k/${i}`), `k/${i} rejected but is stored`);
        aborted++;
      }
    });
    // The first hundred were sent before the abort: their outcome stands.
    assert.ok(outcomes.slice(0, 100).every((o) => o.status === 'fulfilled'), 'a write already sent was withdrawn');
    assert.ok(aborted > 0, 'no queued write was withdrawn');
  });

  it('a long-lived signal shared by many writes keeps no listener once they settle', async () => {
    await using b = await openBucket('abort-listeners');
    const controller = new AbortController();
    await Promise.all(Array.from({ length: 50 }, (_, i) => b.store.put(`k/${i}`, 'v', { signal: controller.signal })));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });
});
