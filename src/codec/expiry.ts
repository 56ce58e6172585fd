/**
 * How a bucket's head records which keys expire (docs/format.md "Expiry"):
 * per key, its time to live or the session it is bound to, and the revision
 * of the write that set it. Pure code, no API calls.
 *
 * An entry applies only while the key's lastIndex equals the entry's
 * revision: a later write of the key by a kubekv that does not know this
 * annotation (or by kubectl, which leaves lastIndex alone but cannot remove
 * the key's revision either) leaves a stale entry that every reader ignores,
 * so an old writer's put never inherits a TTL it did not ask for.
 *
 * @module
 */
import { FormatError } from '../errors.js';
import { parseAnnotationJson } from './format.js';

/**
 * Head annotation: keys that expire, a JSON object
 * `{"<ConfigMap key>": {"r": <revision>, "ttl": <ms>, "s": "<session>"}}`
 * (`s` only for a key bound to a session).
 */
export const EXPIRY_ANNOTATION = 'kubekv.dev/expiry';

/**
 * Head annotation: the keys the commit at `revision` deleted because they
 * expired (or their session ended), `{"revision": <n>, "keys": ["<ConfigMap key>", ...]}`.
 * Read only when `revision` is the head's: any other commit's deletes are
 * explicit ones.
 */
export const EXPIRED_ANNOTATION = 'kubekv.dev/expired';

/** One key's expiry as recorded in the head. */
export interface ExpiryRecord {
  /** Revision of the write that set it: the entry applies while the key's lastIndex is this. */
  readonly revision: number;
  /** Time to live in ms, measured by a sweeper from when it saw this revision; for a session key, the session's TTL. */
  readonly ttlMs: number;
  /** Name of the session Lease the key is bound to; undefined for a plain TTL. */
  readonly session?: string | undefined;
}

/** Reads {@link EXPIRY_ANNOTATION}: ConfigMap key to record; FormatError when it is not in the documented form. */
export function parseExpiry(raw: string | undefined): Map<string, ExpiryRecord> {
  const records = new Map<string, ExpiryRecord>();
  if (raw === undefined) return records;
  const parsed = parseAnnotationJson(EXPIRY_ANNOTATION, raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FormatError(`annotation ${EXPIRY_ANNOTATION} is not a JSON object`);
  for (const [cmKey, value] of Object.entries(parsed as Record<string, unknown>)) {
    const item = value as { r?: unknown; ttl?: unknown; s?: unknown } | null;
    if (
      typeof item !== 'object' || item === null || !isPositive(item.r) || !isPositive(item.ttl)
      || (item.s !== undefined && (typeof item.s !== 'string' || item.s === ''))
    ) {
      throw new FormatError(`annotation ${EXPIRY_ANNOTATION} has an invalid entry`, cmKey);
    }
    records.set(cmKey, item.s === undefined ? { revision: item.r, ttlMs: item.ttl } : { revision: item.r, ttlMs: item.ttl, session: item.s });
  }
  return records;
}

/** Writes {@link EXPIRY_ANNOTATION}, keys sorted (the same records always give the same text). */
export function serializeExpiry(records: ReadonlyMap<string, ExpiryRecord>): string {
  const out: Record<string, { r: number; ttl: number; s?: string }> = Object.create(null) as Record<string, { r: number; ttl: number; s?: string }>;
  for (const cmKey of [...records.keys()].sort()) {
    const record = records.get(cmKey)!;
    out[cmKey] = record.session === undefined ? { r: record.revision, ttl: record.ttlMs } : { r: record.revision, ttl: record.ttlMs, s: record.session };
  }
  return JSON.stringify(out);
}

/** Upper bound of one record's JSON bytes in {@link EXPIRY_ANNOTATION}. */
export function expiryRecordBytes(cmKey: string, record: ExpiryRecord): number {
  return cmKey.length + 40 + (record.session?.length ?? 0);
}

/** Reads {@link EXPIRED_ANNOTATION}: the ConfigMap keys expired by the commit at `revision`, or none if the annotation is another commit's. */
export function parseExpired(raw: string | undefined, revision: number): Set<string> {
  if (raw === undefined) return new Set();
  const parsed = parseAnnotationJson(EXPIRED_ANNOTATION, raw) as { revision?: unknown; keys?: unknown } | null;
  if (typeof parsed !== 'object' || parsed === null || !isPositive(parsed.revision) || !Array.isArray(parsed.keys) || parsed.keys.some((k) => typeof k !== 'string')) {
    throw new FormatError(`annotation ${EXPIRED_ANNOTATION} is not {"revision": n, "keys": [...]}`);
  }
  return parsed.revision === revision ? new Set(parsed.keys as string[]) : new Set();
}

/** Writes {@link EXPIRED_ANNOTATION} for the commit at `revision`. */
export function serializeExpired(revision: number, cmKeys: Iterable<string>): string {
  return JSON.stringify({ revision, keys: [...cmKeys].sort() });
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}
