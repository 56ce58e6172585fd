/**
 * The in-memory stand-in for the API server that {@link MemoryStore}s,
 * {@link MemoryStateManager}s and their locks share: ConfigMaps (buckets) and
 * Leases by namespace and name, with one resourceVersion counter across both
 * (as etcd's revision), every write conditional on a resourceVersion as the
 * real server's are.
 *
 * Guarantees: a change is visible to every store on the cluster as soon as
 * the write that made it resolves (a watch with no delay); two clusters never
 * share anything, so a fresh cluster per test isolates tests as a fresh
 * namespace does on a real control plane.
 *
 * Non-guarantees: no RBAC, no namespaces to create, no other object kinds;
 * objects are plain data held in memory for the life of the process.
 *
 * @module
 */
import type { ConfigMapObject } from '../kube/types.js';
import { MAX_DATA_BYTES, dataSize } from '../codec/index.js';
import type { LeaseObserver, LeaseRecord, LeaseSnapshot } from '../election/lease-lock.js';
import { ApiError } from '../errors.js';
import type { CasResult, BucketPatch } from '../kube/bucket-api.js';

/**
 * A simulated control plane for the kubekv test doubles. Give the same
 * cluster to every {@link MemoryStore} and {@link MemoryStateManager} that
 * should see one another (replicas of one app, a second reader of a bucket);
 * without one, each opens a cluster of its own.
 *
 * @example
 * ```ts
 * const cluster = new MemoryCluster();
 * const writer = await MemoryStore.open({ name: 'app-state', create: true, cluster });
 * const reader = await MemoryStore.open({ name: 'app-state', cluster });
 * await writer.put('k', 'v');
 * (await reader.get('k'))?.text; // 'v'
 * ```
 */
export class MemoryCluster {
  constructor() {
    states.set(this, new ClusterState());
  }
}

const states = new WeakMap<MemoryCluster, ClusterState>();

/** The state behind a cluster; for the other modules of kubekv/testing. */
export function clusterState(cluster: MemoryCluster): ClusterState {
  const state = states.get(cluster);
  if (!state) throw new TypeError('not a MemoryCluster');
  return state;
}

/** Receives a ConfigMap's new state (undefined: deleted) and the resourceVersion of the change. */
export type ConfigMapListener = (object: ConfigMapObject | undefined, resourceVersion: string) => void;

/**
 * The record of a StateManager's leader Lease as the MemoryStateManagers of
 * one cluster share it: who holds it and its term (leaseTransitions).
 */
export interface LeaderLease {
  /** The holder; undefined when released or never held. */
  holder: string | undefined;
  /** leaseTransitions: the term of the current (or last) holder. */
  transitions: number;
  /** False until first acquired (the first holder's term is 0, as for a Lease just created). */
  exists: boolean;
  /** Replicas contending for it: told of every new holder. */
  readonly members: Set<LeaseMember>;
}

/** A replica contending for a {@link LeaderLease}. */
export interface LeaseMember {
  /** A new holder took the Lease (undefined: released); `notify` false when the replica must not notice. */
  observe(holder: string | undefined, notify: boolean): void;
}

/** Objects stored in the cluster are never mutated: every write makes new ones, so readers may keep references. */
export class ClusterState {
  #rv = 1000;
  readonly #configMaps = new Map<string, ConfigMapObject>();
  readonly #listeners = new Map<string, Set<ConfigMapListener>>();
  readonly #leases = new Map<string, LeaseSnapshot>();
  readonly #leaseObservers = new Map<string, Set<LeaseObserver>>();
  readonly #leaderLeases = new Map<string, LeaderLease>();

  /** The newest resourceVersion of the cluster (what a list would carry). */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** The ConfigMap as stored, or undefined. */
  getConfigMap(namespace: string, name: string): ConfigMapObject | undefined {
    return this.#configMaps.get(id(namespace, name));
  }

