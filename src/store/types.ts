/**
 * The contracts of the key/value store, apart from its implementation: a
 * read-only view ({@link ReadableStore}, what a follower hands out) and the
 * writable store that extends it ({@link Store}). The operations mirror
 * docker/libkv's Store in TypeScript idiom.
 */
import type { KubeApi } from '../kube/api.js';
import type { KubeConfigSource } from '../kube/config.js';
import type { KubeConfig } from '../kube/types.js';
import type { Clock } from '../clock.js';
import type { BucketKind, CompressionOptions } from '../codec/index.js';
import type { Lock, LockOptions } from '../lock/lock.js';
import type { Logger } from '../logger.js';
import type { MetricsOptions } from '../metrics/metrics.js';
import type { EtcdBudgetOptions } from './etcd-budget.js';
import type { Session, SessionOptions } from './session.js';

/** A key with its value and per-key revision. */
export interface KVPair {
  /** The user key. */
  readonly key: string;
  /** The value's bytes. */
  readonly value: Uint8Array;
  /** The value as UTF-8 text (invalid sequences become U+FFFD). */
  readonly text: string;
  /**
   * The bucket revision at which this key last changed (etcd mod_revision
   * semantics). Pass the pair (or this number) to atomicPut/atomicDelete to
   * make the write conditional on the key not having changed since. Keys a
   * kubekv writer never touched (made with kubectl) have lastIndex 0.
   */
  readonly lastIndex: number;
  /**
   * The key's time to live in ms, when it was written with one (or with a
   * session: then the session's TTL). The key is deleted once that long has
   * passed since this write without another write of the key; see
   * {@link PutOptions.ttlMs}. Absent for a key that does not expire.
   */
  readonly ttlMs?: number;
  /** The {@link Session.id} the key is bound to, when it was written with `session`. */
  readonly session?: string;
  /**
   * What `JSON.stringify(pair)` writes: the value as `text` when its bytes
   * are valid UTF-8, else as `base64` (the form `kubekv get -o json` prints).
   * Every pair kubekv hands out has it; optional so that pairs an app builds
   * itself (say, in a fake of its own) still type-check.
   */
  toJSON?(): KVPairJSON;
}

/** The JSON form of a {@link KVPair} whose value is valid UTF-8. */
export interface KVPairTextJSON {
  /** The user key. */
  key: string;
  /** The pair's lastIndex. */
  lastIndex: number;
  /** The pair's ttlMs, when the key expires. */
  ttlMs?: number;
  /** The pair's session, when the key is bound to one. */
  session?: string;
  /** The value, as text. */
  text: string;
}

/** The JSON form of a {@link KVPair} whose value is not valid UTF-8. */
export interface KVPairBinaryJSON {
  /** The user key. */
  key: string;
  /** The pair's lastIndex. */
  lastIndex: number;
  /** The pair's ttlMs, when the key expires. */
  ttlMs?: number;
  /** The pair's session, when the key is bound to one. */
  session?: string;
  /** The value's bytes, base64-encoded. */
  base64: string;
}

/** The JSON form of a {@link KVPair}: exactly one of `text` and `base64`. */
export type KVPairJSON = KVPairTextJSON | KVPairBinaryJSON;

/** A value as accepted by writes: bytes, or a string stored as UTF-8. */
export type Value = Uint8Array | string;

/** What a conditional write compares with: a pair read earlier, or its lastIndex. */
export type Previous = Pick<KVPair, 'lastIndex'> | number;

/** Options of every call that waits. */
export interface CallOptions {
  /**
   * Withdraws a write while no request that may apply it is outstanding
   * (AbortedError: not stored); once one is, the outcome stands and is
   * awaited, within the deadline. Aborts a read's wait.
   */
  signal?: AbortSignal;
  /**
   * Deadline of a write (and of teardown), in ms from the call: the most it
   * waits through contention, retries and an unreachable API server. When it
   * passes, the write rejects with DeadlineExceededError (not stored) or, if
   * a request that may have applied it could not be resolved,
   * OutcomeUnknownError. Default: the store's `timeoutMs`.
   */
  timeoutMs?: number;
}

