/**
 * examples/config-watcher.ts over a ConfigMap made and edited the way
 * kubectl does it (a plain ConfigMap created by POST, edits sent as JSON
 * merge patches of `data`; no kubekv annotations): defaults fill missing
 * keys, an edit of several keys is seen whole, an invalid edit is reported
 * and the last good config stays in force, and the watcher never writes to
 * the ConfigMap.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { BucketNotFoundError } from '../../../src/index.js';
import { InvalidConfigError, main, type AppConfig } from '../../../examples/config-watcher.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const core = cp.adminKubeConfig().makeApiClient(CoreV1Api);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const stops: AbortController[] = [];
const running: Promise<void>[] = [];
after(async () => {
  for (const stop of stops) stop.abort();
  await Promise.allSettled(running);
});

/** `kubectl create configmap app-config --from-literal=...` */
async function kubectlCreate(namespace: string, data: Record<string, string>): Promise<void> {
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'app-config' }, data } });
}

/** `kubectl patch configmap app-config --type merge -p '{"data": ...}'` (null removes a key). */
async function kubectlPatch(namespace: string, data: Record<string, string | null>): Promise<void> {
  await core.patchNamespacedConfigMap({ name: 'app-config', namespace, body: { data } }, mergePatch);
}

function watch(namespace: string) {
  const changes: AppConfig[] = [];
  const rejected: Array<{ error: InvalidConfigError; current: AppConfig }> = [];
  const stop = new AbortController();
  stops.push(stop);
  const done = main({
    namespace,
    kubeConfig: cp.adminKubeConfig(),
    signal: stop.signal,
    onChange: (config) => changes.push(config),
    onInvalid: (error, current) => rejected.push({ error, current }),
  });
  running.push(done);
  return { changes, rejected, stop, done };
}

describe('examples/config-watcher', () => {
  it('applies kubectl edits as typed configs, rejects an invalid edit keeping the last good one, and never writes', { timeout: 60_000 }, async () => {
    const namespace = await cp.freshNamespace('ex-config');
    await kubectlCreate(namespace, { 'log-level': 'debug', 'max-connections': '50' });
    const watcher = watch(namespace);
    const initial: AppConfig = { logLevel: 'debug', maxConnections: 50, requestTimeoutMs: 5000, features: [] };
    await waitFor(() => watcher.changes.length >= 1, 'the initial config');
    assert.deepEqual(watcher.changes[0], initial, 'missing keys take their defaults');

    // Two keys in one edit: one config with both, never one with only the first.
    await kubectlPatch(namespace, { 'max-connections': '200', features: 'search, export' });
    const edited: AppConfig = { ...initial, maxConnections: 200, features: ['export', 'search'] };
    await waitFor(() => watcher.changes.length >= 2, 'the edited config');
    assert.deepEqual(watcher.changes[1], edited);

    // An invalid edit: reported with every problem, the last good config stays.
    await kubectlPatch(namespace, { 'max-connections': 'lots', 'log-level': 'loud' });
    await waitFor(() => watcher.rejected.length >= 1, 'the invalid edit to be reported');
    const [{ error, current }] = watcher.rejected as [(typeof watcher.rejected)[0]];
    assert.ok(error instanceof InvalidConfigError);
    assert.equal(error.problems.length, 2, `expected one problem per bad key: ${error.message}`);
    assert.match(error.problems.join('\n'), /max-connections: "lots" is not an integer/);
    assert.match(error.problems.join('\n'), /log-level: "loud" is not one of/);
    assert.deepEqual(current, edited, 'the last good config stays in force');

    // Fixing it (and removing a key, which brings back its default) takes effect.
    await kubectlPatch(namespace, { 'max-connections': '300', 'log-level': 'warn', features: null });
    await waitFor(() => watcher.changes.length >= 3, 'the fixed config');
    assert.deepEqual(watcher.changes, [initial, edited, { ...initial, logLevel: 'warn', maxConnections: 300 }], 'the invalid state or a half-applied edit was handed out');
    assert.equal(watcher.rejected.length, 1);

    watcher.stop.abort();
    await watcher.done;
    const cm = await core.readNamespacedConfigMap({ name: 'app-config', namespace });
    const kubekvMarks = [...Object.keys(cm.metadata?.annotations ?? {}), ...Object.keys(cm.metadata?.labels ?? {})].filter((k) => k.includes('kubekv'));
    assert.deepEqual(kubekvMarks, [], 'the watcher wrote to a ConfigMap it only reads');
    assert.deepEqual(cm.data, { 'log-level': 'warn', 'max-connections': '300' });
  });

  it('refuses to start on an invalid config, and on a missing ConfigMap', { timeout: 60_000 }, async () => {
    const namespace = await cp.freshNamespace('ex-config-bad');
    await assert.rejects(watch(namespace).done, (err: unknown) => err instanceof BucketNotFoundError && err.code === 'BUCKET_NOT_FOUND');
    await kubectlCreate(namespace, { 'max-conections': '10' });
    await assert.rejects(watch(namespace).done, (err: unknown) => err instanceof InvalidConfigError && /max-conections: unknown key/.test(err.problems[0]!));
  });
});
