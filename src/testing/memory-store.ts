/**
 * MemoryStore: the {@link Store} of kubekv in memory, for unit tests of code
 * written against kubekv. Same API, same rules, no control plane.
 *
 * What is the same as ConfigMapStore, because it is the same code: key
 * validation and encoding, value encoding, compression and the 1 MiB value
 * and bucket limits (src/codec), the commit planner that decides conditions,
 * no-ops, revisions and lastIndex (src/store/commit.ts), option checks
 * (src/store/inputs.ts), watch fan-out (src/store/watch-hub.ts), every error
 * class and code, and locks (the real Lock and LeaseElector, over an
 * in-memory Lease). The bucket itself is a ConfigMap object held by a
 * {@link MemoryCluster}, patched exactly as the API server would patch it,
 * so revisions number the same way. Writes made in one tick go out as one
 * commit with one revision, as the real store's group commit sends them.
 * The store conformance suite (test/integration/store/conformance*.test.ts)
 * runs against both to keep it so.
 *
 * What differs: a write settles on the next microtask, never waits for a
 * network, and never meets contention; other stores on the same cluster see
 * a change as soon as its write resolves (unless {@link MemoryStore.pauseWatch}
 * holds their cache back). Lost answers and failures happen only when a test
 * asks for them ({@link MemoryStore.loseNextAnswer},
 * {@link MemoryStore.failNextWrite}); a real store would take until the
 * write's deadline to report them.
 *
 * @module
 */
import type { ConfigMapObject } from '../kube/types.js';
import type { Clock } from '../clock.js';
import type { CompressionOptions } from '../codec/index.js';
import {
  AbortedError,
  BucketNotFoundError,
  ClosedError,
  DeadlineExceededError,
  FormatError,
  InvalidOptionError,
  UnavailableError,
  type KubekvError,
} from '../errors.js';
import { validateName } from '../kube/config.js';
import { Lock, lockLeaseName, type LockOptions } from '../lock/lock.js';
import type { Logger } from '../logger.js';
import { isNewer, parseBucket, toPair, type BucketState } from '../store/bucket-state.js';
import type { WriteOp, WriteResult } from '../store/commit.js';
import type { WriteHooks } from '../store/configmap-store.js';
import { bucketLabel, checkKey, checkPrefix, checkTimeout, newBucket, pairOf, resolveOptions } from '../store/inputs.js';
import type {
  BatchOperation,
  CallOptions,
  KVPair,
  KeyEvent,
  OpenStoreOptions,
  Previous,
  ReadOptions,
  Store,
  StoreStatus,
  TreeEvent,
  Value,
} from '../store/types.js';
import { WatchHub, diffStates } from '../store/watch-hub.js';
import { atomicDeleteOp, atomicPutOp, batchOps, deleteOp, putOp } from '../store/write-ops.js';
import { MemoryCluster, clusterState, type ClusterState } from './memory-cluster.js';
import { MemoryLeaseLock } from './memory-lease-lock.js';
import { MemoryWrites } from './memory-writes.js';

/** Options of {@link MemoryStore.open}: those of ConfigMapStore.open, and the cluster. */
export interface MemoryStoreOptions extends OpenStoreOptions {
  /**
   * Where the bucket lives. Stores given the same cluster share its buckets
   * (as replicas share a namespace); kubeConfig is ignored.
   * @default a new MemoryCluster of this store's own
   */
  cluster?: MemoryCluster | undefined;
}

/** Options of {@link MemoryStore.loseNextAnswer}. */
export interface LostAnswerOptions {
  /** True: the write is stored although its caller is told the outcome is unknown. False: it is not stored. */
  landed: boolean;
}

/** Namespace of a MemoryStore opened without one (no kubeconfig or Pod to take it from). */
export const DEFAULT_NAMESPACE = 'default';

/**
 * Key of a MemoryStore's internals, for MemoryStateManager. Not exported
 * from kubekv/testing.
 */
export const memoryStoreInternals = Symbol('kubekv.testing.memoryStoreInternals');

