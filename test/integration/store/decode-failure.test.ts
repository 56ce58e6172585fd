/**
 * A bucket state that cannot be decoded is never skipped silently (issue 7,
 * defect 5). An admin (plain client-node, no kubekv) corrupts the index
 * annotation of a bucket a follower store is watching: while the newest
 * state cannot be decoded, the follower's status().lastError is a
 * FormatError (bookmarks and time do not clear it) and its open watch
 * iterators throw it; once the admin writes a decodable state again, the
 * follower recovers: lastError is cleared and its cache is current.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { FormatError, type ConfigMapStore } from '../../../src/index.js';
import { adminClients, expectKubekvError, nextValue, nextWithin, openBucket, openPeer, readRaw, waitFor, type OpenedBucket } from '../../support/store.js';

const INDEX = 'kubekv.dev/index';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** Sets the index annotation with a plain merge patch, as an admin's edit would. */
async function setIndex(bucket: Pick<OpenedBucket, 'namespace' | 'name'>, value: string): Promise<string> {
  const cm = await adminClients().core.patchNamespacedConfigMap(
    { name: bucket.name, namespace: bucket.namespace, body: { metadata: { annotations: { [INDEX]: value } } } },
    mergePatch,
  );
  return cm.metadata!.resourceVersion!;
}

/** A bucket with a few keys, written by its own store, and a follower store that has seen them. */
async function setup(prefix: string): Promise<{ bucket: OpenedBucket; follower: ConfigMapStore; goodIndex: string }> {
  const bucket = await openBucket(prefix);
  cleanups.push(() => bucket.store.close());
  await bucket.store.put('a', '1');
  await bucket.store.put('b', '2');
  const follower = await openPeer(bucket);
  cleanups.push(() => follower.close());
  await waitFor('the follower to see b=2', async () => ((await follower.get('b'))?.text === '2') || undefined);
  await waitFor("the follower's watch to connect", () => follower.status().connected || undefined);
  assert.equal(follower.status().lastError, undefined);
  const goodIndex = (await readRaw(bucket.namespace, bucket.name)).metadata!.annotations![INDEX]!;
  return { bucket, follower, goodIndex };
}

/** Samples `check` every 100 ms for `ms`; fails at the first sample where it does not hold. */
async function holdsFor(ms: number, what: string, check: () => string | undefined): Promise<void> {
  const until = Date.now() + ms;
  const started = Date.now();
  while (Date.now() < until) {
    const problem = check();
    assert.equal(problem, undefined, `${what} stopped holding after ${Date.now() - started} ms: ${problem}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function formatErrorProblem(error: Error | undefined): string | undefined {
  if (error instanceof FormatError && error.code === 'FORMAT_ERROR') return undefined;
  return error === undefined ? 'lastError is undefined (the store reports healthy)' : `lastError is ${error.name}: ${error.message}`;
}

describe('a bucket state that cannot be decoded', () => {
  it('shows in status() and in open watch iterators, then clears once a decodable state arrives', async () => {
    const { bucket, follower, goodIndex } = await setup('decode');
    // Iterators end through their signal: return() would wait for a pending next().
    const stop = new AbortController();
    cleanups.push(() => Promise.resolve(stop.abort()));
    const iterator = follower.watchTree('', { signal: stop.signal })[Symbol.asyncIterator]();
    const snapshot = await nextValue(iterator, 5_000, 'the snapshot');
    assert.equal(snapshot.type, 'snapshot');

    const corruptRv = await setIndex(bucket, 'not json');
    await waitFor(
      "the follower's lastError to become a FormatError",
      () => formatErrorProblem(follower.status().lastError) === undefined || undefined,
      10_000,
    );
    // The open iterator must not wait forever for a change it will never be sent.
    await expectKubekvError(nextWithin(iterator, 10_000, 'the watchTree iterator to report the undecodable state'), FormatError, 'FORMAT_ERROR');
    // Not a passing glitch: it stays until the state is decodable again.
    await holdsFor(3_000, "the follower's FormatError", () => formatErrorProblem(follower.status().lastError));
    assert.notEqual(follower.status().resourceVersion, corruptRv, 'the follower claims to hold a state it could not decode');

    // The admin repairs the index: the follower recovers by itself.
    const repairedRv = await setIndex(bucket, goodIndex);
    await waitFor("the follower's lastError to clear after the repair", () => follower.status().lastError === undefined || undefined, 15_000);
    await waitFor(
      "the follower's cache to hold the repaired state",
      () => follower.status().resourceVersion === repairedRv || undefined,
      15_000,
    );
    assert.equal((await follower.get('a'))?.text, '1');
    assert.equal((await follower.get('b'))?.text, '2');
    // And it follows new writes again, through a new iterator too.
    const again = follower.watchTree('', { signal: stop.signal })[Symbol.asyncIterator]();
    await nextValue(again, 5_000, 'the snapshot after the repair');
    await bucket.store.put('c', '3');
    await waitFor('the follower to see c=3', async () => ((await follower.get('c'))?.text === '3') || undefined, 10_000);
    const event = await nextValue(again, 5_000, 'the put of c after the repair');
    assert.deepEqual(event.type === 'put' ? [event.pair.key, event.pair.text] : event, ['c', '3']);
  });

  it('stays a FormatError across a watch bookmark (the API server sends one about every minute)', async () => {
    const { bucket, follower, goodIndex } = await setup('decode-bookmark');
    await setIndex(bucket, 'not json');
    await waitFor(
      "the follower's lastError to become a FormatError",
      () => formatErrorProblem(follower.status().lastError) === undefined || undefined,
      10_000,
    );
    // kube-apiserver sends a watch bookmark roughly every 60 s; 65 s covers
    // one for a watch opened before the corruption (as the follower's was).
    // A bookmark says "nothing newer", not "your state is good".
    await holdsFor(65_000, "the follower's FormatError", () => formatErrorProblem(follower.status().lastError));
    await setIndex(bucket, goodIndex);
    await waitFor("the follower's lastError to clear after the repair", () => follower.status().lastError === undefined || undefined, 15_000);
  });
});
