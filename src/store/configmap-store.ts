/**
 * ConfigMapStore: a libkv-style key/value store in a bucket, a head object
 * (a ConfigMap, or a Secret with `kind: 'Secret'`; codec/bucket-kind.ts) and
 * the chunks it references. The class keeps its historical name for both kinds.
 *
 * Guarantees:
 * - Every mutation is a compare-and-swap on the ConfigMap's resourceVersion
 *   (see write-pipeline.ts): no concurrent update, from this process or
 *   another, is ever lost; a write that resolved is stored, one that rejected
 *   is not. Keys kubekv did not write are never removed or rewritten.
 * - Reads come from a local cache, fed write-through by this store's own
 *   writes (a read after an acknowledged write sees it) and by a list+watch
 *   loop for everyone else's (see object-watcher.ts). `{ consistent: true }`
 *   reads through a quorum GET instead.
 * - Bad input is refused locally with a typed error before anything is sent:
 *   invalid keys and values, values or buckets over the ConfigMap limits.
 *
 * - A chunked bucket (docs/format.md "Chunks") is applied to the cache only
 *   once every chunk its head references is held (chunk-set.ts), so reads
 *   never see part of a bucket; a chunk that is gone for good is reported
 *   by status() (ChunkMissingError) while the last complete state is kept.
 *
 * Non-guarantees: cached reads by a process that does not write lag other
 * writers by the watch delay; per-key revisions track kubekv writes only (an
 * edit made with kubectl changes a value without changing its lastIndex).
 */
