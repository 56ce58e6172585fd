/**
 * A bucket deleted and recreated under the same name while a store has it
 * open (issue 16, breaks 2 and 3): the cache must never go back to "bucket
 * deleted" once it holds the recreated bucket, a write whose answer was lost
 * must not be judged on the new ConfigMap (its uid differs: the evidence
 * went with the old one, so the only true answer is "unknown"), and a
 * lastIndex never goes back, so a `previous` pair from before the
 * recreation cannot match a newer value by chance.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { BucketNotFoundError, ConfigMapStore, KubekvError, OutcomeUnknownError } from '../../../src/index.js';
import { BucketApi } from '../../../src/store/bucket-api.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { TcpProxy, serverPort } from '../../support/tcp-proxy.js';
import { adminClients, openBucket, openPeer, readRaw, waitFor, type OpenedBucket } from '../../support/store.js';

const cp = testControlPlane();
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** Deletes the bucket's ConfigMap as `kubectl delete cm` would. */
async function deleteByHand(bucket: Pick<OpenedBucket, 'namespace' | 'name'>): Promise<void> {
  await adminClients().core.deleteNamespacedConfigMap({ name: bucket.name, namespace: bucket.namespace });
}

/** Creates a plain ConfigMap under the bucket's name, as `kubectl create cm --from-literal` would. */
async function createByHand(bucket: Pick<OpenedBucket, 'namespace' | 'name'>, data: Record<string, string>): Promise<void> {
  await adminClients().core.createNamespacedConfigMap({ namespace: bucket.namespace, body: { metadata: { name: bucket.name }, data } });
}

function describeError(err: unknown): string {
  return err instanceof KubekvError ? `${err.name} (${err.code}): ${err.message}` : String(err);
}

describe('a consistent read whose answer ("no bucket") arrives after the watch applied a recreated bucket', () => {
  it('leaves the cache on the recreated bucket: cached reads and writes go on', { timeout: 60_000 }, async () => {
    const bucket = await openBucket('late-read');
    cleanups.push(() => bucket.store.close());
    const store = bucket.store;
    await store.put('k', 'v1');
    await deleteByHand(bucket);
    await waitFor('the watch to see the bucket deleted', async () => ((await store.get('k')) === undefined) || undefined);

    // Hold the consistent read's answer (taken while the bucket is gone)
    // until the watch has applied the recreated bucket.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, called with .apply
    const originalList = BucketApi.prototype.list;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    BucketApi.prototype.list = async function (this: BucketApi, ...args: Parameters<BucketApi['list']>) {
      const answer = await originalList.apply(this, args);
      if (!held && this.name === bucket.name) {
        held = true;
        await released;
      }
      return answer;
    };
    let read: Promise<unknown>;
    try {
      read = store.get('k', { consistent: true });
      await waitFor('the consistent read to be answered and held', () => held || undefined);
    } finally {
      BucketApi.prototype.list = originalList;
    }
    await createByHand(bucket, { k: 'v2' });
    await waitFor('the watch to apply the recreated bucket', async () => ((await store.get('k'))?.text === 'v2') || undefined);
    release();
    await read;

    assert.equal((await store.get('k'))?.text, 'v2', 'the late answer moved the cache back to "bucket deleted"');
    const written = await store.put('after', 'x').catch((err: unknown) => err);
    assert.ok(!(written instanceof Error), `a write after the late answer failed: ${describeError(written)}`);
    assert.equal((await readRaw(bucket.namespace, bucket.name)).data?.after, 'x');
    assert.ok(!(written instanceof BucketNotFoundError));
  });
});

