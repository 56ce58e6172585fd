/**
 * The backends the store conformance suite runs against, so one set of
 * behaviour tests proves both: ConfigMapStore on the real control plane
 * (each space a fresh namespace) and MemoryStore from kubekv/testing (each
 * space a fresh MemoryCluster). A backend on the real control plane also
 * hands out the raw ConfigMap, for the assertions about what is really
 * stored; tests make those only where `raw` is defined. A Secret-backed
 * bucket (`kind: 'Secret'`) is a third backend: the same suite on the same
 * store, its `raw` the Secret as the API server holds it, read in the bucket
 * form (codec/bucket-kind.ts), so every assertion about labels, annotations,
 * `data` and `binaryData` holds for it too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { bucketForm } from '../../src/codec/bucket-kind.js';
import { ConfigMapStore, type OpenStoreOptions, type Store } from '../../src/index.js';
import { FakeCluster, MemoryCluster, MemoryStore } from '../../src/testing/index.js';
import { testControlPlane } from '../controlplane/remote.js';
import { adminClients, expectRawUnchanged, readRaw } from './store.js';

/** Options of a store opened by a backend (where it lives is the space's business). */
export type BackendOpenOptions = Omit<OpenStoreOptions, 'namespace' | 'kubeConfig'>;

/** A place to open buckets in, of one backend: a fresh namespace, or a fresh cluster. */
export interface BackendSpace {
  readonly namespace: string;
  /** Opens a store on bucket `options.name` here, as StoreClass.open(options) would. */
  open(options: BackendOpenOptions): Promise<Store>;
  /** The ConfigMap as the API server holds it; undefined for a backend without one. */
  readonly raw: ((name: string) => Promise<V1ConfigMap>) | undefined;
}

/** One Store implementation under test. */
export interface StoreBackend {
  /** The class name, for test titles. */
  readonly name: string;
  /** True when its buckets are ConfigMaps on the real control plane (spaces have `raw`): tests about the stored format run only there. */
  readonly onCluster: boolean;
  /** A fresh, empty place; `prefix` names it (for a namespace: `<prefix>-<random>`). */
  space(prefix: string): Promise<BackendSpace>;
}

/** A bucket opened for a test; `await using` closes its store. */
export interface BackendBucket extends AsyncDisposable {
  readonly store: Store;
  readonly name: string;
  readonly namespace: string;
  readonly space: BackendSpace;
  /** Opens another store on the bucket (no create), as a second replica would. */
  openPeer(options?: Omit<BackendOpenOptions, 'name'>): Promise<Store>;
  /** The bucket's ConfigMap as the API server holds it; undefined for a backend without one. */
  readonly raw: (() => Promise<V1ConfigMap>) | undefined;
}

/** ConfigMapStore against the shared real control plane, with the admin identity. */
export const configMapBackend: StoreBackend = {
  name: 'ConfigMapStore',
  onCluster: true,
  async space(prefix) {
    const cp = testControlPlane();
    const namespace = await cp.freshNamespace(prefix);
    return {
      namespace,
      open: (options) => ConfigMapStore.open({ ...options, namespace, kubeConfig: cp.adminKubeConfig() }),
      raw: (name) => readRaw(namespace, name),
    };
  },
};

/** The Secret of a Secret bucket as the API server holds it (a quorum read with the admin identity), in the bucket form. */
export async function readRawSecret(namespace: string, name: string): Promise<V1ConfigMap> {
  return bucketForm('Secret').toBucket(await adminClients().core.readNamespacedSecret({ name, namespace }));
}

/** ConfigMapStore with `kind: 'Secret'` against the shared real control plane, with the admin identity. */
export const secretBackend: StoreBackend = {
  name: 'ConfigMapStore (kind: Secret)',
  onCluster: true,
  async space(prefix) {
    const cp = testControlPlane();
    const namespace = await cp.freshNamespace(prefix);
    return {
      namespace,
      open: (options) => ConfigMapStore.open({ kind: 'Secret', ...options, namespace, kubeConfig: cp.adminKubeConfig() }),
      raw: (name) => readRawSecret(namespace, name),
    };
  },
};