import type { ConfigMapObject } from '../kube/types.js';
import { resolveAccess, type KubeApi } from '../kube/api.js';
import { checkTimeout, sleep, type Clock } from '../clock.js';
import { CHUNKS_ANNOTATION, MANIFEST_ANNOTATION, MAX_CHUNKED_VALUE_BYTES, MAX_DATA_BYTES, parseHeadChunks, type BucketKind, type ChunkRef, type CompressionOptions, type HeadChunks } from '../codec/index.js';
import { AbortedError, ApiError, BucketNotFoundError, ChunkMissingError, ClosedError, DeadlineExceededError, FormatError, InvalidOptionError, KubekvError } from '../errors.js';
import { Backoff, retryWithBackoff } from '../kube/backoff.js';
import { BucketApi } from './bucket-api.js';
import { explainNotFound } from '../kube/namespaces.js';
import { Lock, type LockOptions } from '../lock/lock.js';
import { LOCK_CONTROLLER } from '../events/lease-events.js';
import { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { LockObserver, StoreObserver } from '../metrics/observer.js';
import { ObjectWatcher } from '../kube/object-watcher.js';
import { deletedState, isNewer, pairIn, parseBucket, referencedChunks, type BucketState } from './bucket-state.js';
import { deleteAllChunks } from './chunk-gc.js';
import { ChunkMaintenance } from './chunk-maintenance.js';
import { ChunkSet, loadBucketState } from './chunk-set.js';
import type { WriteOp } from './commit.js';
import {
  bucketLabel,
  checkKey,
  checkPrefix,
  newBucket,
  pairOf,
  raceAbort,
  resolveOptions,
  type ResolvedOptions,
} from './inputs.js';
import { WatchHub, diffStates } from './watch-hub.js';
import { Session, type SessionOptions } from './session.js';
import { sessionLeases } from './session-leases.js';
import { Sweeper } from './sweeper.js';
import { atomicDeleteOp, atomicPutOp, batchOps, checkTtl, deleteOp, putOp, type PutExpiry } from './write-ops.js';
import { WritePipeline, type PipelineHost } from './write-pipeline.js';
import type {
  BatchOperation,
  CallOptions,
  KVPair,
  KeyEvent,
  OpenStoreOptions,
  Previous,
  ExpiryOptions,
  PutOptions,
  ReadOptions,
  Store,
  StoreStatus,
  TreeEvent,
  Value,
} from './types.js';

/** Hooks a coordinating component (the StateManager) installs on a store's writes. */
export interface WriteHooks {
  /** Called once per write when it is submitted: the epoch (leadership) the write is made under, passed to guard() with that write. */
  epochOf?(): number | undefined;
  /** Called for each write before every commit attempt, with the state it is planned on, the write's ops and its epoch from epochOf(); throw to refuse that write. */
  guard?(base: BucketState, ops: readonly WriteOp[], epoch: number | undefined): void;
}

/**
 * Key of a store's internals, for other kubekv modules (the StateManager's
 * fencing). Not exported from the package: applications cannot reach it.
 */
export const storeInternals = Symbol('kubekv.storeInternals');

/** Longest pause before a failed chunk fetch of a watched head is tried again. */
const CHUNK_FETCH_RETRY_MAX_MS = 5_000;

/** What {@link storeInternals} gives access to. */
export interface StoreInternals {
  /** Installs the hooks; every write, the epoch raise included, goes through the one pipeline. */
  setWriteHooks(hooks: WriteHooks): void;
  /**
   * Raises the leader epoch to `epoch` through the write pipeline (one CAS,
   * retried and settled like every write; see WriteOp 'epoch'). Resolves
   * true when raised, false when the bucket already held exactly this epoch
   * of this leader; rejects with FencedError when its epoch is higher, or
   * equal but raised by another leader.
   */
  raiseEpoch(epoch: number, leader: string, signal: AbortSignal): Promise<boolean>;
  /**
   * Sets the most bytes the write pipeline believes etcd takes for the
   * object (default etcd's default request limit). For tests: raising it
   * stands for a size estimate that falls short, so the server's own
   * refusal is what stops the write.
   */
  setMaxStoredBytes(bytes: number): void;
  /** Turns the deleting of expired keys on or off (a StateManager: on while leading); keys are timed either way. */
  setSweeping(enabled: boolean): void;
  /**
   * Monotonic ms (the store's clock) at which this store may expire `key`
   * at its current revision (for a session key: end its session; -Infinity
   * once the session ended); undefined if it times nothing for it yet.
   */
  expiryDueAt(key: string): number | undefined;
  /**
   * Monotonic ms at which this store's sweeper may delete the session
   * Lease `name`, which no key names; undefined until its list+watch of
   * the bucket's session Leases showed it.
   */
  sessionLeaseDueAt(name: string): number | undefined;
}

/**
 * A bucket: a ConfigMap (or, with the `kind: 'Secret'` option, a Secret)
 * used as a key/value store. Open it with {@link ConfigMapStore.open}.
 */
export class ConfigMapStore implements Store {
  readonly name: string;
  readonly namespace: string;
  /** The kind of object the bucket is stored in (OpenStoreOptions.kind). */
  readonly kind: BucketKind;
  readonly ready: Promise<void> = Promise.resolve();
  readonly #api: BucketApi;
  readonly #kube: KubeApi;
  readonly #locks = new Set<Lock>();
  readonly #sessions = new Set<Session>();
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #compression: CompressionOptions;
  readonly #hub = new WatchHub();
  readonly #pipeline: WritePipeline;
  readonly #sweeper: Sweeper;
  readonly #watcher: ObjectWatcher<ConfigMapObject>;
  readonly #timeoutMs: number;
  #state: BucketState;
  #deleted = false;
  /** resourceVersion at which the bucket was seen deleted: an older answer must not bring it back. */
  #deletedAt = '';
  #closed = false;
  /** Aborted by close(): ends a pause before a chunk fetch is tried again. */
  readonly #stopping = new AbortController();
  /** The resourceVersion of the newest state the watch delivered (a retry of an older one gives way to it). */
  #latestWatched = '';
  #lastWriteAt: number | undefined;
  /** The watch loop's current failure (cleared when it makes progress again). */
  #lastError: KubekvError | undefined;
  /**
   * A newer state of the bucket could not be decoded (or one of its chunks
   * is gone), so the cache missed a change: reported by status() until a
   * later state decodes (bookmarks do not clear it).
   */
  #decodeError: FormatError | ChunkMissingError | undefined;
  /** The chunks the cache's state references (and those this store made for a commit in progress). */
  readonly #chunks: ChunkSet;
  /** Chunks this store made whose commit has not settled: kept in #chunks whatever the head says. */
  readonly #pinned = new Map<string, number>();
  /**
   * Chunks of heads being loaded (fetched, not applied yet), counted per
   * load: kept in #chunks too. Loads run at once (the watch, a write's
   * re-read, a consistent read), and an older head applied meanwhile must
   * not drop what a newer one is loading.
   */
  readonly #loading = new Map<string, number>();
  /** Compaction, value chunks and garbage collection; undefined with `chunks: false`. */
  readonly #maintenance: ChunkMaintenance | undefined;
  /** The most bytes one encoded value may take. */
  readonly #maxValueBytes: number;
  /** This store created chunks (so a teardown looks for them). */
  #madeChunks = false;
  /** Watch deliveries, applied one after another (a head may wait for its chunks). */
  #watchChain: Promise<void> = Promise.resolve();
  #hooks: WriteHooks = {};
  /** Metrics hooks (src/metrics); undefined without the `metrics` option. */
  readonly #observer: StoreObserver | undefined;
  readonly #metrics: Metrics | undefined;
  #lockObserver: LockObserver | undefined;
  readonly #eventsEnabled: boolean;
  /** Records lock losses as Events; made with the first lock. */
  #events: EventRecorder | undefined;

  /** @internal Use {@link ConfigMapStore.open}; protected so that a subclass (kubekv/testing's MemoryStore) is opened by its inherited `open`. */
  protected constructor(kube: KubeApi, api: BucketApi, chunks: ChunkSet, initial: BucketState, options: ResolvedOptions) {
    this.name = api.name;
    this.namespace = api.namespace;
    this.kind = api.kind;
    this.#api = api;
    this.#kube = kube;
    this.#log = options.logger;
    this.#clock = options.clock;
    this.#compression = options.compression;
    this.#metrics = options.metrics;
    this.#eventsEnabled = options.events;
    this.#observer = options.metrics?.store(api.namespace, api.name, () => this.status().stalenessMs);
    this.#timeoutMs = options.timeoutMs;
    this.#state = initial;
    this.#chunks = chunks;
    this.#maxValueBytes = options.chunks ? MAX_CHUNKED_VALUE_BYTES : MAX_DATA_BYTES;
    this.#maintenance = options.chunks && new ChunkMaintenance({
      bucket: this.name,
      label: bucketLabel(this.name),
      kind: api.kind,
      client: api.client,
      chunks,
      clock: this.#clock,
      logger: this.#log,
      options: options.chunks,
      current: () => this.#state,
      apply: (object) => this.#load(object),
      pin: (names) => this.#pin(names),
      unpin: (names) => this.#unpin(names),
      mayWrite: (state) => {
        try {
          this.#hooks.guard?.(state, [], this.#hooks.epochOf?.());
          return true;
        } catch {
          return false;
        }
      },
      charge: (bytes) => {
        options.etcdBudget?.charge(bytes);
        this.#observer?.etcdBytes(bytes);
      },
    });
    const maintenance = this.#maintenance;
    const host: PipelineHost = {
      bucket: this.name,
      api,
      logger: this.#log,
      clock: this.#clock,
      timeoutMs: options.timeoutMs,
      current: () => this.#state,
      apply: (object) => {
        this.#lastWriteAt = this.#clock.monotonic();
        return this.#load(object);
      },
      prepare: maintenance && ((ops, base, signal) => maintenance.prepare(ops, base, signal)),
      release: maintenance && ((ops) => maintenance.release(ops)),
      afterCommit: maintenance && ((signal) => maintenance.afterCommit(signal)),
      holds: (resourceVersion) => !this.#deleted && this.#state.resourceVersion === resourceVersion,
      acknowledge: (resourceVersion) => {
        this.#lastWriteAt = this.#clock.monotonic();
        return !this.#deleted && this.#state.resourceVersion === resourceVersion ? this.#state : undefined;
      },
      epochOf: () => this.#hooks.epochOf?.(),
      guard: (base, ops, epoch) => this.#hooks.guard?.(base, ops, epoch),
      observer: this.#observer,
      budget: options.etcdBudget,
    };
    this.#pipeline = new WritePipeline(host);
    this.#sweeper = new Sweeper({
      clock: this.#clock,
      logger: this.#log,
      bucket: this.name,
      write: (ops, signal) => this.#pipeline.submit(ops, signal),
      ...sessionLeases(kube, api.namespace, bucketLabel(this.name), this.#clock, this.#log),
    }, options.sweep);
    this.#sweeper.observe(initial);
    this.#watcher = new ObjectWatcher<ConfigMapObject>({
      api: api.client,
      name: this.name,
      list: (fieldSelector) => api.list(fieldSelector),
      onSync: (object, resourceVersion) => {
        this.#latestWatched = object?.metadata?.resourceVersion ?? resourceVersion;
        this.#inOrder(() => (object ? this.#applyWatched(object) : this.#markDeleted(resourceVersion)));
      },
      onEvent: (type, object) => {
        this.#latestWatched = object.metadata?.resourceVersion ?? '';
        this.#inOrder(() => (type === 'DELETED' ? this.#markDeleted(object.metadata?.resourceVersion ?? '') : this.#applyWatched(object)));
      },
      onProgress: () => (this.#lastError = undefined),
      // Exactly the states #apply would ignore: usually this store's own
      // commit, already applied from the write's answer.
      alreadyHeld: (resourceVersion) => !isNewer(resourceVersion, this.#deleted ? this.#deletedAt : this.#state.resourceVersion),
      onError: (error) => (this.#lastError = error),
      onRestart: (reason) => this.#observer?.watchRestarted(reason),
      logger: this.#log,
      clock: this.#clock,
    });
  }

  /**
   * Opens a bucket: reads (or, with `create: true`, creates) its head (a
   * ConfigMap, or a Secret with `kind: 'Secret'`) and
   * starts the watch that keeps the cache current. Rejects with
   * BucketNotFoundError, ForbiddenError, FormatError (a newer format), or
   * InvalidOptionError naming the bad option.
   */
  static async open(options: OpenStoreOptions): Promise<ConfigMapStore> {
    const resolved = resolveOptions(options);
    const { api: kube, namespace, kubeConfig } = resolveAccess(options);
    // A missing namespace answers 404 like a missing bucket: on that path
    // only, ask which (the HTTP api only; a fake cluster has every namespace).
    const explain = async (error: Error) => (kubeConfig ? explainNotFound(kubeConfig, namespace, error, options.signal) : error);
    const api = new BucketApi(kube, namespace, resolved.name, { requestTimeoutMs: resolved.requestTimeoutMs, kind: resolved.kind });
    const abortable = <T>(promise: Promise<T>) => raceAbort(promise, options.signal, `open bucket ${resolved.name}`);

    // The signal goes to the requests too: an aborted open leaves nothing running.
    const request = { signal: options.signal };
    let object = await abortable(api.get(request));
    if (!object) {
      if (!options.create) throw await explain(new BucketNotFoundError(namespace, resolved.name));
      const created = await abortable(
        api.create(newBucket(resolved.name, options.app ?? 'kubekv'), request).catch(async (err: unknown) => {
          // A create answers 404 only when the namespace is missing.
          throw err instanceof ApiError && err.status === 404 ? await explain(err) : err;
        }),
      );
      object = created.ok ? created.object : await abortable(api.get(request));
      if (!object) throw new BucketNotFoundError(namespace, resolved.name);
      resolved.logger.info({ bucket: resolved.name, namespace }, 'created bucket');
    }
    const chunks = new ChunkSet(api.client, resolved.name);
    const state = await abortable(loadBucketState(api, chunks, object, options.signal));
    // `this`: called on a subclass, open makes an instance of it.
    const store = new this(kube, api, chunks, state, resolved);
    store.#watcher.start(state.resourceVersion);
    return store;
  }

  async get(key: string, options: ReadOptions = {}): Promise<KVPair | undefined> {
    checkKey(key);
    await this.#prepareRead(options);
    const entry = this.#state.entries.get(key);
    return entry ? pairIn(this.#state, entry) : undefined;
  }

  async exists(key: string, options: ReadOptions = {}): Promise<boolean> {
    checkKey(key);
    await this.#prepareRead(options);
    return this.#state.entries.has(key);
  }

  async list(prefix: string, options: ReadOptions = {}): Promise<KVPair[]> {
    checkPrefix(prefix);
    await this.#prepareRead(options);
    const state = this.#state;
    return [...state.entries.values()]
      .filter((e) => e.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((entry) => pairIn(state, entry));
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

  status(): StoreStatus {
    const contact = Math.max(this.#watcher.lastContactAt ?? -Infinity, this.#lastWriteAt ?? -Infinity);
    return {
      // A state the cache could not decode is a change it missed: not synced.
      synced: this.#decodeError === undefined,
      connected: this.#watcher.connected,
      stalenessMs: Number.isFinite(contact) ? Math.max(0, this.#clock.monotonic() - contact) : 0,
      revision: this.#state.revision,
      resourceVersion: this.#state.resourceVersion,
      lastError: this.#decodeError ?? this.#lastError,
    };
  }

  async put(key: string, value: Value, options: PutOptions = {}): Promise<KVPair> {
    const expiry = this.#expiryOf(options);
    const result = await this.#write([putOp(key, value, this.#compression, this.#maxValueBytes, expiry)], options);
    return pairOf(key, value, result.revision, expiry);
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

  async atomicPut(key: string, value: Value, previous?: Previous, options: PutOptions = {}): Promise<KVPair> {
    const expiry = this.#expiryOf(options);
    const result = await this.#write([atomicPutOp(key, value, previous, this.#compression, this.#maxValueBytes, expiry)], options);
    return pairOf(key, value, result.revision, expiry);
  }

  async atomicDelete(key: string, previous: Previous, options: CallOptions = {}): Promise<void> {
    await this.#write([atomicDeleteOp(key, previous)], options);
  }

  async batch(operations: BatchOperation[], options: CallOptions = {}): Promise<number> {
    const ops = batchOps(operations, this.#compression, this.#maxValueBytes, (entry, prefix) => this.#expiryOf(entry, prefix));
    if (ops.length === 0) return this.#state.revision;
    return (await this.#write(ops, options)).revision;
  }

  async teardown(options: CallOptions = {}): Promise<void> {
    this.#assertOpen();
    const timeoutMs = checkTimeout(options.timeoutMs) ?? this.#timeoutMs;
    const deadline = this.#clock.monotonic() + timeoutMs;
    // A conflict means a write landed meanwhile; teardown removes it too, so
    // it goes on until the bucket is gone or its deadline passes: it never
    // resolves with the bucket still there.
    const conflict = new Error('the bucket changed before its delete');
    // Whether the bucket may have chunks: its head referenced some, or this
    // store made some (orphans included). A bucket that never had any is
    // torn down without listing, as before chunks (no extra RBAC verb).
    let chunked = this.#madeChunks || this.#state.chunks.length > 0;
    await retryWithBackoff(async () => {
      if (this.#clock.monotonic() > deadline) {
        throw new DeadlineExceededError(`teardown of bucket ${this.namespace}/${this.name} did not complete within ${timeoutMs} ms; the bucket still exists`);
      }
      const current = await raceAbort(this.#api.get({ signal: options.signal }), options.signal, `teardown of ${this.name}`);
      if (!current) return;
      if (current.metadata?.annotations?.[CHUNKS_ANNOTATION] !== undefined || current.metadata?.annotations?.[MANIFEST_ANNOTATION] !== undefined) chunked = true;
      const result = await this.#api.remove(current.metadata?.resourceVersion ?? '', { signal: options.signal });
      if (!result.ok && result.reason === 'conflict') throw conflict;
    }, {
      clock: this.#clock,
      // Full jitter: 10 ms doubling to 1 s.
      backoff: new Backoff({ initialMs: 10, maxMs: 1000, jitter: 1 }),
      signal: options.signal,
      shouldRetry: (err) => err === conflict,
    }).catch((err: unknown) => {
      if (options.signal?.aborted && !(err instanceof KubekvError)) throw new AbortedError(`teardown of ${this.name}`, { cause: err });
      throw err;
    });
    try {
      // The head is gone, so every chunk is garbage; the cluster's garbage
      // collector would remove them too (ownerReferences), but not every
      // cluster runs one, or runs it promptly.
      const removed = chunked ? await deleteAllChunks(this.#api.client, this.name, bucketLabel(this.name), options.signal) : 0;
      this.#log.info({ bucket: this.name, namespace: this.namespace, chunks: removed }, 'deleted bucket');
    } finally {
      await this.close();
    }
  }

  newLock(key: string, options?: LockOptions): Lock {
    this.#assertOpen();
    const lock: Lock = new Lock({
      bucket: this.name,
      bucketLabel: bucketLabel(this.name),
      namespace: this.namespace,
      key,
      options,
      api: this.#kube,
      logger: this.#log,
      clock: this.#clock,
      onClose: () => this.#locks.delete(lock),
      observer: (this.#lockObserver ??= this.#metrics?.lock(this.namespace, this.name)),
      events: this.#lockEvents(),
    });
    this.#locks.add(lock);
    return lock;
  }

  async session(options?: SessionOptions): Promise<Session> {
    this.#assertOpen();
    const session = await Session.start({
      bucket: this.name,
      bucketLabel: bucketLabel(this.name),
      namespace: this.namespace,
      api: this.#kube,
      clock: this.#clock,
      logger: this.#log,
      endSession: (id) => this.#pipeline.submit([{ kind: 'endSession', session: id }]),
      onClose: (closed) => this.#sessions.delete(closed),
    }, options);
    if (this.#closed) {
      await session.close();
      throw new ClosedError(`store ${this.namespace}/${this.name}`);
    }
    this.#sessions.add(session);
    return session;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Sessions first, while the pipeline runs: each deletes its keys in one commit.
    await Promise.all([...this.#sessions].map((session) => session.close()));
    this.#stopping.abort();
    // Locks live in Leases of their own; release them first so waiters elsewhere go on at once.
    await Promise.all([...this.#locks].map((lock) => lock.close()));
    this.#sweeper.close();
    await this.#pipeline.close();
    await this.#watcher.stop();
    this.#hub.close();
    this.#observer?.close();
    await this.#events?.close();
  }

  /** Same as close(), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Internals for other kubekv modules, keyed by a symbol the package does
   * not export (`storeInternals`).
   *
   * @internal
   */
  get [storeInternals](): StoreInternals {
    return {
      setWriteHooks: (hooks) => (this.#hooks = hooks),
      raiseEpoch: async (epoch, leader, signal) => (await this.#pipeline.submit([{ kind: 'epoch', epoch, leader }], signal)).counts[0] === 1,
      setMaxStoredBytes: (bytes) => this.#pipeline.setMaxStoredBytes(bytes),
      setSweeping: (enabled) => this.#sweeper.setEnabled(enabled),
      sessionLeaseDueAt: (name) => this.#sweeper.leaseDueAt(name),
      expiryDueAt: (key) => {
        const session = this.#state.expiries.get(key)?.session;
        return session === undefined ? this.#sweeper.dueAt(key) : this.#sweeper.sessionDueAt(session);
      },
    };
  }

  /**
   * The expiry a write's options ask for, checked before anything is sent:
   * ttlMs (InvalidOptionError), or a session of this bucket that is active
   * (InvalidOptionError for another bucket's, SessionClosedError for a
   * closed or lost one); not both.
   */
  #expiryOf(options: ExpiryOptions | undefined, prefix = ''): PutExpiry | undefined {
    const ttlMs = checkTtl(options?.ttlMs, `${prefix}ttlMs`);
    const session = options?.session;
    if (session === undefined) return ttlMs === undefined ? undefined : { ttlMs };
    if (!(session instanceof Session)) throw new InvalidOptionError(`${prefix}session`, session, 'a Session from store.session()');
    if (session.bucket !== this.name || session.namespace !== this.namespace) {
      throw new InvalidOptionError(`${prefix}session`, session.id, `a session of bucket ${this.namespace}/${this.name}, not of ${session.namespace}/${session.bucket}`);
    }
    if (ttlMs !== undefined) throw new InvalidOptionError(`${prefix}ttlMs`, ttlMs, 'no ttlMs with a session: a session key lives as long as its session');
    session.assertActive();
    return { ttlMs: session.ttlMs, session: session.id };
  }

  async #write(ops: WriteOp[], options: CallOptions) {
    this.#assertOpen();
    const timeoutMs = checkTimeout(options.timeoutMs);
    if (this.#deleted) throw new BucketNotFoundError(this.namespace, this.name);
    return this.#pipeline.submit(ops, options.signal, timeoutMs);
  }

  async #prepareRead(options: ReadOptions): Promise<void> {
    this.#assertOpen();
    if (options.signal?.aborted) throw new AbortedError('read', { cause: options.signal.reason });
    if (options.consistent) {
      // A list by name rather than a GET: also a quorum read, and when the
      // bucket is gone its resourceVersion says as of when, so a late answer
      // older than that cannot bring the bucket back into the cache.
      const listed = await raceAbort(this.#api.list(`metadata.name=${this.name}`, { signal: options.signal }), options.signal, `read of bucket ${this.name}`);
      const object = listed.items.find((item) => item.metadata?.name === this.name);
      if (object) await raceAbort(this.#load(object, options.signal), options.signal, `read of bucket ${this.name}`);
      else this.#markDeleted(listed.resourceVersion);
    }
  }

  /**
   * Feeds a state of the bucket into the cache if it is newer than what the
   * cache holds (or than the deletion it saw); returns the cache's state.
   * Throws FormatError when the state cannot be decoded (the cache keeps the
   * last good state and status() reports the error until a later one decodes).
   */
  #apply(object: ConfigMapObject): BucketState {
    const rv = object.metadata?.resourceVersion ?? '';
    if (!isNewer(rv, this.#deleted ? this.#deletedAt : this.#state.resourceVersion)) return this.#state;
    let next: BucketState;
    try {
      next = parseBucket(object, this.#state, this.#chunks);
    } catch (err) {
      const error = err instanceof FormatError || err instanceof ChunkMissingError ? err : new FormatError('bucket content cannot be decoded', undefined, { cause: err });
      this.#fail(error);
      throw error;
    }
    if (next.manifest !== this.#state.manifest) this.#chunks.retain([...referencedChunks(next), ...this.#pinned.keys(), ...this.#loading.keys()]);
    if (this.#decodeError) this.#log.info({ bucket: this.name }, 'bucket content decodes again');
    this.#decodeError = undefined;
    const changes = diffStates(this.#state, next);
    this.#state = next;
    this.#deleted = false;
    this.#sweeper.observe(next);
    if (changes.length > 0) this.#hub.publish(changes);
    return next;
  }

  /**
   * Applies a state after loading the chunks it references. A chunk that is
   * gone may have been garbage collected after a newer head dropped it: the
   * head is read again, and only a head that still references it makes the
   * store report ChunkMissingError (keeping its last complete state).
   */
  async #load(object: ConfigMapObject, signal?: AbortSignal): Promise<BucketState> {
    let current = object;
    for (let attempt = 0; ; attempt++) {
      if (!isNewer(current.metadata?.resourceVersion ?? '', this.#deleted ? this.#deletedAt : this.#state.resourceVersion)) return this.#state;
      let head: HeadChunks;
      try {
        head = parseHeadChunks(current.metadata?.annotations);
      } catch {
        return this.#apply(current); // reports the FormatError
      }
      // Held while loading, so another load's retain() keeps them.
      const loading = head.manifest ? [head.manifest.name] : head.refs.map((ref) => ref.name);
      const hold = (names: readonly string[]) => {
        for (const name of names) this.#loading.set(name, (this.#loading.get(name) ?? 0) + 1);
      };
      hold(loading);
      let refs: readonly ChunkRef[] = head.refs ?? [];
      try {
        if (head.manifest) {
          refs = await this.#chunks.refsOf(current.metadata?.annotations, signal);
          const listed = refs.map((ref) => ref.name);
          hold(listed);
          loading.push(...listed);
        }
        // Another load may apply an older head while this one waits for its
        // chunks, and that head's retain() drops chunks only this one needs:
        // fetch again until every chunk is held at the moment of the apply
        // (a head is never parsed with a chunk missing from the set).
        // (The manifest chunk is among `loading`: retain() keeps it.)
        do await this.#chunks.load(refs, signal);
        while (this.#chunks.missing(refs).length > 0);
        return this.#apply(current);
      } catch (err) {
        if (!(err instanceof ChunkMissingError)) {
          // A chunk that is not what the head says it is (its manifest chunk
          // another kind of chunk, say) is final for this head: reported
          // like a head that cannot be decoded, or a follower would stay on
          // the state before it, synced as far as status() tells.
          if (err instanceof FormatError && this.#decodeError !== err) this.#fail(err);
          throw err;
        }
        const missing = head.manifest?.name === err.chunk ? head.manifest : refs.find((ref) => ref.name === err.chunk);
        // Usually garbage collection after a newer head dropped it (a slow reader).
        if (attempt < 3) this.#log.debug({ bucket: this.name, chunk: err.chunk, attempt }, 'a chunk of the head is gone; reading the head again');
        // A list by name, not a GET: when the bucket is gone, its
        // resourceVersion says as of when, so watch events older than the
        // deletion (still on their way) cannot bring it back (#markDeleted).
        let fresh: ConfigMapObject | undefined = current;
        if (attempt < 3) {
          const listed = await this.#api.list(`metadata.name=${this.name}`, { signal });
          fresh = listed.items.find((item) => item.metadata?.name === this.name);
          if (!fresh) {
            this.#markDeleted(listed.resourceVersion);
            return this.#state;
          }
        }
        let still = true;
        try {
          still = this.#stillReferences(fresh, missing);
        } catch {
          // A newer head that cannot be decoded: #apply reports it.
          still = false;
        }
        if (still) {
          this.#fail(err);
          throw err;
        }
        current = fresh;
      } finally {
        for (const name of loading) {
          const count = (this.#loading.get(name) ?? 1) - 1;
          if (count > 0) this.#loading.set(name, count);
          else this.#loading.delete(name);
        }
      }
    }
  }

  /**
   * Whether head `fresh` still references `missing` (its manifest chunk, or
   * a chunk its list names). A list in a manifest chunk this store does not
   * hold is not known to: false, and the caller loads that head.
   */
  #stillReferences(fresh: ConfigMapObject, missing: { name: string; uid: string } | undefined): boolean {
    if (!missing) return false;
    const head = parseHeadChunks(fresh.metadata?.annotations);
    if (head.manifest && head.manifest.name === missing.name && head.manifest.uid === missing.uid) return true;
    let refs: readonly ChunkRef[] = head.refs ?? [];
    if (head.manifest) {
      try {
        refs = this.#chunks.manifest(head.manifest);
      } catch {
        return false;
      }
    }
    return refs.some((ref) => ref.name === missing.name && ref.uid === missing.uid);
  }

  /** Records a state the cache cannot apply: status() reports it, open watch iterators end with it. */
  #fail(error: FormatError | ChunkMissingError): void {
    if (!this.#decodeError) this.#log.error({ bucket: this.name, code: error.code }, 'bucket content cannot be read whole; keeping the last good state');
    this.#decodeError = error;
    // Open watch iterators would otherwise skip this change silently.
    this.#hub.fail(error);
  }

  /** Runs watch deliveries one after another, in the order they came. */
  #inOrder(step: () => unknown): void {
    this.#watchChain = this.#watchChain.then(step).then(() => {}, () => {});
  }

  /**
   * #load for the watch loop: a decode failure is recorded, not thrown into
   * the loop. A failed chunk fetch is reported like a watch failure and
   * tried again after a pause, until it succeeds, a newer state arrives
   * (which tries in its turn) or the store closes: the last head of a bucket
   * nobody writes any more must still be applied.
   */
  async #applyWatched(object: ConfigMapObject): Promise<void> {
    this.#lastError = undefined;
    const resourceVersion = object.metadata?.resourceVersion ?? '';
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#load(object);
        if (attempt > 0) this.#lastError = undefined;
        return;
      } catch (err) {
        // A decode failure or missing chunk is recorded in #decodeError and
        // reported by status() and the iterators.
        if (!(err instanceof KubekvError) || err instanceof FormatError || err instanceof ChunkMissingError) return;
        this.#lastError = err;
      }
      if (this.#closed || this.#latestWatched !== resourceVersion) return;
      try {
        await sleep(this.#clock, Math.min(CHUNK_FETCH_RETRY_MAX_MS, 100 * 2 ** attempt), this.#stopping.signal);
      } catch {
        return; // closed
      }
      if (this.#closed || this.#latestWatched !== resourceVersion) return;
    }
  }

  #pin(names: readonly string[]): void {
    this.#madeChunks = true;
    for (const name of names) this.#pinned.set(name, (this.#pinned.get(name) ?? 0) + 1);
  }

  #unpin(names: readonly string[]): void {
    const referenced = new Set(referencedChunks(this.#state));
    for (const name of names) {
      const count = (this.#pinned.get(name) ?? 1) - 1;
      if (count > 0) {
        this.#pinned.set(name, count);
        continue;
      }
      this.#pinned.delete(name);
      if (!referenced.has(name) && !this.#loading.has(name)) this.#chunks.forget([name]);
    }
  }

  /**
   * The bucket is gone. `resourceVersion` is the revision that saw it gone
   * (a DELETED event or an empty list), so an answer older than that (a
   * patch response arriving late) does not bring it back; undefined when
   * unknown (a GET found nothing): then only a newer object than the cache
   * held counts.
   */
  #markDeleted(resourceVersion: string | undefined): void {
    if (this.#deleted) {
      if (resourceVersion && isNewer(resourceVersion, this.#deletedAt)) this.#deletedAt = resourceVersion;
      return;
    }
    const held = this.#state.resourceVersion;
    // An answer as of a version the cache has already moved past (a
    // consistent read that found no bucket, arriving after the watch applied
    // a recreated one) says nothing about now: cached reads never go back.
    if (resourceVersion && held !== '' && !isNewer(resourceVersion, held)) return;
    this.#deletedAt = resourceVersion && isNewer(resourceVersion, held) ? resourceVersion : held;
    this.#deleted = true;
    this.#decodeError = undefined;
    const empty = deletedState(this.#state);
    const changes = diffStates(this.#state, empty);
    this.#state = empty;
    this.#sweeper.observe(empty);
    this.#log.warn({ bucket: this.name, namespace: this.namespace, kind: this.kind }, 'bucket head was deleted');
    if (changes.length > 0) this.#hub.publish(changes);
  }

  /** The recorder of lock losses, made with the first lock (none with `events: false`). */
  #lockEvents(): EventRecorder | undefined {
    if (!this.#eventsEnabled) return undefined;
    this.#events ??= new EventRecorder({ api: this.#kube, namespace: this.namespace, reportingController: LOCK_CONTROLLER, logger: this.#log, clock: this.#clock });
    return this.#events;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`store ${this.namespace}/${this.name}`);
  }
}

