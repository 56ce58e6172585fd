/**
 * MemoryStore: the real ConfigMapStore on a {@link MemoryCluster}, with
 * controls that lay faults on its requests (docs/testing.md says what each
 * does to the real store). Only the wire is in memory. Each store, and each
 * MemoryStateManager with its buckets, is a Replica: a port of its own on
 * the cluster and a clock of its own, so the faults its controls lay hit
 * its own requests, below the real code, as a network fault would.
 *
 * @module
 */
import { systemClock, type Clock } from '../clock.js';
import { bucketForm } from '../codec/bucket-kind.js';
import { ClosedError, InvalidOptionError, KubekvError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import { ConfigMapStore } from '../store/configmap-store.js';
import { DEFAULT_WRITE_TIMEOUT_MS } from '../store/inputs.js';
import type { BatchOperation, CallOptions, KVPair, OpenStoreOptions, Previous, PutOptions, Value } from '../store/types.js';
import { FakeCluster, networkError, type Parsed, type Reactor } from './fake-cluster.js';
import { ManualClock } from './manual-clock.js';

/**
 * A simulated control plane: give the same one to every MemoryStore and
 * MemoryStateManager that should see one another (replicas of an app, a
 * reader of a bucket); without one, each opens its own. Two share nothing.
 */
export class MemoryCluster {
  /** The API server underneath: its objects, and faults that hit every replica's requests (see {@link FakeCluster}). */
  readonly fake = new FakeCluster();
}

/** Options of {@link MemoryStore.open}: ConfigMapStore.open's (`kubeConfig` and `api` ignored) and the cluster. */
export interface MemoryStoreOptions extends OpenStoreOptions {
  /** Where the bucket lives; stores given the same cluster share its buckets. @default a new MemoryCluster */
  cluster?: MemoryCluster | undefined;
}

/** Options of {@link MemoryStore.loseNextAnswer}. */
export interface LostAnswerOptions {
  /** Whether the write is stored (its caller is told the outcome is unknown either way). */
  landed: boolean;
}

/**
 * A bucket of a {@link MemoryCluster}: the real ConfigMapStore (this class
 * extends it), and controls for tests. Open one with {@link MemoryStore.open}.
 *
 * @example
 * ```ts
 * await using store = await MemoryStore.open({ name: 'app-state', create: true });
 * await store.put('jobs/42', 'running');
 * ```
 */
export class MemoryStore extends ConfigMapStore {
  #replica!: Replica;
  #timeoutMs = DEFAULT_WRITE_TIMEOUT_MS;
  readonly #cancels = new Set<(error: Error) => void>();
  #other: Promise<MemoryStore> | undefined;
  #closed = false;
  #writing = 0;
  #outages = 0;
  /** While true, every request of this store about its bucket is refused (an outage, see #outage). */
  #cut = false;
  /** Faults for this store's next write requests (PATCHes of the bucket), one each, in order. */
  readonly #faults: Reactor[] = [];
  #unreact = () => {};
  #resumeWatch: (() => void) | undefined;

  /**
   * Opens a bucket of `options.cluster` (else a new one) with
   * ConfigMapStore.open, which it rejects as; namespace "default" by
   * default. A MemoryStateManager opens its buckets on its own connection.
   */
  static override async open(options: MemoryStoreOptions): Promise<MemoryStore> {
    const replica = openReplica(options);
    const store = await super.open({ ...options, kubeConfig: undefined, api: replica.api, clock: replica.clock }) as MemoryStore;
    [store.#replica, store.#timeoutMs] = [replica, options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS];
    store.#unreact = replica.cluster.fake.react((request) => store.#mine(request), (send, request) => {
      if (store.#cut) return Promise.reject(networkError('ECONNREFUSED', 'cut off by a MemoryStore fault'));
      const fault = request.verb === 'patch' ? store.#faults.shift() : undefined;
      return fault ? fault(send, request) : send();
    });
    return store;
  }

  /** The cluster the bucket lives in: open another store on it for another view of the bucket. */
  get cluster(): MemoryCluster {
    return this.#replica.cluster;
  }

  // Tracked, so that an outage ends once they have settled (see #outage).
  override put(key: string, value: Value, options?: PutOptions): Promise<KVPair> { return this.#track(super.put(key, value, options)); }
  override delete(key: string, options?: CallOptions): Promise<boolean> { return this.#track(super.delete(key, options)); }
  override deleteTree(prefix: string, options?: CallOptions): Promise<number> { return this.#track(super.deleteTree(prefix, options)); }
  override atomicPut(key: string, value: Value, previous?: Previous, options?: PutOptions): Promise<KVPair> { return this.#track(super.atomicPut(key, value, previous, options)); }
  override atomicDelete(key: string, previous: Previous, options?: CallOptions): Promise<void> { return this.#track(super.atomicDelete(key, previous, options)); }
  override batch(operations: BatchOperation[], options?: CallOptions): Promise<number> { return this.#track(super.batch(operations, options)); }

  override async close(): Promise<void> {
    this.#closed = true;
    this.#resumeWatch?.();
    for (const cancel of this.#cancels) cancel(new ClosedError(`store ${this.namespace}/${this.name}`));
    await super.close();
    this.#unreact();
    await this.#other?.then((store) => store.close(), () => {});
  }

  /** The answer to this store's next write request (kubekv's own, as an epoch raise, included) is lost, the write stored or not; it rejects with OutcomeUnknownError at its deadline, which the store's clock leaps to. */
  loseNextAnswer(options: LostAnswerOptions): void {
    if (typeof options?.landed !== 'boolean') throw new InvalidOptionError('landed', (options as Partial<LostAnswerOptions> | null)?.landed, 'a boolean: whether the write is stored');
    this.#faults.push(async (send) => {
      if (options.landed) await send().catch(() => {});
      void this.#outage();
      throw networkError('ECONNRESET', 'answer lost by MemoryStore.loseNextAnswer');
    });
  }

  /** This store's next write request is refused: the write rejects with a non-retryable `error` at once, else (retried) with DeadlineExceededError at its deadline. */
  failNextWrite(error?: KubekvError): void {
    if (error !== undefined && !(error instanceof Error)) throw new InvalidOptionError('error', error, 'an Error (a KubekvError)');
    this.#faults.push(() => {
      const refused = networkError('ECONNREFUSED', 'refused by MemoryStore.failNextWrite');
      // `error` to the caller, a refusal to the store: nothing to read back.
      if (error instanceof KubekvError && !error.retryable) throw Object.create(error, { cause: { value: refused } }) as Error;
      void this.#outage();
      throw refused;
    });
  }

  /** Runs `action` with another writer on the bucket just before this store's next write request lands, which then meets the conflict; rejects with its error or ClosedError. */
  beforeNextWrite(action: (other: MemoryStore) => unknown): Promise<void> {
    if (typeof action !== 'function') return Promise.reject(new InvalidOptionError('action', action, 'a function (other: MemoryStore) => unknown'));
    if (this.#closed) return Promise.reject(new ClosedError(`store ${this.namespace}/${this.name}`));
    const done = Promise.withResolvers<void>();
    this.#cancels.add(done.reject);
    this.#faults.push(async (send) => {
      this.#cancels.delete(done.reject);
      // Another writer, not another sweeper: on this store's clock, deleting no expired key itself.
      this.#other ??= MemoryStore.open({ name: this.name, namespace: this.namespace, kind: this.kind, cluster: this.cluster, clock: this.#replica.clock, sweep: false });
      await this.#other.then(action).then(() => done.resolve(), done.reject);
      return send();
    });
    return done.promise;
  }

  /** Holds this store's watch events back, as a stalled watch would: others' changes are not seen until resumeWatch(). */
  pauseWatch(): void {
    this.#resumeWatch ??= this.cluster.fake.hold((watch) => this.#mine(watch));
  }

  /** Delivers what the paused watch held back, in order; resolves once the cache has caught up with the bucket. */
  async resumeWatch(): Promise<void> {
    this.#resumeWatch?.();
    this.#resumeWatch = undefined;
    const current = () => this.cluster.fake.object(bucketForm(this.kind).resource, this.namespace, this.name)?.metadata?.resourceVersion ?? '';
    await until(() => this.status().resourceVersion === current());
  }

  /** Whether `request` is this store's (its port's) and about its bucket. */
  #mine(request: Parsed): boolean {
    return request.port === this.#replica.api && request.about === this.name && request.resource === bucketForm(this.kind).resource;
  }

  /** Cuts the bucket off until this store's writes have settled (which ends it before their callers hear), its clock leaping to their deadline. */
  async #outage(): Promise<void> {
    const outage = ++this.#outages;
    this.#cut = true;
    await this.#replica.clock.leap(this.#timeoutMs, () => !this.#cut);
    // A later fault's outage is not this one's to end.
    if (outage === this.#outages) this.#cut = false;
  }

  #track<T>(write: Promise<T>): Promise<T> {
    this.#writing++;
    return write.finally(() => --this.#writing === 0 && (this.#cut = false));
  }
}

/** One store's or replica's way to its cluster: the port and the clock the real components get. */
export interface Replica {
  readonly cluster: MemoryCluster;
  /** Its own port: the cluster's faults can single out its requests (FakeCluster.connect). */
  readonly api: KubeApi;
  /** Follows the clock given (else the system clock); its controls leap it ahead to a write's deadline. */
  readonly clock: ManualClock;
}

/** The Replica of each port openReplica made. */
const replicas = new WeakMap<KubeApi, Replica>();

/**
 * The Replica whose port is `options.api` (a MemoryStateManager opens its
 * buckets so), else a new one on `options.cluster` (else a new cluster),
 * for MemoryStore.open and MemoryStateManager.start.
 */
export function openReplica(options: { cluster?: MemoryCluster | undefined; clock?: Clock | undefined; api?: KubeApi | undefined }): Replica {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object with at least `name`');
  const joined = options.api && replicas.get(options.api);
  if (joined) return joined;
  const cluster = options.cluster ?? new MemoryCluster();
  if (!(cluster instanceof MemoryCluster)) throw new InvalidOptionError('cluster', cluster, 'a MemoryCluster');
  const clock = ManualClock.following(options.clock ?? systemClock);
  const replica = { cluster, clock, api: cluster.fake.connect(clock) };
  replicas.set(replica.api, replica);
  return replica;
}

/** Waits (in real time, at most about 5 s) until `check()` holds; whether it does. */
export async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, i < 50 ? 0 : 5));
  return check();
}
