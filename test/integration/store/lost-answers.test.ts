/**
 * A write whose answer is lost (issue 7, defects 3 and 4, and the missing
 * request timeout of defect 5). Store A talks to the API server through a
 * TcpProxy that forwards A's request and then drops the server's answer
 * (loseAnswers), refuses connections (block) or holds them silently
 * (blackhole); other stores and the checks talk to the server directly.
 *
 * The endings a write may have are three: resolved = stored exactly once;
 * rejected with a definite error = not stored; OutcomeUnknownError (not
 * retryable) only when its deadline passed while the outcome could not be
 * established. A landed write must be recognised as such however many
 * commits followed it, and must never be applied a second time.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ApiException, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { KubekvError, OutcomeUnknownError, type ConfigMapStore, type KVPair, type OpenStoreOptions } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { TcpProxy, serverPort } from '../../support/tcp-proxy.js';
import { adminClients, openBucket, openPeer, readRaw, waitFor, type OpenedBucket } from '../../support/store.js';

const cp = testControlPlane();
const proxies: TcpProxy[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const proxy of proxies) proxy.heal();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  for (const proxy of proxies) await proxy.close();
});

async function startProxy(): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(serverPort(cp.adminKubeConfig()));
  proxies.push(proxy);
  return proxy;
}

/** A fresh bucket (its own store writes directly) and store A on it through a proxy, its watch connected. */
async function setup(prefix: string, options: Omit<OpenStoreOptions, 'name' | 'namespace'> = {}): Promise<{ bucket: OpenedBucket; proxy: TcpProxy; a: ConfigMapStore }> {
  const bucket = await openBucket(prefix);
  cleanups.push(() => bucket.store.close());
  const proxy = await startProxy();
  const a = await openPeer(bucket, { ...options, kubeConfig: proxy.kubeConfigFor(cp.adminKubeConfig()) });
  cleanups.push(() => a.close());
  await waitFor("A's watch to connect", () => a.status().connected || undefined);
  return { bucket, proxy, a };
}

/** The value of a plain user key as the API server holds it. */
async function serverValue(bucket: Pick<OpenedBucket, 'namespace' | 'name'>, key: string): Promise<string | undefined> {
  return (await readRaw(bucket.namespace, bucket.name)).data?.[key];
}

/** kubekv's bucket revision as the API server holds it. */
async function serverRevision(bucket: Pick<OpenedBucket, 'namespace' | 'name'>): Promise<number> {
  return Number((await readRaw(bucket.namespace, bucket.name)).metadata?.annotations?.['kubekv.dev/revision'] ?? 0);
}

type Settled<T> = { ok: true; value: T; ms: number } | { ok: false; error: unknown; ms: number } | { ok: 'pending'; ms: number };

/** How `promise` settles within `timeoutMs` (it is left running if it does not). */
async function settleWithin<T>(promise: Promise<T>, timeoutMs: number): Promise<Settled<T>> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<Settled<T>>((resolve) => (timer = setTimeout(() => resolve({ ok: 'pending', ms: Date.now() - started }), timeoutMs)));
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ ok: true as const, value, ms: Date.now() - started }),
        (error: unknown) => ({ ok: false as const, error, ms: Date.now() - started }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(err: unknown): string {
  return err instanceof KubekvError ? `${err.name} (${err.code}, retryable ${err.retryable}): ${err.message}` : String(err);
}

describe('the fault proxy', () => {
  it('loseAnswers(): a request is applied on the server while the client gets a connection error', async () => {
    const namespace = await cp.freshNamespace('proxy-lose');
    const { core } = adminClients();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'probe' }, data: { n: '0' } } });
    const proxy = await startProxy();
    const viaProxy = proxy.kubeConfigFor(cp.adminKubeConfig()).makeApiClient(CoreV1Api);
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const patch = (n: string) => viaProxy.patchNamespacedConfigMap({ name: 'probe', namespace, body: { data: { n } } }, mergePatch);

    await patch('1'); // pass-through works (and the handshake bookkeeping does not cut it)
    proxy.loseAnswers(1);
    const lost = await settleWithin(patch('2'), 10_000);
    assert.equal(lost.ok, false, `the patch through loseAnswers(1) should fail, it ${lost.ok === 'pending' ? 'hung' : 'succeeded'}`);
    const error = (lost as { error: unknown }).error;
    assert.ok(!(error instanceof ApiException), `expected a connection error, got an HTTP answer: ${String(error)}`);
    assert.equal((await core.readNamespacedConfigMap({ name: 'probe', namespace })).data?.n, '2', 'the request whose answer was lost was not applied');
    assert.equal(proxy.answersLost, 1);
    // The count is used up: pass-through again.
    assert.equal((await patch('3')).data?.n, '3');
    assert.equal(proxy.answersLost, 1);
  });

  it('blackhole(): requests hang until heal(), then go through', async () => {
    const namespace = await cp.freshNamespace('proxy-hole');
    const { core } = adminClients();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'probe' }, data: { n: '0' } } });
    const proxy = await startProxy();
    const viaProxy = proxy.kubeConfigFor(cp.adminKubeConfig()).makeApiClient(CoreV1Api);
    proxy.blackhole();
    const read = viaProxy.readNamespacedConfigMap({ name: 'probe', namespace });
    assert.equal((await settleWithin(read, 1_500)).ok, 'pending', 'a request through a black hole should hang');
    proxy.heal();
    const healed = await settleWithin(read, 10_000);
    assert.equal(healed.ok, true, `after heal() the held request should complete: ${healed.ok === false ? String(healed.error) : 'still pending'}`);
  });
});