/** What {@link memoryStoreInternals} gives access to (the same as ConfigMapStore's StoreInternals). */
export interface MemoryStoreInternals {
  /** Installs the StateManager's write hooks (see WriteHooks). */
  setWriteHooks(hooks: WriteHooks): void;
  /** Raises the leader epoch through the write path; true when raised, false when already held; FencedError when refused. */
  raiseEpoch(epoch: number, leader: string, signal: AbortSignal): Promise<boolean>;
}

/**
 * A bucket held in memory, with the Store API and semantics of
 * ConfigMapStore, and controls for tests (lost answers, failures, another
 * writer's interleaved change, a paused watch). Open one with
 * {@link MemoryStore.open}.
 *
 * @example
 * ```ts
 * import { MemoryStore } from 'kubekv/testing';
 * await using store = await MemoryStore.open({ name: 'app-state', create: true });
 * await store.put('jobs/42', 'running');
 * ```
 */
export class MemoryStore implements Store {
  /** Bucket (ConfigMap) name. */
  readonly name: string;
  /** Namespace of the bucket in its cluster. */
  readonly namespace: string;
  /** Resolved: a MemoryStore is ready once open() resolves. */
  readonly ready: Promise<void> = Promise.resolve();
  /** The cluster the bucket lives in: pass it to MemoryStore.open (or MemoryStateManager.start) for another view of the same bucket. */
  readonly cluster: MemoryCluster;
  readonly #server: ClusterState;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #compression: CompressionOptions;
  readonly #timeoutMs: number;
  readonly #hub = new WatchHub();
  readonly #locks = new Set<Lock>();
  readonly #writes: MemoryWrites;
  readonly #unwatch: () => void;
  readonly #options: MemoryStoreOptions;
  /** The other writer beforeNextWrite hands out, opened on first use. */
  #other: Promise<MemoryStore> | undefined;
  #state: BucketState;
  #deleted = false;
  #deletedAt = '';
  #closed = false;
  #decodeError: FormatError | undefined;
  #paused = false;
  #pausedAt = 0;
  #hooks: WriteHooks = {};

