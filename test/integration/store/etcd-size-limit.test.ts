/**
 * A bucket within the API server's two ConfigMap limits (1 MiB of values,
 * 256 KiB of annotations) can still be over etcd's request limit (1.5 MiB
 * by default, for everything stored: keys, values, annotations,
 * managedFields), because each key is stored three times (issue 16, break
 * 4). A write that cannot fit must be refused before it is sent, with
 * BucketFullError; and a write the server refuses as too large ("etcdserver:
 * request is too large", an HTTP 500) is a definite "not stored", never an
 * OutcomeUnknownError after the whole deadline.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { BucketFullError, KubekvError, type ConfigMapStore } from '../../../src/index.js';
import { MAX_ANNOTATIONS_BYTES, MAX_DATA_BYTES, annotationsSize, dataSize } from '../../../src/codec/index.js';
import { BucketApi } from '../../../src/store/bucket-api.js';
import { certainlyNotApplied, isTooLarge } from '../../../src/kube/errors.js';
import { storeInternals } from '../../../src/store/configmap-store.js';
import { expectBucketUnchanged, openBucket, readRaw, type OpenedBucket } from '../../support/store.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

const CHUNK = 32 * 1024;

function describeError(err: unknown): string {
  return err instanceof KubekvError ? `${err.name} (${err.code}): ${err.message}` : String(err);
}

/**
 * Shares the bucket with what a team might add by hand (kubectl): 1,400
 * keys of 250 characters and a 255,000-byte annotation. Keys count toward
 * neither documented limit, so with them etcd's limit binds below 1 MiB of
 * values. Then puts incompressible 32 KiB values under keys `v<n>` until
 * one is refused, and returns the refusal.
 */
async function fillUntilRefused(bucket: OpenedBucket, store: ConfigMapStore): Promise<{ error: unknown; chunks: number }> {
  const api = new BucketApi(bucket.kc, bucket.namespace, bucket.name);
  const current = (await api.get())!;
  const data = Object.fromEntries(Array.from({ length: 1400 }, (_, i) => [`f${String(i).padStart(4, '0')}-${'y'.repeat(244)}`, '']));
  const edited = await api.patch({ metadata: { resourceVersion: current.metadata!.resourceVersion!, annotations: { 'example.com/blob': 'b'.repeat(255_000) } }, data });
  assert.ok(edited.ok, 'the hand edit conflicted');
  for (let n = 0; n < 40; n++) {
    const put = await store.put(`v${n}`, randomBytes(CHUNK), { timeoutMs: 5_000 }).catch((err: unknown) => err);
    if (put instanceof Error) return { error: put, chunks: n };
  }
  assert.fail(`${40 * CHUNK} bytes of values fitted: the bucket never reached a limit`);
}

/** The bucket is within the API server's two documented limits. */
function assertWithinDocumentedLimits(cm: V1ConfigMap): void {
  assert.ok(dataSize(cm.data, cm.binaryData) <= MAX_DATA_BYTES, 'the values are over 1 MiB: not the case under test');
  assert.ok(annotationsSize(cm.metadata?.annotations) <= MAX_ANNOTATIONS_BYTES, 'the annotations are over 256 KiB: not the case under test');
}