describe('a write whose answer is lost while the bucket is deleted and recreated by another store', () => {
  async function setup(prefix: string) {
    const bucket = await openBucket(prefix);
    cleanups.push(() => bucket.store.close());
    const proxy = await TcpProxy.start(serverPort(cp.adminKubeConfig()));
    cleanups.push(() => proxy.close());
    const a = await openPeer(bucket, { kubeConfig: proxy.kubeConfigFor(cp.adminKubeConfig()), timeoutMs: 20_000 });
    cleanups.push(() => a.close());
    await waitFor("A's watch to connect", () => a.status().connected || undefined);
    return { bucket, proxy, a };
  }

  /**
   * Lets `write` land with its answer lost, then (A cut off meanwhile)
   * deletes the bucket by hand and has a new kubekv store recreate it and
   * write c=theirs; then lets A learn what it can.
   */
  async function loseThenRecreate(prefix: string, write: (a: ConfigMapStore) => Promise<unknown>) {
    const { bucket, proxy, a } = await setup(prefix);
    for (let attempt = 1; attempt <= 5; attempt++) {
      proxy.loseAnswers();
      let settled: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;
      const outcome = write(a).then(
        (value) => (settled = { ok: true as const, value }),
        (error: unknown) => (settled = { ok: false as const, error }),
      );
      const landed = async () => (await readRaw(bucket.namespace, bucket.name)).data?.c === 'mine';
      // Generous: the lost-answer proxy and a busy machine can take a while; a write that never lands fails here all the same.
      const seen = await waitFor('the write to land on the server, or to end', async () => ((await landed()) ? 'landed' : settled && 'settled'), 30_000);
      if (seen === 'settled' && !(await landed())) {
        // The proxy cut the connection before the request reached the server
        // (it tells requests and answers apart by TLS record sizes, and can
        // take a handshake record for an answer). Nothing landed, so the
        // write may not claim it did; then try again, as no answer was lost
        // to a landed write.
        assert.ok(!settled!.ok, 'the write resolved, yet the server does not hold it');
        console.error(`attempt ${attempt}: the write ended before it landed: ${describeError(settled!.error)}`);
        proxy.heal();
        continue;
      }
      proxy.blackhole();
      if (proxy.answersLost === 0) {
        // The proxy let the answer through (it tells answers by TLS record
        // sizes); the write settled normally. Try again on a fresh key state.
        proxy.heal();
        await outcome;
        await bucket.store.delete('c');
        // A must hold the fresh state before the next attempt: a create-only
        // write planned on a cache that still shows c is settled by a read,
        // and while answers are lost no read comes back (it would end
        // DEADLINE_EXCEEDED, never sent, as it did on a loaded machine).
        await waitFor("A's cache to see c deleted", async () => ((await a.get('c')) === undefined) || undefined);
        continue;
      }
      await deleteByHand(bucket);
      const other = await ConfigMapStore.open({ name: bucket.name, namespace: bucket.namespace, kubeConfig: cp.adminKubeConfig(), create: true });
      await other.put('c', 'theirs');
      await other.close();
      proxy.dropConnections();
      proxy.heal();
      return { bucket, result: await outcome };
    }
    assert.fail('no answer was lost in 5 attempts, so this test proved nothing');
  }

  it('a create-only atomicPut rejects with OutcomeUnknownError, never KeyExistsError', { timeout: 90_000 }, async () => {
    const { bucket, result } = await loseThenRecreate('recreated-create', (a) => a.atomicPut('c', 'mine', undefined));
    assert.equal(result.ok, false, 'the atomicPut resolved, though the bucket it may have landed in is gone');
    const error = (result as { error: unknown }).error;
    assert.ok(error instanceof OutcomeUnknownError, `expected OutcomeUnknownError (it was stored, then the bucket went), got ${describeError(error)}`);
    assert.equal((await readRaw(bucket.namespace, bucket.name)).data?.c, 'theirs');
  });

  it('a plain put rejects with OutcomeUnknownError and is not written again over the newer value', { timeout: 90_000 }, async () => {
    const { bucket, result } = await loseThenRecreate('recreated-put', (a) => a.put('c', 'mine'));
    assert.equal(result.ok, false, 'the put resolved (and so was written a second time over the newer value)');
    const error = (result as { error: unknown }).error;
    assert.ok(error instanceof OutcomeUnknownError, `expected OutcomeUnknownError, got ${describeError(error)}`);
    assert.equal((await readRaw(bucket.namespace, bucket.name)).data?.c, 'theirs', 'mine -> theirs -> mine: the put was applied twice');
  });
});

describe('lastIndex across a recreation', () => {
  it('a recreated bucket hands out lastIndexes above every one the old bucket did, so an old previous pair cannot match', { timeout: 60_000 }, async () => {
    const bucket = await openBucket('recreated-index');
    cleanups.push(() => bucket.store.close());
    const store = bucket.store;
    let old = await store.put('k', 'v0');
    for (let i = 1; i < 5; i++) old = await store.put('k', `v${i}`);
    for (const recreate of ['by hand', 'by kubekv'] as const) {
      await deleteByHand(bucket);
      if (recreate === 'by hand') await createByHand(bucket, {});
      else await (await ConfigMapStore.open({ name: bucket.name, namespace: bucket.namespace, kubeConfig: cp.adminKubeConfig(), create: true })).close();
      await waitFor('the store to see the recreated bucket', async () => ((await store.get('k', { consistent: true })) === undefined && store.status().resourceVersion !== '') || undefined);
      const fresh = await store.put('k', 'new');
      assert.ok(fresh.lastIndex > old.lastIndex, `recreated ${recreate}: lastIndex went back from ${old.lastIndex} to ${fresh.lastIndex}`);
      const stale = await store.atomicPut('k', 'stale', old).catch((err: unknown) => err);
      assert.ok(stale instanceof KubekvError && stale.code === 'KEY_MODIFIED', `an atomicPut with a pair from before the recreation: ${describeError(stale)}`);
      old = fresh;
    }
    assert.equal((await store.get('k', { consistent: true }))?.text, 'new');
  });
});
