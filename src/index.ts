/**
 * kubekv: safe shared state for multi-replica Kubernetes apps.
 *
 * This file names every public export; anything not listed here is internal
 * and may change without notice.
 *
 * @packageDocumentation
 * @module kubekv
 */

// First: refuses an unsupported Node.js in words, before any dependency loads.
import './node-check.js';

export {
  KubekvError,
  KeyNotFoundError,
  KeyExistsError,
  KeyModifiedError,
  InvalidKeyError,
  InvalidValueError,
  ValueTooLargeError,
  BucketFullError,
  BucketNotFoundError,
  ForbiddenError,
  UnavailableError,
  ConflictError,
  FormatError,
  ClosedError,
  AbortedError,
  InvalidOptionError,
  NotLeaderError,
  FencedError,
  ApiError,
  LockHeldError,
  OutcomeUnknownError,
  DeadlineExceededError,
  NamespaceNotFoundError,
  LeaseNotFoundError,
  ChunkMissingError,
  SessionClosedError,
} from './errors.js';
export type { KubekvErrorCode, KubekvErrorOptions } from './errors.js';

export { ConfigMapStore, DEFAULT_ETCD_BUDGET, Session } from './store/index.js';
export type {
  BatchOperation,
  EtcdBudgetOptions,
  CallOptions,
  ChunkOptions,
  KVPair,
  KVPairJSON,
  KVPairTextJSON,
  KVPairBinaryJSON,
  KeyEvent,
  DeleteReason,
  ExpiryOptions,
  OpenStoreOptions,
  Previous,
  PutOptions,
  ReadOptions,
  SessionOptions,
  ReadableStore,
  Store,
  StoreStatus,
  TreeEvent,
  Value,
} from './store/index.js';
export type { BucketKind, CompressionOptions } from './codec/index.js';
export type { Logger, LogFn } from './logger.js';
export { silentLogger } from './logger.js';
export type { Clock, TimerHandle } from './clock.js';
export type { KubeConfigLocation, KubeConfigSource } from './kube/config.js';
export { systemClock } from './clock.js';

export { LeaseElector } from './election/index.js';
export type { CoordinatedOptions, HandoffOptions, LeaderInfo, LeaseElectorOptions, ReleaseOutcome, ResignOptions } from './election/index.js';
export { StateManager, healthHandler } from './state/index.js';
export type { FollowerContext, HealthOptions, LeaderContext, StateManagerApi, StateManagerOptions, StateStatus, StepDownOptions } from './state/index.js';
export type { Lock, LockAcquireOptions, LockHandle, LockInfo, LockOptions } from './lock/index.js';
export type { MetricsOptions, MetricsRegistry } from './metrics/index.js';
// The port to Kubernetes (the `api` option); kubekv/testing's FakeCluster implements it in memory.
export type {
  Deleted,
  DeletePreconditions,
  DeleteResult,
  GetOptions,
  KubeApi,
  ListOptions,
  LostRace,
  MergePatch,
  ObjectList,
  PatchOptions,
  PatchResult,
  RequestOptions,
  ResourceClient,
  WatchOptions,
  Written,
  WrittenUnparsed,
  WriteResult,
} from './kube/api.js';
export type { WatchEvent } from './kube/watch-stream.js';
export type { ConfigMapObject, EventObject, EventRegarding, KubeObject, LeaseCandidateObject, LeaseObject, ObjectMeta, SecretObject } from './kube/types.js';