/**
 * How long a written key lives (docs/semantics.md "Expiry"). At most one of
 * the two; a write without either makes the key permanent again.
 */
export interface ExpiryOptions {
  /**
   * Time to live in ms: the key is deleted (by a deletion commit, which
   * watchers see with `reason: 'expired'`) once this long has passed since
   * this write without another write of the key. A whole number from 1000
   * (1 s) to 86400000 (one day). Measured by whoever sweeps (a plain store,
   * or a StateManager's leader) on its own clock from when it saw this
   * write: never early, late by up to one TTL after a sweeper change, and
   * nothing expires while no store of the bucket is open.
   */
  ttlMs?: number;
  /**
   * Binds the key to a session of this bucket (`store.session()`): it is
   * deleted when the session is closed (in one commit), or when the
   * session's Lease has gone unrenewed for the session's TTL (its owner
   * died). Not with `ttlMs`. SessionClosedError when the session is closed
   * or lost, InvalidOptionError for a session of another bucket; nothing is
   * written then.
   */
  session?: Session;
}

/** Options of put and atomicPut: those of every write, and the key's expiry. */
export interface PutOptions extends CallOptions, ExpiryOptions {}

/** Options of reads. */
export interface ReadOptions extends CallOptions {
  /**
   * Read through a quorum GET of the ConfigMap instead of the local cache,
   * seeing every write acknowledged anywhere before this call. Default false:
   * the cache (a leader sees its own writes; a follower may lag its watch).
   */
  consistent?: boolean;
}

/** One operation of a {@link Store.batch}. */
export type BatchOperation =
  | {
      /** Sets `key` to `value`. */
      op: 'put';
      /** The key to set. */
      key: string;
      /** The value to store. */
      value: Value;
      /** Condition: the key must be absent ('absent') or at this revision. Default: none. */
      expect?: 'absent' | Previous;
      /** The key's time to live in ms, as {@link PutOptions.ttlMs}. */
      ttlMs?: number;
      /** The session the key is bound to, as {@link PutOptions.session}. */
      session?: Session;
    }
  | {
      /** Deletes `key`. */
      op: 'delete';
      /** The key to delete. */
      key: string;
      /** Condition: the key must exist at this revision. Default: none (a missing key is not an error). */
      expect?: Previous;
    };

/**
 * Why a key was deleted: `'deleted'` by a delete, deleteTree, atomicDelete
 * or batch; `'expired'` by its TTL running out or its session ending.
 */
export type DeleteReason = 'deleted' | 'expired';

/** An event of {@link ReadableStore.watch}. */
export interface KeyEvent {
  /** The key watched. */
  key: string;
  /** The current pair, or undefined when the key is absent (deleted or never set). */
  pair: KVPair | undefined;
  /** Set on a change that deleted the key: why. Absent on the first event and on puts. */
  reason?: DeleteReason;
  /** Bucket revision of this state. */
  revision: number;
}

/** An event of {@link ReadableStore.watchTree}: first a snapshot, then each change in order. */
export type TreeEvent =
  | {
      /** The first event: every pair under the prefix at `revision`. */
      type: 'snapshot';
      /** The pairs under the prefix, sorted by key. */
      pairs: KVPair[];
      /** Bucket revision of this state. */
      revision: number;
    }
  | {
      /** A key under the prefix was set. */
      type: 'put';
      /** The key's new pair. */
      pair: KVPair;
      /** Bucket revision of this change. */
      revision: number;
    }
  | {
      /** A key under the prefix was deleted. */
      type: 'delete';
      /** The key deleted. */
      key: string;
      /** Bucket revision of this change. */
      revision: number;
      /** Whether the key was deleted by a write or expired. */
      reason: DeleteReason;
    };

