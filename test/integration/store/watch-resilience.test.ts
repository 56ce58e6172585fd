/**
 * The cache-feeding watch never silently stops: it survives an apiserver
 * restart, dropped connections, a partition and a compaction (410 Gone), and
 * a watcher ends up with the final state exactly once, never regressing.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ConfigMapStore, UnavailableError, type TreeEvent } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { TcpProxy, serverPort } from '../../support/tcp-proxy.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const proxies: TcpProxy[] = [];
after(async () => {
  for (const proxy of proxies) await proxy.close();
});

/** Opens a writer (direct) and a reader (optionally through a proxy) on a fresh bucket, and records the reader's watchTree. */
async function setup(prefix: string, viaProxy: boolean) {
  const namespace = await cp.freshNamespace(prefix);
  const admin = cp.adminKubeConfig();
  const writer = await ConfigMapStore.open({ name: 'bucket', namespace, kubeConfig: admin, create: true });
  let proxy: TcpProxy | undefined;
  if (viaProxy) {
    proxy = await TcpProxy.start(serverPort(admin));
    proxies.push(proxy);
  }
  const reader = await ConfigMapStore.open({ name: 'bucket', namespace, kubeConfig: proxy ? proxy.kubeConfigFor(admin) : admin });
  const events: TreeEvent[] = [];
  const stop = new AbortController();
  const consuming = (async () => {
    for await (const event of reader.watchTree('', { signal: stop.signal })) events.push(event);
  })();
  const close = async () => {
    stop.abort();
    await consuming;
    await reader.close();
    await writer.close();
  };
  return { writer, reader, proxy, events, close };
}

/** put with retries while the API server is away (a restart takes a few seconds). */
async function putEventually(store: ConfigMapStore, key: string, value: string): Promise<void> {
  await waitFor(async () => {
    try {
      await store.put(key, value);
      return true;
    } catch (err) {
      if (err instanceof UnavailableError) return false;
      throw err;
    }
  }, `put ${key}=${value} to succeed`, 60_000, 200);
}

/** The values the watch delivered for `key`, in order. */
function valuesOf(events: TreeEvent[], key: string): string[] {
  return events.flatMap((e) =>
    e.type === 'put' && e.pair.key === key ? [e.pair.text] : e.type === 'snapshot' ? e.pairs.filter((p) => p.key === key).map((p) => p.text) : [],
  );
}

function assertMonotonicWithFinalOnce(values: string[], final: number): void {
  const numbers = values.map(Number);
  for (let i = 1; i < numbers.length; i++) {
    assert.ok(numbers[i]! > numbers[i - 1]!, `the watch went back or repeated a state: ${values.join(',')}`);
  }
  assert.equal(numbers.filter((n) => n === final).length, 1, `final state ${final} not delivered exactly once: ${values.join(',')}`);
}

describe('watch resilience', () => {
  it('survives restartApiserver() and delivers the final state once', async () => {
    const { writer, reader, events, close } = await setup('resilience-restart', false);
    try {
      for (let i = 1; i <= 5; i++) await writer.put('n', String(i));
      await waitFor(async () => (await reader.get('n'))?.text === '5', 'the reader to see n=5');
      // Writes go on while the apiserver restarts: some wait out the outage.
      const restarting = cp.restartApiserver();
      for (let i = 6; i <= 10; i++) await putEventually(writer, 'n', String(i));
      await restarting;
      await waitFor(async () => (await reader.get('n'))?.text === '10', 'the reader to see n=10 after the restart', 60_000);
      await waitFor(() => valuesOf(events, 'n').includes('10'), 'the watch to deliver n=10');
      assertMonotonicWithFinalOnce(valuesOf(events, 'n'), 10);
    } finally {
      await close();
    }
  });

  it('reconnects after its connections are dropped and after a partition', async () => {
    const { writer, reader, proxy, events, close } = await setup('resilience-drop', true);
    try {
      await writer.put('n', '1');
      await waitFor(async () => (await reader.get('n'))?.text === '1', 'the reader to see n=1');
      await waitFor(() => reader.status().connected, 'the reader watch to be connected');
      proxy!.dropConnections();
      await writer.put('n', '2');
      await waitFor(async () => (await reader.get('n'))?.text === '2', 'the reader to see n=2 after a dropped connection');

      proxy!.block();
      await waitFor(() => !reader.status().connected, 'the reader to notice the partition');
      for (let i = 3; i <= 6; i++) await writer.put('n', String(i));
      // Partitioned, the reader cannot know: it keeps its last state and says how stale it is.
      assert.equal((await reader.get('n'))?.text, '2');
      proxy!.unblock();
      await waitFor(async () => (await reader.get('n'))?.text === '6', 'the reader to catch up after the partition', 60_000);
      await waitFor(() => reader.status().connected, 'the reader watch to reconnect');
      await waitFor(() => valuesOf(events, 'n').includes('6'), 'the watch to deliver n=6');
      assertMonotonicWithFinalOnce(valuesOf(events, 'n'), 6);
    } finally {
      await close();
    }
  });

  it('relists after a compaction expired its resourceVersion (410) and converges', async () => {
    const { writer, reader, proxy, events, close } = await setup('resilience-410', true);
    try {
      await writer.put('n', '1');
      await writer.put('gone', 'soon');
      await waitFor(async () => (await reader.get('gone'))?.text === 'soon', 'the reader to see gone=soon');
      proxy!.block();
      for (let i = 2; i <= 5; i++) await writer.put('n', String(i));
      await writer.delete('gone');
      await cp.compact(); // compacts etcd and restarts the apiserver: the reader's resourceVersion is gone
      proxy!.unblock();
      await waitFor(async () => (await reader.get('n'))?.text === '5', 'the reader to relist and see n=5', 60_000);
      assert.equal(await reader.exists('gone'), false);
      await waitFor(() => events.some((e) => e.type === 'delete' && e.key === 'gone'), 'the watch to deliver the delete of "gone"');
      assertMonotonicWithFinalOnce(valuesOf(events, 'n'), 5);
    } finally {
      await close();
    }
  });
});
