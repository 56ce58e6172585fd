/**
 * The store's input checks and small helpers: open options resolved and
 * validated up front (InvalidOptionError names the option), key / prefix /
 * previous checks, the head a new bucket starts as, and abortable waits.
 * Everything here runs before a request is made.
 */
import { createHash } from 'node:crypto';
import type { ConfigMapObject } from '../kube/types.js';
import { MAX_TIMEOUT_MS, checkTimeout, systemClock, type Clock } from '../clock.js';
import {
  APP_NAME_LABEL,
  BUCKET_KINDS,
  BUCKET_LABEL,
  DEFAULT_COMPRESSION,
  FORMAT_ANNOTATION,
  FORMAT_VERSION,
  MANAGED_BY_LABEL,
  MAX_DATA_BYTES,
  MANAGED_BY_VALUE,
  REVISION_ANNOTATION,
  encodeKey,
  type BucketKind,
  type CompressionOptions,
} from '../codec/index.js';
import { AbortedError, InvalidKeyError, InvalidOptionError } from '../errors.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './bucket-api.js';
import { validateName } from '../kube/config.js';
import { resolveEvents } from '../events/lease-events.js';
import { silentLogger, type Logger } from '../logger.js';
import { resolveMetrics, type Metrics } from '../metrics/metrics.js';
import { EtcdBudget, type EtcdBudgetOptions } from './etcd-budget.js';
import { kvPair, type PairExpiry } from './kv-pair.js';
import { DEFAULT_COMPACT_BYTES } from './compaction.js';
import type { ChunkOptions, KVPair, OpenStoreOptions, Previous, Value } from './types.js';

export interface ResolvedOptions {
  name: string;
  logger: Logger;
  clock: Clock;
  compression: CompressionOptions;
  timeoutMs: number;
  requestTimeoutMs: number;
  /** Makes the store's (and its locks') metrics hooks; undefined without the `metrics` option. */
  metrics: Metrics | undefined;
  /** Record Kubernetes Events (lock losses). */
  events: boolean;
  /** What the store may make etcd store over time; undefined: no limit. */
  etcdBudget: EtcdBudget | undefined;
  /** The chunked layout's settings; undefined with `chunks: false` (this store never creates chunks). */
  chunks: Required<ChunkOptions> | undefined;
  /** The kind of object the bucket is stored in. */
  kind: BucketKind;
  /** Whether the store deletes expired keys (OpenStoreOptions.sweep). */
  sweep: boolean;
}

/** Default of {@link ChunkOptions.largeValueBytes}. */
export const DEFAULT_LARGE_VALUE_BYTES = 64 * 1024;
/** Default of {@link ChunkOptions.gcGraceMs}. */
export const DEFAULT_GC_GRACE_MS = 10 * 60_000;

/** Validates the `chunks` option: false, or its fields with their defaults. */
export function resolveChunkOptions(value: unknown): Required<ChunkOptions> | undefined {
  if (value === false) return undefined;
  if (value !== undefined && value !== true && (typeof value !== 'object' || value === null)) {
    throw new InvalidOptionError('chunks', value, 'false, or { compactBytes?, largeValueBytes?, gcGraceMs? }');
  }
  const options = (typeof value === 'object' ? value : {}) as ChunkOptions;
  const bytes = (option: string, v: unknown, min: number, max: number, fallback: number) => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new InvalidOptionError(option, v, `a whole number of bytes within [${min}, ${max}]`);
    return v;
  };
  return {
    compactBytes: bytes('chunks.compactBytes', options.compactBytes, 1, MAX_DATA_BYTES / 2, DEFAULT_COMPACT_BYTES),
    largeValueBytes: bytes('chunks.largeValueBytes', options.largeValueBytes, 1, MAX_DATA_BYTES / 2, DEFAULT_LARGE_VALUE_BYTES),
    gcGraceMs: bytes('chunks.gcGraceMs', options.gcGraceMs, 0, MAX_TIMEOUT_MS, DEFAULT_GC_GRACE_MS),
  };
}

/** Default deadline of a write (OpenStoreOptions.timeoutMs). */
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;