  private constructor(cluster: MemoryCluster, namespace: string, initial: BucketState, options: MemoryStoreOptions, resolved: ReturnType<typeof resolveOptions>) {
    this.cluster = cluster;
    this.#server = clusterState(cluster);
    this.name = resolved.name;
    this.namespace = namespace;
    this.#log = resolved.logger;
    this.#clock = resolved.clock;
    this.#compression = resolved.compression;
    this.#timeoutMs = resolved.timeoutMs;
    this.#options = options;
    this.#state = initial;
    this.#writes = new MemoryWrites({
      bucket: this.name,
      namespace,
      server: this.#server,
      clock: this.#clock,
      timeoutMs: this.#timeoutMs,
      current: () => this.#state,
      hooks: () => this.#hooks,
      apply: (object) => this.#apply(object),
    });
    this.#unwatch = this.#server.watchConfigMap(namespace, this.name, (object, rv) => this.#watched(object, rv));
  }

  /**
   * Opens a bucket of the cluster (`options.cluster`, else a new one):
   * reads it or, with `create: true`, creates it. Rejects as
   * ConfigMapStore.open does: BucketNotFoundError without `create`,
   * InvalidOptionError naming a bad option, AbortedError on `signal`.
   * The namespace defaults to "default".
   */
  static open(options: MemoryStoreOptions): Promise<MemoryStore> {
    return promised(() => MemoryStore.#openNow(options));
  }

  static #openNow(options: MemoryStoreOptions): MemoryStore {
    const resolved = resolveOptions(options);
    const namespace = options.namespace === undefined ? DEFAULT_NAMESPACE : validateName('namespace', options.namespace);
    const cluster = options.cluster ?? new MemoryCluster();
    if (!(cluster instanceof MemoryCluster)) throw new InvalidOptionError('cluster', cluster, 'a MemoryCluster');
    if (options.signal?.aborted) throw new AbortedError(`open bucket ${resolved.name}`, { cause: options.signal.reason });
    const server = clusterState(cluster);
    let object = server.getConfigMap(namespace, resolved.name);
    if (!object) {
      if (!options.create) throw new BucketNotFoundError(namespace, resolved.name);
      const created = server.createConfigMap(namespace, newBucket(resolved.name, options.app ?? 'kubekv'));
      object = created.ok ? created.object : server.getConfigMap(namespace, resolved.name);
      if (!object) throw new BucketNotFoundError(namespace, resolved.name);
      resolved.logger.info({ bucket: resolved.name, namespace }, 'created bucket');
    }
    return new MemoryStore(cluster, namespace, parseBucket(object), options, resolved);
  }

  get(key: string, options: ReadOptions = {}): Promise<KVPair | undefined> {
    return promised(() => {
      checkKey(key);
      this.#prepareRead(options);
      const entry = this.#state.entries.get(key);
      return entry ? toPair(entry) : undefined;
    });
  }

  exists(key: string, options: ReadOptions = {}): Promise<boolean> {
    return promised(() => {
      checkKey(key);
      this.#prepareRead(options);
      return this.#state.entries.has(key);
    });
  }

  list(prefix: string, options: ReadOptions = {}): Promise<KVPair[]> {
    return promised(() => {
      checkPrefix(prefix);
      this.#prepareRead(options);
      return [...this.#state.entries.values()]
        .filter((e) => e.key.startsWith(prefix))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map(toPair);
    });
  }

  watch(key: string, options: CallOptions = {}): AsyncIterable<KeyEvent> {
    this.#assertOpen();
    checkKey(key);
    return this.#hub.watchKey(key, () => this.#state, options.signal, () => this.#decodeError);
  }

  watchTree(prefix: string, options: CallOptions = {}): AsyncIterable<TreeEvent> {
    this.#assertOpen();
    checkPrefix(prefix);
    return this.#hub.watchTree(prefix, () => this.#state, options.signal, () => this.#decodeError);
  }

  /**
   * Cache health. `connected` is false while the watch is paused (and after
   * close); `stalenessMs` then counts, on the store's clock, from the pause.
   */
  status(): StoreStatus {
    return {
      synced: this.#decodeError === undefined,
      connected: !this.#closed && !this.#paused,
      stalenessMs: this.#paused ? Math.max(0, this.#clock.monotonic() - this.#pausedAt) : 0,
      revision: this.#state.revision,
      resourceVersion: this.#state.resourceVersion,
      lastError: this.#decodeError ?? (this.#paused ? new UnavailableError(`watch of bucket ${this.namespace}/${this.name} is paused (MemoryStore.pauseWatch)`) : undefined),
    };
  }

  async put(key: string, value: Value, options: CallOptions = {}): Promise<KVPair> {
    const result = await this.#write([putOp(key, value, this.#compression)], options);
    return pairOf(key, value, result.revision);
  }

  async delete(key: string, options: CallOptions = {}): Promise<boolean> {
    const result = await this.#write([deleteOp(key)], options);
    return result.counts[0] === 1;
  }

  async deleteTree(prefix: string, options: CallOptions = {}): Promise<number> {
    checkPrefix(prefix);
    const result = await this.#write([{ kind: 'deleteTree', prefix }], options);
    return result.counts[0] ?? 0;
  }

  async atomicPut(key: string, value: Value, previous?: Previous, options: CallOptions = {}): Promise<KVPair> {
    const result = await this.#write([atomicPutOp(key, value, previous, this.#compression)], options);
    return pairOf(key, value, result.revision);
  }

  async atomicDelete(key: string, previous: Previous, options: CallOptions = {}): Promise<void> {
    await this.#write([atomicDeleteOp(key, previous)], options);
  }

  async batch(operations: BatchOperation[], options: CallOptions = {}): Promise<number> {
    const ops = batchOps(operations, this.#compression);
    if (ops.length === 0) return this.#state.revision;
    return (await this.#write(ops, options)).revision;
  }

  async teardown(options: CallOptions = {}): Promise<void> {
    this.#assertOpen();
    checkTimeout(options.timeoutMs);
    if (options.signal?.aborted) throw new AbortedError(`teardown of ${this.name}`, { cause: options.signal.reason });
    this.#server.deleteConfigMap(this.namespace, this.name);
    this.#log.info({ bucket: this.name, namespace: this.namespace }, 'deleted bucket');
    await this.close();
  }

  /**
   * A lock named `key`: the real Lock (LeaseElector algorithm, tokens,
   * handles, signals) over an in-memory Lease of this store's cluster, so
   * Locks of stores on the same cluster exclude one another. Time (the TTL,
   * renewals) runs on the store's clock unless `options.clock` is given.
   */
  newLock(key: string, options?: LockOptions): Lock {
    this.#assertOpen();
    checkKey(key);
    const lock: Lock = new Lock({
      bucket: this.name,
      bucketLabel: bucketLabel(this.name),
      namespace: this.namespace,
      key,
      options,
      leaseLock: new MemoryLeaseLock(this.#server, this.namespace, lockLeaseName(this.name, key)),
      logger: this.#log,
      clock: this.#clock,
      onClose: () => this.#locks.delete(lock),
    });
    this.#locks.add(lock);
    return lock;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#locks].map((lock) => lock.close()));
    await this.#writes.close();
    this.#unwatch();
    this.#hub.close();
    const other = this.#other;
    this.#other = undefined;
    if (other) await other.then((store) => store.close(), () => {});
  }

  /** Same as close(), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * The answer to this store's next write that changes the bucket is lost:
   * with `landed: true` the write is stored, with `landed: false` it is not,
   * and either way its caller gets OutcomeUnknownError (at once; the real
   * store reports it when the write's deadline passes without the outcome
   * having been read back). Writes submitted in the same tick share that
   * request, as in the real store, and all get the error. Writes that change
   * nothing or fail their condition send no request and are settled as
   * usual; the fault waits for the next one. Calls queue up: one fault per
   * later write.
   */
  loseNextAnswer(options: LostAnswerOptions): void {
    if (typeof options !== 'object' || options === null || typeof options.landed !== 'boolean') {
      throw new InvalidOptionError('landed', (options as Partial<LostAnswerOptions> | null)?.landed, 'a boolean: whether the write is stored');
    }
    this.#writes.addFault({ kind: 'lost', landed: options.landed });
  }

  /**
   * This store's next write that changes the bucket is not stored and
   * rejects with `error`: by default the DeadlineExceededError a real store
   * reports when the API server stays unreachable until the write's
   * deadline. Pass any other definite failure (an UnavailableError, a
   * ForbiddenError...) to test how your code handles it. Queues like
   * {@link MemoryStore.loseNextAnswer}.
   */
  failNextWrite(error?: KubekvError): void {
    if (error !== undefined && !(error instanceof Error)) throw new InvalidOptionError('error', error, 'an Error (a KubekvError)');
    this.#writes.addFault({
      kind: 'fail',
      error: error ?? new DeadlineExceededError(`write to bucket ${this.name} was not applied within its deadline of ${this.#timeoutMs} ms; nothing was stored (simulated by MemoryStore.failNextWrite)`),
    });
  }

  /**
   * Another writer's change, landing just before this store's next write
   * is decided: `action` gets another store on the same bucket (a different
   * writer, like a second replica's) and runs before that write's commit,
   * which is then planned on the state it left. Use it to make a
   * read-modify-write meet a conflict: an atomicPut on a pair read before
   * the action rejects with KeyModifiedError (KeyNotFoundError,
   * KeyExistsError), as it would if another process won the race. Write
   * through `other`, not through this store (whose write would wait for the
   * very commit the action holds back). Resolves once the action has run;
   * rejects with its error.
   */
  beforeNextWrite(action: (other: MemoryStore) => unknown): Promise<void> {
    if (typeof action !== 'function') return Promise.reject(new InvalidOptionError('action', action, 'a function (other: MemoryStore) => unknown'));
    if (this.#closed) return Promise.reject(new ClosedError(`store ${this.namespace}/${this.name}`));
    const done = Promise.withResolvers<void>();
    this.#writes.addInterposed({
      run: async () => {
        try {
          await action(await this.#otherWriter());
          done.resolve();
        } catch (err) {
          done.reject(err);
        }
      },
      cancel: (error) => done.reject(error),
    });
    return done.promise;
  }

  /**
   * Holds this store's cache back, as a broken watch would: changes made by
   * other stores are not seen (reads, watch iterators) until
   * {@link MemoryStore.resumeWatch}; this store's own writes and
   * `consistent: true` reads still update it, as in the real store.
   * status() reports `connected: false` meanwhile.
   */
  pauseWatch(): void {
    this.#assertOpen();
    if (this.#paused) return;
    this.#paused = true;
    this.#pausedAt = this.#clock.monotonic();
  }

  /** Reconnects the watch: the cache catches up with the bucket at once (as the real store's relist does) and iterators get the changes. */
  resumeWatch(): void {
    this.#assertOpen();
    if (!this.#paused) return;
    this.#paused = false;
    const object = this.#server.getConfigMap(this.namespace, this.name);
    if (object) this.#applyWatched(object);
    else this.#markDeleted(this.#server.resourceVersion);
  }

  /**
   * Internals for MemoryStateManager, keyed by a symbol kubekv/testing does not export.
   *
   * @internal
   */
  get [memoryStoreInternals](): MemoryStoreInternals {
    return {
      setWriteHooks: (hooks) => (this.#hooks = hooks),
      raiseEpoch: async (epoch, leader, signal) => (await this.#writes.submit([{ kind: 'epoch', epoch, leader }], signal)).counts[0] === 1,
    };
  }

  async #write(ops: WriteOp[], options: CallOptions): Promise<WriteResult> {
    this.#assertOpen();
    const timeoutMs = checkTimeout(options.timeoutMs);
    if (this.#deleted) throw new BucketNotFoundError(this.namespace, this.name);
    return this.#writes.submit(ops, options.signal, timeoutMs);
  }

  /** Another store on this bucket (its own writer), for beforeNextWrite. */
  #otherWriter(): Promise<MemoryStore> {
    this.#other ??= MemoryStore.open({ ...this.#options, name: this.name, namespace: this.namespace, cluster: this.cluster, create: false, signal: undefined });
    return this.#other;
  }

  #prepareRead(options: ReadOptions): void {
    this.#assertOpen();
    if (options.signal?.aborted) throw new AbortedError('read', { cause: options.signal.reason });
    if (options.consistent) {
      const object = this.#server.getConfigMap(this.namespace, this.name);
      if (object) this.#apply(object);
      else this.#markDeleted(this.#server.resourceVersion);
    }
  }

  #watched(object: ConfigMapObject | undefined, resourceVersion: string): void {
    if (this.#paused) return;
    if (object) this.#applyWatched(object);
    else this.#markDeleted(resourceVersion);
  }

  /** Feeds a state into the cache if newer than what it holds (or than the deletion it saw): ConfigMapStore's #apply. */
  #apply(object: ConfigMapObject): BucketState {
    const rv = object.metadata?.resourceVersion ?? '';
    if (!isNewer(rv, this.#deleted ? this.#deletedAt : this.#state.resourceVersion)) return this.#state;
    let next: BucketState;
    try {
      next = parseBucket(object);
    } catch (err) {
      const error = err instanceof FormatError ? err : new FormatError('bucket content cannot be decoded', undefined, { cause: err });
      if (!this.#decodeError) this.#log.error({ bucket: this.name, code: error.code }, 'bucket content cannot be decoded; keeping the last good state');
      this.#decodeError = error;
      this.#hub.fail(error);
      throw error;
    }
    this.#decodeError = undefined;
    const changes = diffStates(this.#state, next);
    this.#state = next;
    this.#deleted = false;
    if (changes.length > 0) this.#hub.publish(changes);
    return next;
  }

  #applyWatched(object: ConfigMapObject): void {
    try {
      this.#apply(object);
    } catch {
      // Recorded in #decodeError and reported by status() and the iterators.
    }
  }

  #markDeleted(resourceVersion: string): void {
    if (this.#deleted) {
      if (isNewer(resourceVersion, this.#deletedAt)) this.#deletedAt = resourceVersion;
      return;
    }
    const held = this.#state.resourceVersion;
    this.#deletedAt = isNewer(resourceVersion, held) ? resourceVersion : held;
    this.#deleted = true;
    this.#decodeError = undefined;
    const empty: BucketState = { ...this.#state, entries: new Map(), dataBytes: 0, resourceVersion: '' };
    const changes = diffStates(this.#state, empty);
    this.#state = empty;
    this.#log.warn({ bucket: this.name, namespace: this.namespace }, 'bucket ConfigMap was deleted');
    if (changes.length > 0) this.#hub.publish(changes);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`store ${this.namespace}/${this.name}`);
  }
}

/** `fn()` as a promise: what it throws becomes the rejection, as in an async method of the real store. */
function promised<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