describe('a write whose answer is lost', () => {
  it('rejects with OutcomeUnknownError (not a retryable error) when the server stays unreachable past the deadline, and it was applied', async () => {
    const { bucket, proxy, a } = await setup('lost-unreachable', { timeoutMs: 3_000 });
    proxy.loseAnswers();
    const put = a.put('k', 'v1', { timeoutMs: 3_000 });
    const settled = settleWithin(put, 15_000);
    await waitFor('the put to be applied on the server', async () => ((await serverValue(bucket, 'k')) === 'v1') || undefined);
    proxy.block(); // unreachable: every connection refused until heal()
    const outcome = await settled;
    assert.notEqual(outcome.ok, 'pending', 'the put did not settle within 15 s of its 3 s deadline');
    assert.notEqual(outcome.ok, true, 'the put resolved although its outcome could not be established (the server was unreachable)');
    const error = (outcome as { error: unknown }).error;
    assert.ok(error instanceof OutcomeUnknownError, `expected OutcomeUnknownError (OUTCOME_UNKNOWN), got ${describeError(error)}`);
    assert.equal(error.code, 'OUTCOME_UNKNOWN');
    assert.equal(error.retryable, false, 'a caller must not be told to retry a write that may have been applied');
    proxy.heal();
    assert.equal(await serverValue(bucket, 'k'), 'v1');
  });

  it('resolves, and is stored once, when the server is reachable again', async () => {
    const { bucket, proxy, a } = await setup('lost-reachable');
    await a.put('k', 'v0');
    // The proxy tells answers from HTTP/2 control frames by TLS record
    // sizes; now and then (a busy machine, frames coalesced differently) it
    // lets the put's answer through. Every attempt must hold the contract;
    // the scenario counts once an answer was really lost.
    for (let attempt = 1; attempt <= 5 && proxy.answersLost === 0; attempt++) {
      const value = `v${attempt}`;
      const before = await serverRevision(bucket);
      proxy.loseAnswers();
      const put = a.put('k', value);
      const settled = settleWithin(put, 20_000);
      await waitFor('the put to be applied on the server', async () => ((await serverValue(bucket, 'k')) === value) || undefined);
      proxy.heal();
      const outcome = await settled;
      assert.equal(outcome.ok, true, `the put should resolve once the server is reachable: ${outcome.ok === false ? describeError(outcome.error) : 'still pending after 20 s'}`);
      const pair = (outcome as { value: KVPair }).value;
      assert.equal(await serverValue(bucket, 'k'), value);
      assert.equal(await serverRevision(bucket), before + 1, 'the put was applied more than once');
      assert.equal(pair.lastIndex, before + 1, 'the put resolved with another revision than the one it landed at');
    }
    assert.ok(proxy.answersLost >= 1, 'no answer was lost in 5 attempts, so this test proved nothing');
  });

  it('a create-only atomicPut that landed resolves although 20 foreign commits followed before it could re-read', async () => {
    const { bucket, proxy, a } = await setup('lost-20-create');
    const b = bucket.store;
    proxy.loseAnswers();
    const created = a.atomicPut('c', 'from-a');
    const settled = settleWithin(created, 30_000);
    await waitFor('the atomicPut to be applied on the server', async () => ((await serverValue(bucket, 'c')) === 'from-a') || undefined);
    proxy.blackhole(); // A cannot learn anything until 20 other commits are made
    for (let i = 0; i < 20; i++) await b.put(`other-${i}`, String(i));
    // Whatever A asked meanwhile is lost too: an answer the server gave
    // before the 20 commits and the black hole held must not reach A.
    proxy.dropConnections();
    proxy.heal();
    const outcome = await settled;
    assert.equal(
      outcome.ok,
      true,
      `the atomicPut landed but ${outcome.ok === false ? `rejected with ${describeError(outcome.error)}` : 'did not settle within 30 s'}`,
    );
    const pair = (outcome as { value: KVPair }).value;
    const index = JSON.parse((await readRaw(bucket.namespace, bucket.name)).metadata!.annotations!['kubekv.dev/index']!) as Record<string, number>;
    assert.equal(await serverValue(bucket, 'c'), 'from-a');
    assert.equal(pair.lastIndex, index.c, 'the atomicPut resolved with another revision than the one it landed at');
  });

  it('a put that landed is not applied a second time after 20 foreign commits (no a, b, a)', async () => {
    const { bucket, proxy, a } = await setup('lost-20-put');
    const b = bucket.store;
    await b.put('p', 'init');
    const watcher = await openPeer(bucket);
    cleanups.push(() => watcher.close());
    const seen: string[] = [];
    const stop = new AbortController();
    const watching = (async () => {
      for await (const event of watcher.watch('p', { signal: stop.signal })) seen.push(event.pair?.text ?? '<absent>');
    })();
    await waitFor('A to see p=init', async () => ((await a.get('p'))?.text === 'init') || undefined);

    proxy.loseAnswers();
    const put = a.put('p', 'a');
    const settled = settleWithin(put, 30_000);
    await waitFor('the put to be applied on the server', async () => ((await serverValue(bucket, 'p')) === 'a') || undefined);
    proxy.blackhole();
    const bPair = await b.put('p', 'b');
    for (let i = 0; i < 19; i++) await b.put(`other-${i}`, String(i));
    proxy.dropConnections(); // as above: no answer from before the 20 commits reaches A
    proxy.heal();
    const outcome = await settled;

    // Let everything A might still send arrive, then compare with the watcher's view.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const raw = await readRaw(bucket.namespace, bucket.name);
    await waitFor('the watcher to catch up with the server', () => watcher.status().resourceVersion === raw.metadata?.resourceVersion || undefined, 10_000);
    stop.abort();
    await watching;
    const changes = seen.filter((v, i) => i === 0 || v !== seen[i - 1]);
    const aba = changes.some((v, i) => v === 'a' && changes[i + 1] === 'b' && changes[i + 2] === 'a');
    assert.ok(!aba, `the put was applied twice: the watcher saw ${changes.join(', ')}`);
    assert.equal(raw.data?.p, 'b', 'the put was applied again after b');
    assert.equal(outcome.ok, true, `the put landed but ${outcome.ok === false ? `rejected with ${describeError(outcome.error)}` : 'did not settle within 30 s'}`);
    const pair = (outcome as { value: KVPair }).value;
    assert.ok(pair.lastIndex < bPair.lastIndex, `the put resolved at revision ${pair.lastIndex}, not before b (${bPair.lastIndex})`);
  });
});