describe("a bucket at etcd's request limit", () => {
  it('refuses the next put with BucketFullError (limit etcd) before sending it, and stores nothing', { timeout: 120_000 }, async () => {
    const bucket = await openBucket('etcd-limit', { chunks: false });
    cleanups.push(() => bucket.store.close());
    const { error, chunks } = await fillUntilRefused(bucket, bucket.store);
    assert.ok(error instanceof BucketFullError, `expected BucketFullError, got ${describeError(error)}`);
    assert.equal(error.limitName, 'etcd', `refused for the ${error.limitName} limit, not etcd's: ${error.message}`);
    assert.ok(error.size > error.limit);
    assertWithinDocumentedLimits(await readRaw(bucket.namespace, bucket.name));
    assert.equal(await bucket.store.get(`v${chunks}`, { consistent: true }), undefined);
    // Refused locally: a repeat sends nothing (the bucket stays as it is).
    await expectBucketUnchanged(bucket, () => assert.rejects(bucket.store.put(`v${chunks}`, randomBytes(CHUNK)), BucketFullError));
    // Deleting makes room again.
    await bucket.store.delete('v0');
    await bucket.store.put(`v${chunks}`, randomBytes(CHUNK));
  });

  it("the review's case (1,011 keys of 252 characters, values up to 1 MiB) ends in a definite BucketFullError, never OutcomeUnknownError", { timeout: 120_000 }, async () => {
    const bucket = await openBucket('etcd-limit-review', { chunks: false });
    cleanups.push(() => bucket.store.close());
    const store = bucket.store;
    const key = (i: number) => `k${String(i).padStart(4, '0')}-${'x'.repeat(246)}`;
    const refusals: unknown[] = [];
    for (let i = 0; i < 1011; i += 200) {
      const batch = Array.from({ length: Math.min(200, 1011 - i) }, (_, j) => ({ op: 'put' as const, key: key(i + j), value: randomBytes(1000) }));
      await store.batch(batch, { timeoutMs: 5_000 }).catch((err: unknown) => refusals.push(err));
    }
    for (let n = 0; n < 40 && refusals.length === 0; n++) {
      await store.put(`v${n}`, randomBytes(CHUNK), { timeoutMs: 5_000 }).catch((err: unknown) => refusals.push(err));
    }
    assert.ok(refusals.length > 0, 'the bucket never filled');
    for (const err of refusals) assert.ok(err instanceof BucketFullError, `expected BucketFullError, got ${describeError(err)}`);
    assertWithinDocumentedLimits(await readRaw(bucket.namespace, bucket.name));
  });

  it('refuses only what etcd would refuse: the largest value it admits is within 4 KiB of what the server takes', { timeout: 120_000 }, async () => {
    const bucket = await openBucket('etcd-limit-tight', { chunks: false });
    cleanups.push(() => bucket.store.close());
    await fillUntilRefused(bucket, bucket.store);
    // The largest value kubekv admits for one more key (refusals send nothing).
    let lo = 0;
    let hi = CHUNK;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const admitted = await bucket.store.put('probe', randomBytes(mid)).then(
        () => true,
        (err: unknown) => {
          if (err instanceof BucketFullError) return false;
          throw err;
        },
      );
      if (admitted) {
        await bucket.store.delete('probe');
        lo = mid;
      } else hi = mid - 1;
    }
    assert.ok(lo > 0, 'kubekv admits no value at all: the bucket was filled too far for this check');
    // The same key with 4 KiB more, sent raw (no index or writers entry, so
    // the server is asked to store less than kubekv would add): etcd refuses it.
    const api = new BucketApi(bucket.kc, bucket.namespace, bucket.name);
    const current = (await api.get())!;
    const refused = await api
      .patch({ metadata: { resourceVersion: current.metadata!.resourceVersion! }, binaryData: { probe: randomBytes(lo + 4096).toString('base64') } })
      .then(() => undefined, (err: unknown) => err);
    assert.ok(refused !== undefined, `etcd took ${lo + 4096} bytes more; kubekv refuses from ${lo + 1}: the estimate is more than 4 KiB too cautious`);
    assert.ok(isTooLarge(refused), `the server's refusal is not recognised as "too large": ${describeError(refused)}`);
    assert.ok(certainlyNotApplied(refused), 'a "too large" refusal must count as certainly not applied');
    assert.equal((await readRaw(bucket.namespace, bucket.name)).binaryData?.probe, undefined);
  });

  it('a write the server refuses as too large (an estimate that fell short) ends BucketFullError at once; the other writes of its commit go ahead', { timeout: 120_000 }, async () => {
    const bucket = await openBucket('etcd-limit-server', { chunks: false });
    cleanups.push(() => bucket.store.close());
    const store = bucket.store;
    const { chunks } = await fillUntilRefused(bucket, store);
    store[storeInternals].setMaxStoredBytes(16 * 1024 * 1024);
    const started = Date.now();
    // Queued together, so they go out in one commit, which etcd refuses.
    const big = store.put(`v${chunks}`, randomBytes(CHUNK), { timeoutMs: 30_000 }).catch((err: unknown) => err);
    const small = store.put('small', 'fits', { timeoutMs: 30_000 }).catch((err: unknown) => err);
    const [bigResult, smallResult] = await Promise.all([big, small]);
    assert.ok(bigResult instanceof BucketFullError, `expected BucketFullError for the write etcd cannot take, got ${describeError(bigResult)}`);
    assert.equal(bigResult.limitName, 'etcd');
    assert.ok(!(smallResult instanceof Error), `the small write of the same commit failed: ${describeError(smallResult)}`);
    assert.ok(Date.now() - started < 20_000, 'the refusal waited for the deadline instead of ending at once');
    const raw = await readRaw(bucket.namespace, bucket.name);
    assert.equal(raw.binaryData?.[`v${chunks}`], undefined);
    assert.equal(raw.data?.small, 'fits');
  });
});
