/**
 * The Store API's write calls (put, delete, atomicPut, atomicDelete, batch)
 * turned into the WriteOps a commit applies (commit.ts). One translation,
 * used by ConfigMapStore and by kubekv/testing's MemoryStore, so the double
 * checks keys, values, `previous` and batch entries exactly as the real
 * store does, with the same typed errors. Runs before any request is made.
 */
import { checkValueSize, encodeKey, encodeValue, validateValue, type CompressionOptions } from '../codec/index.js';
import { InvalidOptionError } from '../errors.js';
import type { WriteOp } from './commit.js';
import { lastIndexOf } from './inputs.js';
import type { BatchOperation, ExpiryOptions, Previous, Value } from './types.js';

/** Shortest TTL accepted: one second. */
export const MIN_TTL_MS = 1000;
/** Longest TTL accepted: one day. */
export const MAX_TTL_MS = 86_400_000;

/** What a put records about its key's expiry (see commit.ts). */
export interface PutExpiry {
  readonly ttlMs: number;
  readonly session?: string | undefined;
}

/**
 * Validates `ttlMs`: undefined, or a whole number of ms from 1 s to one day
 * (InvalidOptionError naming `option` otherwise).
 */
export function checkTtl(value: unknown, option = 'ttlMs'): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < MIN_TTL_MS || value > MAX_TTL_MS) {
    throw new InvalidOptionError(option, value, `a whole number of milliseconds from ${MIN_TTL_MS} (1 s) to ${MAX_TTL_MS} (one day)`);
  }
  return value;
}

/** The expiry a put's options ask for (validated), or undefined for a permanent key. */
export function expiryOf(options: ExpiryOptions | undefined, prefix = ''): PutExpiry | undefined {
  const ttlMs = checkTtl(options?.ttlMs, `${prefix}ttlMs`);
  return ttlMs === undefined ? undefined : { ttlMs };
}

/** A put of one key. */
export type PutOp = Extract<WriteOp, { kind: 'put' }>;

/**
 * put(key, value): the key encoded, the value validated, encoded (compressed
 * per `compression`) and size-checked against `maxValueBytes` (default what
 * one ConfigMap holds; a store that keeps large values in value chunks
 * passes more).
 */
export function putOp(key: string, value: Value, compression: CompressionOptions, maxValueBytes?: number, expiry?: PutExpiry): PutOp {
  const cmKey = encodeKey(key);
  const encoded = encodeValue(validateValue(value), compression);
  checkValueSize(key, encoded, maxValueBytes);
  return expiry ? { kind: 'put', key, cmKey, encoded, expiry } : { kind: 'put', key, cmKey, encoded };
}

/** atomicPut(key, value, previous): a put that expects the key absent (no `previous`) or at `previous`'s lastIndex. */
export function atomicPutOp(key: string, value: Value, previous: Previous | undefined, compression: CompressionOptions, maxValueBytes?: number, expiry?: PutExpiry): PutOp {
  return { ...putOp(key, value, compression, maxValueBytes, expiry), expect: previous === undefined ? 'absent' : lastIndexOf(previous) };
}

/** delete(key): unconditional. */
export function deleteOp(key: string): Extract<WriteOp, { kind: 'delete' }> {
  return { kind: 'delete', key, cmKey: encodeKey(key) };
}

/** atomicDelete(key, previous): `previous` is required (InvalidOptionError without it: never an unconditional delete). */
export function atomicDeleteOp(key: string, previous: Previous): Extract<WriteOp, { kind: 'delete' }> {
  const cmKey = encodeKey(key);
  return { kind: 'delete', key, cmKey, expect: lastIndexOf(previous) };
}

/**
 * batch(operations): every entry checked (InvalidOptionError names the bad
 * one) before anything is sent. `expiryOf` turns a put entry's expiry
 * options into what the op records (the store's: it also checks sessions).
 */
export function batchOps(
  operations: BatchOperation[],
  compression: CompressionOptions,
  maxValueBytes?: number,
  expiry: (entry: ExpiryOptions, prefix: string) => PutExpiry | undefined = expiryOf,
): WriteOp[] {
  if (!Array.isArray(operations)) throw new InvalidOptionError('operations', operations, 'an array of batch operations');
  return operations.map((operation, i): WriteOp => {
    if (operation?.op === 'put') {
      const expect = operation.expect === undefined || operation.expect === 'absent' ? operation.expect : lastIndexOf(operation.expect, `operations[${i}].expect`);
      return { ...putOp(operation.key, operation.value, compression, maxValueBytes, expiry(operation, `operations[${i}].`)), expect };
    }
    if (operation?.op === 'delete') {
      const cmKey = encodeKey(operation.key);
      return { kind: 'delete', key: operation.key, cmKey, expect: operation.expect === undefined ? undefined : lastIndexOf(operation.expect, `operations[${i}].expect`) };
    }
    throw new InvalidOptionError(`operations[${i}].op`, (operation as { op?: unknown } | undefined)?.op, "'put' or 'delete'");
  });
}
