/**
 * The dump format of `kubekv dump` / `kubekv restore` (docs/cli.md shows an
 * example): one JSON document holding a bucket's keys and values, values
 * DECODED (no kubekv header, no gzip, no base64 unless the bytes are not
 * text), so it is readable, diffable and independent of how the bucket
 * stored them.
 *
 * Guaranteed: restoring a dump gives back exactly the same keys with exactly
 * the same bytes. A value whose bytes are valid UTF-8 is written as `text`
 * (decoded strictly, a leading BOM kept), any other as `base64` (canonical,
 * padded); each maps back to the same bytes. Entries are sorted by key.
 *
 * A key that expires keeps its time to live: `ttlMs` (and, for a key bound
 * to a session, `session`, for information). A restore writes it with that
 * TTL, counted from the restore; a session key too, as its session cannot
 * come along: it then lasts one session TTL unless its owner registers it
 * again, rather than for ever.
 *
 * Not kept: per-key revisions (`lastIndex`), the bucket revision and the
 * leader epoch are facts of the bucket the dump came from; a restore writes
 * new revisions, and `revision` in the document is for information only.
 *
 * @module
 */
import { InvalidValueError } from '../errors.js';
import { MAX_TTL_MS, MIN_TTL_MS } from '../store/write-ops.js';
import { utf8Text } from './output.js';

/** Value of `kind`. */
export const DUMP_KIND = 'kubekv.dev/dump';
/** The format version this kubekv writes and reads. */
export const DUMP_VERSION = 1;

/** A value as the dump (and `-o json` of ls, get, watch) carries it: exactly one of `text` and `base64`. */
export type ValueFields = { text: string; base64?: never } | { base64: string; text?: never };

/** One key of a dump; `ttlMs` (and `session`) for a key that expires. */
export type DumpEntry = { key: string; ttlMs?: number; session?: string } & ValueFields;

/** A dump document. */
export interface DumpDocument {
  kind: typeof DUMP_KIND;
  version: typeof DUMP_VERSION;
  /** Where the dump came from (restore writes to `-n` / the current namespace, not necessarily this one). */
  namespace: string;
  /** The bucket dumped (restore's default target when `-b` is not given). */
  bucket: string;
  /** The bucket revision dumped; informational. */
  revision: number;
  /** When it was taken (RFC 3339); informational. */
  dumpedAt: string;
  entries: DumpEntry[];
}

/** The value's fields: `text` when the bytes are UTF-8, else `base64`. */
export function valueFields(bytes: Uint8Array): ValueFields {
  const text = utf8Text(bytes);
  return text !== undefined ? { text } : { base64: Buffer.from(bytes).toString('base64') };
}

/** The bytes an entry stands for. */
export function entryBytes(entry: ValueFields): Uint8Array {
  return entry.text !== undefined ? new TextEncoder().encode(entry.text) : new Uint8Array(Buffer.from(entry.base64, 'base64'));
}

/** A dump document of `pairs` (sorted here by key). */
export function buildDump(
  source: { namespace: string; bucket: string; revision: number; at: Date },
  pairs: readonly { key: string; value: Uint8Array; ttlMs?: number | undefined; session?: string | undefined }[],
): DumpDocument {
  const entries = [...pairs]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((pair): DumpEntry => ({
      key: pair.key,
      ...(pair.ttlMs === undefined ? {} : { ttlMs: pair.ttlMs }),
      ...(pair.session === undefined ? {} : { session: pair.session }),
      ...valueFields(pair.value),
    }));
  return { kind: DUMP_KIND, version: DUMP_VERSION, namespace: source.namespace, bucket: source.bucket, revision: source.revision, dumpedAt: source.at.toISOString(), entries };
}

/** The document as written by `dump`: indented JSON and a final newline. */
export function serializeDump(dump: DumpDocument): string {
  return `${JSON.stringify(dump, null, 2)}\n`;
}

/**
 * Reads a dump document. Fields other than the ones checked here are
 * ignored, so later versions may add informational ones.
 *
 * @throws InvalidValueError naming what is wrong and where (`entries[3].base64`)
 */
export function parseDump(text: string): DumpDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidValueError(`the dump is not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!isRecord(doc)) throw new InvalidValueError('the dump is not a JSON object');
  if (doc.kind !== DUMP_KIND) throw new InvalidValueError(`the dump's kind is ${JSON.stringify(doc.kind)}, not ${JSON.stringify(DUMP_KIND)}`);
  if (doc.version !== DUMP_VERSION) {
    throw new InvalidValueError(
      typeof doc.version === 'number' && doc.version > DUMP_VERSION
        ? `the dump has format version ${doc.version}, written by a newer kubekv; this one reads version ${DUMP_VERSION}`
        : `the dump's version is ${JSON.stringify(doc.version)}, not ${DUMP_VERSION}`,
    );
  }
  for (const field of ['namespace', 'bucket', 'dumpedAt'] as const) {
    if (typeof doc[field] !== 'string') throw new InvalidValueError(`the dump's ${field} is not a string`);
  }
  if (!Number.isSafeInteger(doc.revision)) throw new InvalidValueError("the dump's revision is not an integer");
  if (!Array.isArray(doc.entries)) throw new InvalidValueError("the dump's entries is not an array");
  const seen = new Set<string>();
  const entries = doc.entries.map((raw: unknown, i): DumpEntry => {
    const entry = parseEntry(raw, `entries[${i}]`);
    if (seen.has(entry.key)) throw new InvalidValueError(`entries[${i}]: key ${JSON.stringify(entry.key)} appears twice`);
    seen.add(entry.key);
    return entry;
  });
  return { ...(doc as unknown as DumpDocument), entries };
}

function parseEntry(raw: unknown, at: string): DumpEntry {
  if (!isRecord(raw)) throw new InvalidValueError(`${at} is not an object`);
  const { key, ttlMs, session } = raw;
  if (typeof key !== 'string' || key === '') throw new InvalidValueError(`${at}.key is not a non-empty string`);
  if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS)) {
    throw new InvalidValueError(`${at}.ttlMs is not a whole number of milliseconds from ${MIN_TTL_MS} to ${MAX_TTL_MS}`);
  }
  if (session !== undefined && typeof session !== 'string') throw new InvalidValueError(`${at}.session is not a string`);
  const expiry = { ...(ttlMs === undefined ? {} : { ttlMs }), ...(session === undefined ? {} : { session }) };
  return { ...expiry, ...parseValue(raw, at), key };
}

function parseValue(raw: Record<string, unknown>, at: string): ValueFields {
  const { text, base64 } = raw;
  if ((text === undefined) === (base64 === undefined)) throw new InvalidValueError(`${at} must have exactly one of text and base64`);
  if (text !== undefined) {
    if (typeof text !== 'string') throw new InvalidValueError(`${at}.text is not a string`);
    // A lone surrogate (possible through a \ud800 escape) has no UTF-8 form.
    if (!text.isWellFormed()) throw new InvalidValueError(`${at}.text contains a lone surrogate`);
    return { text };
  }
  // Only canonical base64 encodes back to itself: Node's decoder would skip stray characters.
  if (typeof base64 !== 'string' || Buffer.from(base64, 'base64').toString('base64') !== base64) {
    throw new InvalidValueError(`${at}.base64 is not canonical base64`);
  }
  return { base64 };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