describe('a black-holed connection', () => {
  it('a write settles within its deadline (requestTimeoutMs 1000, timeoutMs 4000) and the next write after heal() is prompt', async () => {
    const { bucket, proxy, a } = await setup('blackhole', { requestTimeoutMs: 1_000, timeoutMs: 4_000 });
    await a.put('k', 'v0');
    proxy.blackhole();
    const outcome = await settleWithin(a.put('k', 'v1'), 12_000);
    proxy.heal();
    if (outcome.ok === 'pending') assert.fail('the put hung for 12 s on a black-holed connection (its deadline was 4 s)');
    if (outcome.ok === true) {
      assert.equal(await serverValue(bucket, 'k'), 'v1', 'the put resolved but is not stored');
    } else if (!(outcome.error instanceof OutcomeUnknownError)) {
      // Any other rejection says "not stored": hold it to that.
      assert.ok(outcome.error instanceof KubekvError, `expected a kubekv error, got ${String(outcome.error)}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(await serverValue(bucket, 'k'), 'v0', `the put rejected with ${describeError(outcome.error)} (= not stored) but it was stored`);
    }
    const next = await settleWithin(a.put('k2', 'after'), 5_000);
    assert.equal(next.ok, true, `the next put after heal() should resolve promptly: ${next.ok === false ? describeError(next.error) : 'still pending after 5 s'}`);
    assert.equal(await serverValue(bucket, 'k2'), 'after');
  });
});