/** MemoryStore from kubekv/testing, each space a cluster of its own. */
export const memoryBackend: StoreBackend = {
  name: 'MemoryStore',
  onCluster: false,
  space(prefix) {
    const cluster = new MemoryCluster();
    // Named as the control plane names fresh namespaces, so messages read alike.
    const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'test';
    const namespace = `${base}-${randomBytes(4).toString('hex')}`;
    return Promise.resolve({
      namespace,
      open: (options) => MemoryStore.open({ ...options, namespace, cluster }),
      raw: undefined,
    });
  },
};

/**
 * Chunk settings so small that the suite's buckets are chunked: the head is
 * compacted after almost every commit and any value past 1 KiB goes into
 * value chunks, so every behaviour is also checked on the chunked layout
 * (format 2) with compaction running between the calls.
 */
export const TINY_CHUNKS = { compactBytes: 256, largeValueBytes: 1024, gcGraceMs: 0 } as const;

/**
 * ConfigMapStore on the real control plane with {@link TINY_CHUNKS}. Its
 * buckets are not what the format tests expect of format 1 (values live in
 * chunks), so it hands out no raw ConfigMap.
 */
export const chunkedBackend: StoreBackend = {
  name: 'ConfigMapStore (chunked)',
  onCluster: false,
  async space(prefix) {
    const cp = testControlPlane();
    const namespace = await cp.freshNamespace(prefix);
    return {
      namespace,
      open: (options) => ConfigMapStore.open({ chunks: TINY_CHUNKS, ...options, namespace, kubeConfig: cp.adminKubeConfig() }),
      raw: undefined,
    };
  },
};

/** The real ConfigMapStore with {@link TINY_CHUNKS} on kubekv/testing's FakeCluster, each space a cluster of its own. */
export const fakeChunkedBackend: StoreBackend = {
  name: 'ConfigMapStore (chunked) on FakeCluster',
  onCluster: false,
  space(prefix) {
    const cluster = new FakeCluster();
    const namespace = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'test'}-${randomBytes(4).toString('hex')}`;
    return Promise.resolve({
      namespace,
      open: (options) => ConfigMapStore.open({ chunks: TINY_CHUNKS, ...options, namespace, api: cluster.api }),
      raw: undefined,
    });
  },
};

/** Every backend, the real ones first. */
export const storeBackends: readonly StoreBackend[] = [configMapBackend, secretBackend, memoryBackend, chunkedBackend, fakeChunkedBackend];

/** Opens bucket `name` with `create: true` in a fresh space of `backend`. */
export async function openBackendBucket(backend: StoreBackend, name = 'bucket', options: Omit<BackendOpenOptions, 'name'> = {}): Promise<BackendBucket> {
  const space = await backend.space(`kv-${name}`);
  const store = await space.open({ create: true, ...options, name });
  const raw = space.raw;
  return {
    store,
    name,
    namespace: space.namespace,
    space,
    openPeer: (peerOptions = {}) => space.open({ ...peerOptions, name }),
    raw: raw && (() => raw(name)),
    [Symbol.asyncDispose]: () => store.close(),
  };
}

/** What a refused call must leave as it was, read through the Store API: every pair, its value and lastIndex, and the bucket's version. */
async function contents(store: Store) {
  const pairs = await store.list('', { consistent: true });
  const { resourceVersion, revision } = store.status();
  return { resourceVersion, revision, pairs: pairs.map((p) => [p.key, Buffer.from(p.value).toString('base64'), p.lastIndex]) };
}

/**
 * Runs `action` and asserts the bucket is exactly as before it: through a
 * consistent read of `bucket.store` on every backend, and where the backend
 * has the raw ConfigMap, also that it is unchanged (same resourceVersion,
 * labels, annotations, data, binaryData). Returns what `action` returned.
 */
export async function expectUnchanged<T>(bucket: BackendBucket, action: () => Promise<T>): Promise<T> {
  const before = await contents(bucket.store);
  const result = bucket.raw ? await expectRawUnchanged(bucket.raw, bucket, action) : await action();
  assert.deepEqual(await contents(bucket.store), before, `bucket ${bucket.namespace}/${bucket.name} changed although the call was refused`);
  return result;
}