/** Health of a store's cache. */
export interface StoreStatus {
  /**
   * True while the cache holds the newest state it was sent: false when a
   * newer state of the bucket could not be decoded (the cache missed a
   * change; `lastError` is the FormatError) until a later state decodes.
   */
  synced: boolean;
  /** True while the watch that feeds the cache is connected. */
  connected: boolean;
  /**
   * Milliseconds since the cache last heard from the API server (an event,
   * bookmark, list or write response); an upper bound on how stale a cached
   * read may be while `connected` is false.
   */
  stalenessMs: number;
  /** The bucket revision the cache holds. */
  revision: number;
  /** The ConfigMap resourceVersion the cache holds. */
  resourceVersion: string;
  /** Why the cache is not current: a decode failure (FormatError), or the watch loop's failure while it retries. */
  lastError: Error | undefined;
}

/** Reads of a bucket; what a follower may hand out. */
export interface ReadableStore {
  /** Bucket (ConfigMap) name. */
  readonly name: string;
  /** Namespace of the bucket. */
  readonly namespace: string;
  /** Resolves once the initial state is loaded (already true after open()). */
  readonly ready: Promise<void>;
  /** The pair for `key`, or undefined when it does not exist. */
  get(key: string, options?: ReadOptions): Promise<KVPair | undefined>;
  /** True when `key` exists. */
  exists(key: string, options?: ReadOptions): Promise<boolean>;
  /** Every pair whose key starts with `prefix` ('' for all), sorted by key. */
  list(prefix: string, options?: ReadOptions): Promise<KVPair[]>;
  /** The key's current state, then every change to it, until the signal aborts or the store closes. */
  watch(key: string, options?: CallOptions): AsyncIterable<KeyEvent>;
  /** A snapshot of the keys under `prefix`, then every put and delete under it, in order. */
  watchTree(prefix: string, options?: CallOptions): AsyncIterable<TreeEvent>;
  /** Cache health, e.g. for a readiness probe. */
  status(): StoreStatus;
}

