/**
 * Helpers for the store's integration tests: a bucket in a fresh namespace,
 * the raw ConfigMap behind it (to check what is really stored, not what the
 * store's cache says), an assertion on kubekv's typed errors, and bounded
 * waits that fail with a message naming what they waited for instead of
 * hanging the run or sleeping a fixed time.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import { ConfigMapStore, KubekvError, type KubekvErrorCode, type OpenStoreOptions } from '../../src/index.js';
import { testControlPlane } from '../controlplane/remote.js';
import { adminApis, type Apis } from './kube.js';
import { waitFor as pollUntil } from './wait.js';

/** A bucket opened for a test; `await using` closes its store. */
export interface OpenedBucket extends AsyncDisposable {
  store: ConfigMapStore;
  namespace: string;
  name: string;
  /** The admin KubeConfig the store uses. */
  kc: KubeConfig;
}

let admin: Apis | undefined;

/** Admin API clients, made once per test process. */
export function adminClients(): Apis {
  admin ??= adminApis();
  return admin;
}

/**
 * Opens a ConfigMapStore with `create: true` and the admin kubeconfig, in a
 * fresh namespace unless `options.namespace` names one.
 */
export async function openBucket(name = 'bucket', options: Omit<OpenStoreOptions, 'name' | 'kubeConfig'> & { kubeConfig?: KubeConfig } = {}): Promise<OpenedBucket> {
  const cp = testControlPlane();
  const kc = options.kubeConfig ?? cp.adminKubeConfig();
  const namespace = options.namespace ?? (await cp.freshNamespace(`kv-${name}`));
  const store = await ConfigMapStore.open({ create: true, ...options, name, namespace, kubeConfig: kc });
  return { store, namespace, name, kc, [Symbol.asyncDispose]: () => store.close() };
}

/** Opens another store on an existing bucket (no create), as a second replica would. */
export function openPeer(bucket: Pick<OpenedBucket, 'namespace' | 'name'>, options: Omit<OpenStoreOptions, 'name' | 'namespace'> = {}): Promise<ConfigMapStore> {
  return ConfigMapStore.open({ kubeConfig: testControlPlane().adminKubeConfig(), ...options, name: bucket.name, namespace: bucket.namespace });
}

/** The ConfigMap as the API server holds it (a quorum read with the admin identity). */
export function readRaw(namespace: string, name: string): Promise<V1ConfigMap> {
  return adminClients().core.readNamespacedConfigMap({ name, namespace });
}

/** The bytes of a raw `binaryData` entry (client-node hands them over as base64). */
export function rawBinary(cm: V1ConfigMap, cmKey: string): Buffer {
  const b64 = cm.binaryData?.[cmKey];
  assert.ok(b64 !== undefined, `binaryData has no key ${JSON.stringify(cmKey)}; it has ${JSON.stringify(Object.keys(cm.binaryData ?? {}))}`);
  return Buffer.from(b64, 'base64');
}

/** The parsed kubekv.dev/index annotation of a raw ConfigMap. */
export function rawIndex(cm: V1ConfigMap): Record<string, number> {
  const raw = cm.metadata?.annotations?.['kubekv.dev/index'];
  assert.ok(raw !== undefined, 'the ConfigMap has no kubekv.dev/index annotation');
  return JSON.parse(raw) as Record<string, number>;
}

type ErrorClass<E> = abstract new (...args: never[]) => E;

/**
 * Asserts that `subject` (a promise, or a function called here) fails with an
 * instance of `errorClass` whose `code` is `code`, and returns the error. A
 * function may throw synchronously, reject, or return an async iterable whose
 * first pull fails (watch and watchTree may report either way).
 */
export async function expectKubekvError<E extends KubekvError>(
  subject: Promise<unknown> | (() => unknown),
  errorClass: ErrorClass<E>,
  code: KubekvErrorCode,
): Promise<E> {
  let outcome: unknown;
  try {
    outcome = await settle(typeof subject === 'function' ? subject() : subject);
  } catch (err) {
    assert.ok(err instanceof KubekvError, `expected ${errorClass.name} (${code}), got a non-kubekv error: ${inspect(err)}`);
    assert.ok(err instanceof errorClass, `expected ${errorClass.name} (${code}), got ${err.name} (${err.code}): ${err.message}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${errorClass.name} (${code}), but the call succeeded with ${inspect(outcome, { depth: 2 })}`);
}

async function settle(result: unknown): Promise<unknown> {
  if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
    const iterator = (result as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    try {
      return await nextWithin(iterator, 5_000, 'the first event of the iterable');
    } finally {
      await iterator.return?.();
    }
  }
  return result;
}

/** wait.ts's bounded polling with the store suites' argument order and tighter defaults (5 s, every 10 ms). */
export function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 5_000, intervalMs = 10): Promise<NonNullable<T>> {
  return pollUntil(probe, what, timeoutMs, intervalMs);
}

/** The next result of `iterator`, failing with `what` if none comes within `timeoutMs`. */
export async function nextWithin<T>(iterator: AsyncIterator<T>, timeoutMs = 5_000, what = 'the next event'): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([iterator.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next value of `iterator`; fails if it ended or nothing came within `timeoutMs`. */
export async function nextValue<T>(iterator: AsyncIterator<T>, timeoutMs = 5_000, what = 'the next event'): Promise<T> {
  const result = await nextWithin(iterator, timeoutMs, what);
  assert.equal(result.done, false, `the iterator ended while waiting for ${what}`);
  return result.value;
}

/** What must not change when a call is refused. */
function fingerprint(cm: V1ConfigMap) {
  return {
    resourceVersion: cm.metadata?.resourceVersion,
    uid: cm.metadata?.uid,
    labels: cm.metadata?.labels ?? {},
    annotations: cm.metadata?.annotations ?? {},
    data: cm.data ?? {},
    binaryData: cm.binaryData ?? {},
  };
}

/**
 * Runs `action` and asserts the bucket's ConfigMap is exactly as before it
 * (same resourceVersion, labels, annotations, data and binaryData); returns
 * what `action` returned.
 */
export async function expectBucketUnchanged<T>(bucket: Pick<OpenedBucket, 'namespace' | 'name'>, action: () => Promise<T>): Promise<T> {
  return expectRawUnchanged(() => readRaw(bucket.namespace, bucket.name), bucket, action);
}

/** {@link expectBucketUnchanged} with the object read by `read` (a Secret bucket's Secret, in bucket form). */
export async function expectRawUnchanged<T>(read: () => Promise<V1ConfigMap>, bucket: Pick<OpenedBucket, 'namespace' | 'name'>, action: () => Promise<T>): Promise<T> {
  const before = fingerprint(await read());
  const result = await action();
  const after = fingerprint(await read());
  assert.deepEqual(after, before, `bucket ${bucket.namespace}/${bucket.name} changed although the call was refused`);
  return result;
}

/** UTF-8 bytes of a string. */
export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
