/**
 * Keys and values never reach the logs, even with a verbose logger injected:
 * every record kubekv writes during normal work and failures (conflicts,
 * dropped watches, failing handlers, fencing) is searched for them.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ConfigMapStore, KeyModifiedError, StateManager, type Logger } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { TcpProxy, serverPort } from '../../support/tcp-proxy.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const SECRET = 'S3CR3T';
const records: string[] = [];

function capture(bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (objOrMsg: Record<string, unknown> | string, msg?: string) => {
    records.push(JSON.stringify({ level, ...bindings, ...(typeof objOrMsg === 'string' ? { msg: objOrMsg } : { ...objOrMsg, msg }) }));
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (b) => capture({ ...bindings, ...b }) };
}

const proxies: TcpProxy[] = [];
after(async () => {
  for (const proxy of proxies) await proxy.close();
});

describe('logging', () => {
  it('never logs keys or values', async () => {
    const namespace = await cp.freshNamespace('logging');
    const admin = cp.adminKubeConfig();
    const proxy = await TcpProxy.start(serverPort(admin));
    proxies.push(proxy);
    const logger = capture();

    // Store work and failures.
    const store = await ConfigMapStore.open({ name: 'b', namespace, kubeConfig: proxy.kubeConfigFor(admin), create: true, logger });
    const first = await store.put(`${SECRET}/key`, `${SECRET}-value`);
    await store.put(`${SECRET}/key`, `${SECRET}-value-2`);
    await assert.rejects(store.atomicPut(`${SECRET}/key`, `${SECRET}-value-3`, first), KeyModifiedError);
    proxy.dropConnections();
    await store.put(`${SECRET}/other`, `${SECRET}-after-drop`);
    await store.close();

    // Leadership work, a failing handler whose error names a key, fencing.
    const managers = await Promise.all(['one', 'two'].map((identity) => StateManager.start({
      name: 'app', namespace, kubeConfig: admin, identity, logger, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500,
    })));
    await waitFor(() => managers.some((m) => m.isLeader), 'a leader');
    const leader = managers.find((m) => m.isLeader)!;
    leader.onLeader(async ({ store: s }) => {
      await s.put(`${SECRET}/handler`, `${SECRET}-handler-value`);
      throw new Error(`handler failed on ${SECRET}/handler`);
    });
    await waitFor(async () => (await leader.store.get(`${SECRET}/handler`)) !== undefined, 'the handler write');
    for (const m of managers) await m.close();

    assert.ok(records.length > 5, `expected log records to search, got ${records.length}`);
    // The failure paths really ran (so their records were searched too).
    await waitFor(() => records.some((r) => r.includes('onLeader handler failed')), 'the failing handler to be logged', 5000);
    const leaks = records.filter((r) => r.includes(SECRET));
    assert.deepEqual(leaks, [], 'a log record contains a key or a value');
  });
});
