/**
 * A {@link LeaseLock} over a Lease of a {@link MemoryCluster}: what a
 * MemoryStore's locks run the real Lock (and so the real LeaseElector
 * algorithm) on. Every write is conditional as on the API server; answers and
 * watch events arrive on the microtask queue, never synchronously, as a
 * network client's would.
 */
import type { LeaseLock, LeaseObserver, LeaseRecord, LeaseSnapshot, LeaseWatch, LeaseWriteResult } from '../election/lease-lock.js';
import type { ClusterState } from './memory-cluster.js';

/** The Lease `namespace/name` of a cluster, as a LeaseLock. */
export class MemoryLeaseLock implements LeaseLock {
  readonly #cluster: ClusterState;
  readonly #namespace: string;
  readonly #name: string;

  /**
   * @param cluster - where the Lease lives
   * @param namespace - its namespace
   * @param name - its name
   */
  constructor(cluster: ClusterState, namespace: string, name: string) {
    this.#cluster = cluster;
    this.#namespace = namespace;
    this.#name = name;
  }

  describe(): string {
    return `lease ${this.#namespace}/${this.#name}`;
  }

  async get(signal?: AbortSignal): Promise<LeaseSnapshot | undefined> {
    await enter(signal);
    return this.#cluster.getLease(this.#namespace, this.#name);
  }

  async create(record: LeaseRecord, signal?: AbortSignal): Promise<LeaseWriteResult> {
    await enter(signal);
    const lease = this.#cluster.createLease(this.#namespace, this.#name, record);
    return lease ? { ok: true, lease } : { ok: false, reason: 'conflict' };
  }

  async update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<LeaseWriteResult> {
    await enter(signal);
    const lease = this.#cluster.updateLease(this.#namespace, this.#name, record, resourceVersion);
    return typeof lease === 'string' ? { ok: false, reason: lease } : { ok: true, lease };
  }

  async touch(resourceVersion: string, signal?: AbortSignal): Promise<LeaseWriteResult> {
    await enter(signal);
    const current = this.#cluster.getLease(this.#namespace, this.#name);
    if (!current) return { ok: false, reason: 'not-found' };
    return this.update(current.record, resourceVersion, signal);
  }

  watch(observer: LeaseObserver): LeaseWatch {
    const stop = this.#cluster.watchLease(this.#namespace, this.#name, observer);
    return {
      stop: () => {
        stop();
        return Promise.resolve();
      },
    };
  }
}

/** A request's round trip: at least one microtask, and refused once its signal has aborted. */
async function enter(signal: AbortSignal | undefined): Promise<void> {
  await Promise.resolve();
  signal?.throwIfAborted();
}
