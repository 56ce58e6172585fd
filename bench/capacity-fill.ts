/**
 * The buckets of the capacity benchmark: their shapes (bytes of values and
 * number of keys), the incompressible values that fill them, and the fill
 * itself.
 *
 * Values are pseudo-random bytes from AES-128-CTR keyed by the bucket and
 * the key's number: incompressible (gzip cannot shrink them, so compression
 * does not flatter any layout) and reproducible, so a check can tell a value
 * read back is the one written without keeping 64 MiB of them in memory.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { BucketFullError, ValueTooLargeError, type BatchOperation, type Store } from '../src/index.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/** One bucket size of the benchmark. */
export interface BucketShape {
  /** Row label, e.g. "10 KiB" or "64 MiB, 100,000 keys". */
  label: string;
  /** Bytes of values. */
  bytes: number;
  /** Keys (`fill/<n>`), the bytes spread evenly over them. */
  keys: number;
}

/** Value size of the default shapes: keys = bytes / this, rounded up. */
export const DEFAULT_VALUE_BYTES = 8 * KIB;

/**
 * Parses a list such as `10K,100K,900K,64M:100000`: a size in KiB (a bare
 * number or `K`) or MiB (`M`), optionally `:keys` (default: one key per
 * {@link DEFAULT_VALUE_BYTES}). Throws naming the bad entry.
 */
export function parseShapes(spec: string): BucketShape[] {
  return spec.split(',').map((entry) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([KkMm]?)\s*(?::\s*(\d+))?\s*$/.exec(entry);
    if (!match) throw new Error(`bucket size ${JSON.stringify(entry)}: expected <number>[K|M][:<keys>], e.g. 900K or 64M:100000`);
    const bytes = Math.round(Number(match[1]) * (match[2]!.toUpperCase() === 'M' ? MIB : KIB));
    const keys = match[3] ? Number(match[3]) : Math.max(1, Math.ceil(bytes / DEFAULT_VALUE_BYTES));
    if (!(bytes > 0 && keys > 0 && keys <= bytes)) throw new Error(`bucket size ${JSON.stringify(entry)}: needs bytes > 0 and 1 <= keys <= bytes`);
    const size = bytes >= MIB ? `${+(bytes / MIB).toFixed(2)} MiB` : `${+(bytes / KIB).toFixed(2)} KiB`;
    const label = match[3] ? `${size}, ${keys.toLocaleString('en-US')} keys` : size;
    return { label, bytes, keys };
  });
}

/** The size of value `index` of `shape`: the bytes spread evenly, the first ones one byte larger. */
export function valueSize(shape: BucketShape, index: number): number {
  const base = Math.floor(shape.bytes / shape.keys);
  return base + (index < shape.bytes % shape.keys ? 1 : 0);
}

/** The key of value `index`. */
export function fillKey(index: number): string {
  return `fill/${index}`;
}

/** Value `index` of bucket `seed`: `size` incompressible, reproducible bytes. */
export function fillValue(seed: string, index: number, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 0);
  return createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(size));
}

/** What a fill did. */
export interface FillResult {
  /** Keys and bytes of values accepted. */
  keys: number;
  bytes: number;
  /** Batches accepted. */
  commits: number;
  seconds: number;
  /** The refusal that stopped it, e.g. "data (1,048,700 > 1,048,576)"; undefined when the whole shape fit. */
  refusedBy: string | undefined;
}

/** Bytes of values per batch of a fill (at most; one value may be larger). */
export const FILL_COMMIT_BYTES = Number(process.env.KUBEKV_BENCH_CAPACITY_FILL_BATCH_KIB ?? 256) * KIB;
/** Keys per batch of a fill (at most). */
export const FILL_COMMIT_KEYS = 4096;

/** A size refusal as a cell (which limit refused and at what size), or undefined when `err` is no size refusal. */
export function describeRefusal(err: unknown): string | undefined {
  const n = (x: number) => x.toLocaleString('en-US');
  if (err instanceof BucketFullError) return err.size > 0 ? `${err.limitName} (${n(err.size)} > ${n(err.limit)})` : `${err.limitName} (server refused, limit ${n(err.limit)})`;
  if (err instanceof ValueTooLargeError) return `one value (${n(err.size)} > ${n(err.limit)})`;
  return undefined;
}

/**
 * Fills `store` with `shape` (keys fill/0 ...), in sequential batches of at
 * most FILL_COMMIT_BYTES / FILL_COMMIT_KEYS; stops at the first
 * BucketFullError (or ValueTooLargeError) and says which limit refused.
 */
export async function fillStore(store: Store, seed: string, shape: BucketShape): Promise<FillResult> {
  const started = performance.now();
  const result: FillResult = { keys: 0, bytes: 0, commits: 0, seconds: 0, refusedBy: undefined };
  while (result.keys < shape.keys) {
    const ops: BatchOperation[] = [];
    let bytes = 0;
    for (let i = result.keys; i < shape.keys && ops.length < FILL_COMMIT_KEYS && (bytes < FILL_COMMIT_BYTES || ops.length === 0); i++) {
      const size = valueSize(shape, i);
      if (ops.length > 0 && bytes + size > FILL_COMMIT_BYTES) break;
      ops.push({ op: 'put', key: fillKey(i), value: fillValue(seed, i, size) });
      bytes += size;
    }
    try {
      await store.batch(ops);
    } catch (err) {
      result.refusedBy = describeRefusal(err);
      if (result.refusedBy === undefined) throw err;
      break;
    }
    result.keys += ops.length;
    result.bytes += bytes;
    result.commits++;
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