/** The writable bucket. Every write is a compare-and-swap on the ConfigMap's resourceVersion. */
export interface Store extends ReadableStore {
  /**
   * Sets `key` to `value` unconditionally (still a CAS underneath: no
   * concurrent update is lost); with `ttlMs` or `session` the key expires
   * (see {@link ExpiryOptions}).
   */
  put(key: string, value: Value, options?: PutOptions): Promise<KVPair>;
  /** Deletes `key`; resolves false when it did not exist. */
  delete(key: string, options?: CallOptions): Promise<boolean>;
  /** Deletes every key under `prefix` in one write; resolves with how many were deleted. */
  deleteTree(prefix: string, options?: CallOptions): Promise<number>;
  /**
   * Without `previous`: creates `key`, rejecting with KeyExistsError if present.
   * With `previous`: replaces it only if its lastIndex still matches
   * (KeyModifiedError otherwise, KeyNotFoundError if it is gone).
   */
  atomicPut(key: string, value: Value, previous?: Previous, options?: PutOptions): Promise<KVPair>;
  /** Deletes `key` only if its lastIndex still matches `previous` (KeyModifiedError / KeyNotFoundError otherwise). */
  atomicDelete(key: string, previous: Previous, options?: CallOptions): Promise<void>;
  /**
   * Applies all operations in one atomic write, or none: if any condition
   * fails, the call rejects with that key's error and nothing changes.
   * Resolves with the new bucket revision.
   */
  batch(operations: BatchOperation[], options?: CallOptions): Promise<number>;
  /** Deletes the bucket's ConfigMap (and everything in it), then closes the store. */
  teardown(options?: CallOptions): Promise<void>;
  /**
   * A lock named `key` in this bucket, held in a Lease of its own (not a key:
   * list() never shows it). Makes no request; call `lock()` on the result to
   * acquire. Each call returns a new contender with its own identity. The key
   * is validated like a store key (InvalidKeyError), the options up front
   * (InvalidOptionError naming the option). See src/lock/lock.ts for what a
   * lock does and does not guarantee.
   */
  newLock(key: string, options?: LockOptions): Lock;
  /**
   * Starts a session of this bucket, held in a Lease of its own that this
   * process renews (see src/store/session.ts): keys written with
   * `{ session }` are deleted when it is closed, or when its owner dies and
   * the Lease goes unrenewed for `ttlMs`. Resolves once the Lease is held;
   * close() of the store closes its sessions.
   */
  session(options?: SessionOptions): Promise<Session>;
  /**
   * Closes the store's open Locks (unlocking held ones), then stops the watch
   * and rejects queued writes with ClosedError; in-flight writes finish first.
   */
  close(): Promise<void>;
  /** Same as close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Settings of the chunked layout (docs/format.md "Chunks"): a bucket's head
 * stays small and the bulk of its keys lives in immutable chunk ConfigMaps,
 * so a bucket can hold far more than one ConfigMap and each commit costs the
 * cluster what the head weighs, not what the bucket weighs.
 */
export interface ChunkOptions {
  /**
   * Bytes of the head's inline part (its entries, index and tombstones, as
   * etcd stores them) past which this store, after a commit, moves them
   * into a chunk (compaction). Every commit rewrites the head, so this
   * bounds what a put costs etcd and every watcher. Smaller: cheaper puts,
   * more frequent compactions. @defaultValue 16384
   */
  compactBytes?: number;
  /**
   * Encoded values larger than this many bytes are written into value
   * chunks before the commit, and the head keeps a reference: a large value
   * is written once, never rewritten by later commits. @defaultValue 65536
   */
  largeValueBytes?: number;
  /**
   * Milliseconds a chunk no head references is kept before this store's
   * garbage collection deletes it, measured on the store's clock from when
   * it first saw it unreferenced: how long a slow reader may take to fetch
   * a head's chunks. (A writer's commit in flight is protected whatever
   * this is: see `kubekv.dev/since-revision` in docs/format.md.)
   * @defaultValue 600000 (10 minutes)
   */
  gcGraceMs?: number;
}

/** Options of {@link ConfigMapStore.open}: where the bucket is, its object kind, and how the store behaves. */
export interface OpenStoreOptions {
  /** Bucket name = the name of its head object, a ConfigMap or Secret (a DNS-1123 subdomain). */
  name: string;
  /** Namespace; default: NAMESPACE env, the service-account namespace, the kubeconfig context, "default". */
  namespace?: string;
  /**
   * Cluster access: a client-node KubeConfig, or where to find one (a
   * kubeconfig path, or `{ path?, context? }`, as kubectl's `--kubeconfig`
   * and `--context`); default: in-cluster, else KUBECONFIG, else ~/.kube/config.
   */
  kubeConfig?: KubeConfig | KubeConfigSource;
  /**
   * The port to Kubernetes (src/kube/api.ts) every request goes through.
   * Default: the HTTP api of `kubeConfig`. kubekv/testing's FakeCluster
   * gives an in-memory one, so the same code runs in unit tests.
   */
  api?: KubeApi;
  /** App name for the app.kubernetes.io/name label of a created bucket. Default "kubekv". */
  app?: string;
  /** Create the bucket (its head object) if it does not exist. Default false: a missing bucket is BucketNotFoundError. */
  create?: boolean;
  /** Value compression; see CompressionOptions. Default: gzip values >= 1 KiB that shrink by >= 10%. */
  compression?: CompressionOptions | boolean;
  /** Aborts opening. */
  signal?: AbortSignal;
  /** pino-compatible logger; keys and values are never logged. Default: silent. */
  logger?: Logger;
  /** Time source; default the system clock. */
  clock?: Clock;
  /**
   * Default deadline of each write, in ms (see CallOptions.timeoutMs).
   * Contention never fails a write before it: conflicts are retried with
   * full-jitter backoff (a window of 5 ms doubling to 250 ms). Default 30000.
   */
  timeoutMs?: number;
  /**
   * Most ms one API request may take, response included; a request that
   * hangs (a black-holed connection) is abandoned then, and a write whose
   * request was abandoned learns its outcome by reading the bucket.
   * Default 10000.
   */
  requestTimeoutMs?: number;
  /**
   * Prometheus metrics of this bucket and its locks (writes by result,
   * latency, CAS conflicts, retries, fenced writes, cache staleness, watch
   * restarts, lock holds and losses), registered in the given prom-client
   * Registry; several stores may share one. Needs prom-client installed (an
   * optional peer dependency; InvalidOptionError if it is missing). Default:
   * none, and nothing is registered anywhere. See docs/observability.md.
   */
  metrics?: MetricsOptions;
  /**
   * What this store may make etcd store over time, so that one busy bucket
   * cannot fill etcd's database (its quota is 2 GiB by default; when it is
   * full, every write in the cluster fails until an operator steps in). Each
   * commit that may have landed costs the bytes etcd stores for the new
   * version of the bucket (all of it, not only what changed: etcd keeps
   * every revision until the API server compacts, every 5 minutes by
   * default). Over the budget, writes are not refused: they queue, go out
   * together in the next commit, and each still ends by its own deadline.
   * Default `{ bytes: 171798691, windowMs: 300000 }`: 8% of the default
   * quota within any 5 minutes, so that with etcd's own overhead the
   * database grows by at most about 10% of the quota. `false`: no limit. Per store
   * instance. See `kubekv_etcd_bytes_written_total` in docs/observability.md.
   */
  etcdBudget?: EtcdBudgetOptions | boolean;
  /**
   * Record Kubernetes Events (events.k8s.io/v1) about this bucket's locks:
   * a Warning `LockLost` regarding a lock's Lease when a held lock is lost.
   * Best effort: rate limited, never delays or fails an operation; needs
   * `create` on events.k8s.io events (deploy/rbac.yaml grants it), and
   * without it they are dropped (logged at debug). Default true; false turns
   * them off.
   */
  events?: boolean;
  /**
   * The chunked layout (see {@link ChunkOptions}): on by default. `false`
   * makes this store write the single-ConfigMap layout only (format 1, as
   * kubekv before chunks; values and bucket within one ConfigMap's limits),
   * e.g. during a rolling upgrade from a kubekv that cannot read chunks. A
   * store with `false` still reads, and writes the head of, a bucket that
   * another store chunked.
   */
  chunks?: ChunkOptions | false;
  /**
   * The kind of Kubernetes object the bucket is stored in: `'ConfigMap'`
   * (the default), or `'Secret'` for state that should get the cluster's
   * encryption at rest and RBAC of its own (operators grant `secrets` far
   * more sparingly than `configmaps`; deploy/rbac.yaml has an optional Role
   * for it). Everything else is the same on both: the layout (head and
   * chunks, which are of the same kind), the annotations, the CAS on every
   * write, the three endings, fencing and the size limits (1 MiB of values
   * per object). A Secret bucket's values are base64 in the Secret's `data`
   * (docs/format.md "Secret buckets"); kubekv never logs a key or a value,
   * nor puts one in an error message. A bucket of one kind is not found
   * under the other: a store opened with the wrong kind gets
   * BucketNotFoundError (or, with `create: true`, a new, separate bucket).
   * Default 'ConfigMap'.
   */
  kind?: BucketKind;
  /**
   * Whether this store deletes the bucket's expired keys (TTL run out,
   * session ended): each sweeper times a key on its own clock from when it
   * saw the key's current write, and deletes it with a conditional delete
   * on its lastIndex, so several sweepers are safe. Under a StateManager
   * only the leader sweeps, whatever this says. Default true.
   */
  sweep?: boolean;
}