export function resolveOptions(options: OpenStoreOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object with at least `name`');
  const name = validateName('name', options.name);
  const timeoutMs = checkTimeout(options.timeoutMs) ?? DEFAULT_WRITE_TIMEOUT_MS;
  const requestTimeoutMs = checkTimeout(options.requestTimeoutMs, 'requestTimeoutMs') ?? DEFAULT_REQUEST_TIMEOUT_MS;
  let compression: CompressionOptions;
  if (options.compression === undefined || options.compression === true) compression = { ...DEFAULT_COMPRESSION };
  else if (options.compression === false) compression = { ...DEFAULT_COMPRESSION, enabled: false };
  else if (typeof options.compression === 'object') compression = { ...DEFAULT_COMPRESSION, ...options.compression };
  else throw new InvalidOptionError('compression', options.compression, 'a boolean or { enabled?, minBytes?, minSavings? }');
  if (typeof compression.enabled !== 'boolean') throw new InvalidOptionError('compression.enabled', compression.enabled, 'a boolean');
  if (!(Number.isFinite(compression.minBytes) && compression.minBytes! >= 0)) throw new InvalidOptionError('compression.minBytes', compression.minBytes, 'a non-negative number of bytes');
  if (!(compression.minSavings! >= 0 && compression.minSavings! < 1)) throw new InvalidOptionError('compression.minSavings', compression.minSavings, 'a fraction within [0, 1)');
  if (options.app !== undefined) validateLabelValue('app', options.app);
  const metrics = resolveMetrics(options.metrics);
  const events = resolveEvents(options.events);
  const clock = options.clock ?? systemClock;
  const budget = resolveEtcdBudget(options.etcdBudget);
  const etcdBudget = budget === false ? undefined : new EtcdBudget(clock, budget);
  const chunks = resolveChunkOptions(options.chunks);
  const kind = resolveKind(options.kind);
  if (options.sweep !== undefined && typeof options.sweep !== 'boolean') throw new InvalidOptionError('sweep', options.sweep, 'a boolean');
  const sweep = options.sweep ?? true;
  return { name, logger: options.logger ?? silentLogger, clock, compression, timeoutMs, requestTimeoutMs, metrics, events, etcdBudget, chunks, kind, sweep };
}

/** Validates the `kind` option: 'ConfigMap' (the default) or 'Secret'. */
export function resolveKind(value: unknown): BucketKind {
  if (value === undefined) return 'ConfigMap';
  if (!BUCKET_KINDS.includes(value as BucketKind)) throw new InvalidOptionError('kind', value, `one of ${BUCKET_KINDS.map((k) => `'${k}'`).join(', ')}`);
  return value as BucketKind;
}

/** Validates the `etcdBudget` option (the numbers are checked by EtcdBudget itself). */
function resolveEtcdBudget(value: OpenStoreOptions['etcdBudget']): EtcdBudgetOptions | false {
  if (value === undefined || value === true) return {};
  if (value === false) return false;
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError('etcdBudget', value, 'false, or { bytes?, windowMs? }');
  for (const key of Object.keys(value)) {
    if (key !== 'bytes' && key !== 'windowMs') throw new InvalidOptionError(`etcdBudget.${key}`, (value as Record<string, unknown>)[key], 'no such option (bytes, windowMs)');
  }
  return value;
}

export function newBucket(name: string, app: string): ConfigMapObject {
  return {
    metadata: {
      name,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [APP_NAME_LABEL]: app, [BUCKET_LABEL]: bucketLabel(name) },
      annotations: { [FORMAT_ANNOTATION]: String(FORMAT_VERSION), [REVISION_ANNOTATION]: '0' },
    },
  };
}

/**
 * The bucket label value: the name itself when it fits a label (<= 63), else
 * a prefix cut back to an alphanumeric plus a hash of the full name, so the
 * value stays valid and distinct.
 */
export function bucketLabel(name: string): string {
  if (name.length <= 63) return name;
  const prefix = name.slice(0, 54).replace(/[^a-z0-9]+$/, '');
  return `${prefix}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

export function checkKey(key: unknown): void {
  // encodeKey validates (type, emptiness, UTF-8, encoded length).
  encodeKey(key);
}

export function checkPrefix(prefix: unknown): void {
  if (typeof prefix !== 'string') throw new InvalidKeyError(`prefix must be a string, got ${prefix === null ? 'null' : typeof prefix}`);
  if (!prefix.isWellFormed()) throw new InvalidKeyError('prefix is not well-formed UTF-16 (lone surrogate)');
}

/**
 * The lastIndex a conditional write compares with.
 *
 * @param option - the option's name for the error (`previous`, or a batch entry's `operations[i].expect`)
 */
export function lastIndexOf(previous: Previous, option = 'previous'): number {
  const index = typeof previous === 'number' ? previous : (previous as { lastIndex?: unknown } | null)?.lastIndex;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw new InvalidOptionError(option, previous, 'a KVPair from this store or its lastIndex (a non-negative integer)');
  }
  return index;
}

/** The pair a write resolves with: `value` as written (a copy), at `lastIndex`, with the expiry it was written with. */
export function pairOf(key: string, value: Value, lastIndex: number, expiry?: PairExpiry): KVPair {
  return kvPair(key, typeof value === 'string' ? new TextEncoder().encode(value) : value.slice(), lastIndex, expiry);
}

export function validateLabelValue(option: string, value: unknown): void {
  if (typeof value !== 'string' || value.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value)) {
    throw new InvalidOptionError(option, value, 'a label value: at most 63 alphanumerics, "-", "_" or "."');
  }
}

export async function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) throw new AbortedError(what, { cause: signal.reason });
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError(what, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