  /** Creates a ConfigMap; 'conflict' when it exists (409 AlreadyExists). */
  createConfigMap(namespace: string, body: ConfigMapObject): CasResult {
    const name = body.metadata?.name ?? '';
    const key = id(namespace, name);
    if (this.#configMaps.has(key)) return { ok: false, reason: 'conflict' };
    const object = checked({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      ...structuredClone(body),
      metadata: { ...structuredClone(body.metadata), name, namespace, uid: crypto.randomUUID(), resourceVersion: this.#next() },
    });
    this.#configMaps.set(key, object);
    this.#emit(key, object, object.metadata!.resourceVersion!);
    return { ok: true, object };
  }

  /**
   * A JSON merge patch that carries the resourceVersion it was planned on,
   * as the API server applies one: 409 when the object moved on, 404 when it
   * is gone, 422 (ApiError) when the result breaks the ConfigMap limits.
   */
  patchConfigMap(namespace: string, name: string, patch: BucketPatch): CasResult {
    const key = id(namespace, name);
    const current = this.#configMaps.get(key);
    if (!current) return { ok: false, reason: 'not-found' };
    if (current.metadata?.resourceVersion !== patch.metadata.resourceVersion) return { ok: false, reason: 'conflict' };
    const metadata = { ...current.metadata };
    const annotations = merge(metadata.annotations, patch.metadata.annotations);
    const labels = merge(metadata.labels, patch.metadata.labels);
    if (annotations) metadata.annotations = annotations;
    else delete metadata.annotations;
    if (labels) metadata.labels = labels;
    else delete metadata.labels;
    metadata.resourceVersion = this.#next();
    const object: ConfigMapObject = { ...current, metadata };
    const data = merge(current.data, patch.data);
    const binaryData = merge(current.binaryData, patch.binaryData);
    if (data) object.data = data;
    else delete object.data;
    if (binaryData) object.binaryData = binaryData;
    else delete object.binaryData;
    this.#configMaps.set(key, checked(object));
    this.#emit(key, object, metadata.resourceVersion);
    return { ok: true, object };
  }

  /** Deletes a ConfigMap; false when there was none. */
  deleteConfigMap(namespace: string, name: string): boolean {
    const key = id(namespace, name);
    if (!this.#configMaps.delete(key)) return false;
    this.#emit(key, undefined, this.#next());
    return true;
  }

  /** Calls `listener` synchronously on every change of the ConfigMap; returns the function that stops it. */
  watchConfigMap(namespace: string, name: string, listener: ConfigMapListener): () => void {
    const key = id(namespace, name);
    let set = this.#listeners.get(key);
    if (!set) this.#listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** The Lease `namespace/name`, or undefined. */
  getLease(namespace: string, name: string): LeaseSnapshot | undefined {
    return this.#leases.get(id(namespace, name));
  }

  /** Creates the Lease; undefined when it exists. */
  createLease(namespace: string, name: string, record: LeaseRecord): LeaseSnapshot | undefined {
    const key = id(namespace, name);
    if (this.#leases.has(key)) return undefined;
    return this.#storeLease(key, record);
  }

  /** Replaces the Lease's record if it is still at `resourceVersion`. */
  updateLease(namespace: string, name: string, record: LeaseRecord, resourceVersion: string): LeaseSnapshot | 'conflict' | 'not-found' {
    const key = id(namespace, name);
    const current = this.#leases.get(key);
    if (!current) return 'not-found';
    if (current.resourceVersion !== resourceVersion) return 'conflict';
    return this.#storeLease(key, record);
  }

  /** Follows the Lease: first its current state, then every change, each on the microtask queue as a network watch would. */
  watchLease(namespace: string, name: string, observer: LeaseObserver): () => void {
    const key = id(namespace, name);
    let set = this.#leaseObservers.get(key);
    if (!set) this.#leaseObservers.set(key, (set = new Set()));
    set.add(observer);
    const initial = this.#leases.get(key);
    const rv = this.resourceVersion;
    queueMicrotask(() => {
      if (set.has(observer)) observer.onLease(initial && copyLease(initial), rv);
    });
    return () => set.delete(observer);
  }

  /** The leader Lease of a (Memory)StateManager, made on first use. */
  leaderLease(namespace: string, name: string): LeaderLease {
    const key = id(namespace, name);
    let lease = this.#leaderLeases.get(key);
    if (!lease) this.#leaderLeases.set(key, (lease = { holder: undefined, transitions: 0, exists: false, members: new Set() }));
    return lease;
  }

  #next(): string {
    return String(++this.#rv);
  }

  #emit(key: string, object: ConfigMapObject | undefined, resourceVersion: string): void {
    for (const listener of [...(this.#listeners.get(key) ?? [])]) listener(object, resourceVersion);
  }

  #storeLease(key: string, record: LeaseRecord): LeaseSnapshot {
    const snapshot: LeaseSnapshot = { record: copyRecord(record), resourceVersion: this.#next() };
    this.#leases.set(key, snapshot);
    for (const observer of this.#leaseObservers.get(key) ?? []) {
      queueMicrotask(() => observer.onLease(copyLease(snapshot), snapshot.resourceVersion));
    }
    return copyLease(snapshot);
  }
}

function id(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** A merge of a string map and its patch (null deletes); undefined when empty, as the API server omits empty maps. */
function merge(base: Record<string, string> | undefined, patch: Record<string, string | null> | undefined): Record<string, string> | undefined {
  // Null prototype: a key named __proto__ is data, as it is to the API server.
  const out = Object.assign(Object.create(null) as Record<string, string>, base);
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The API server's own validation of a ConfigMap (422 when it fails). kubekv
 * checks these limits before it sends anything; the double checks them again
 * where the server does, so a planner bug shows as it would in a cluster.
 */
function checked(object: ConfigMapObject): ConfigMapObject {
  const size = dataSize(object.data, object.binaryData);
  if (size > MAX_DATA_BYTES) {
    throw new ApiError(422, `ConfigMap "${object.metadata?.name}" is invalid: []: Too long: must have at most ${MAX_DATA_BYTES} bytes`);
  }
  for (const key of Object.keys(object.data ?? {})) {
    if (object.binaryData && Object.hasOwn(object.binaryData, key)) {
      throw new ApiError(422, `ConfigMap "${object.metadata?.name}" is invalid: data[${key}]: Invalid value: duplicate of key present in binaryData`);
    }
  }
  return object;
}

function copyLease(snapshot: LeaseSnapshot): LeaseSnapshot {
  return { record: copyRecord(snapshot.record), resourceVersion: snapshot.resourceVersion };
}

function copyRecord(record: LeaseRecord): LeaseRecord {
  return {
    ...record,
    acquireTime: record.acquireTime && new Date(record.acquireTime.getTime()),
    renewTime: record.renewTime && new Date(record.renewTime.getTime()),
  };
}
