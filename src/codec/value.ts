/**
 * Mapping between kubekv values (bytes) and ConfigMap `data` / `binaryData`
 * entries.
 *
 * Guaranteed: `decodeValue` of what `encodeValue` produced gives back the
 * same bytes. Text (valid UTF-8) that is not compressed goes to `data`, so
 * kubectl and volume mounts show it as is. Everything else goes to
 * `binaryData` behind a 4-byte header, `\0KV` and an encoding byte (`r` raw,
 * `z` gzip), so a value can be read back with `base64 -d | tail -c +5 | gunzip`.
 * A `binaryData` value without the header (made with kubectl) is returned
 * unchanged. Corrupt or unknown encodings are a {@link FormatError}, never
 * silently returned as bytes.
 *
 * Not guaranteed: which field a value lands in. That depends on its content
 * and on the compression options, and may change between kubekv versions;
 * readers must accept both.
 *
 * @module
 */
import pako from 'pako';
import { FormatError, InvalidValueError, ValueTooLargeError } from '../errors.js';
import { MAX_DATA_BYTES } from './format.js';

/** First three bytes of every `binaryData` value kubekv writes: `\0`, `K`, `V`. */
export const VALUE_MAGIC: readonly number[] = Object.freeze([0x00, 0x4b, 0x56]);
/** Encoding byte after {@link VALUE_MAGIC}: the raw value follows. */
export const ENCODING_RAW = 0x72; // 'r'
/** Encoding byte after {@link VALUE_MAGIC}: the value gzipped follows. */
export const ENCODING_GZIP = 0x7a; // 'z'
/** Encoding byte after {@link VALUE_MAGIC}: a reference to value chunks follows (codec/chunk-format.ts). */
export const ENCODING_CHUNKS = 0x63; // 'c'
/** Length of the header (magic and encoding byte) before a `binaryData` payload. */
export const VALUE_HEADER_LENGTH = 4;

/** When a value is stored gzip-compressed. */
export interface CompressionOptions {
  /** Whether to compress at all. @defaultValue true */
  enabled?: boolean;
  /** Values shorter than this many bytes are never compressed. @defaultValue 1024 */
  minBytes?: number;
  /**
   * Fraction of the raw size compression must save, header included, for the
   * compressed form to be kept; otherwise the value stays readable as is.
   * @defaultValue 0.1
   */
  minSavings?: number;
}

/** The defaults of {@link CompressionOptions}. */
export const DEFAULT_COMPRESSION: Readonly<Required<CompressionOptions>> = Object.freeze({
  enabled: true,
  minBytes: 1024,
  minSavings: 0.1,
});

/** One value as it goes into a ConfigMap. */
export interface EncodedValue {
  /** The ConfigMap field holding the value. */
  field: 'data' | 'binaryData';
  /** The value as client-node carries it: text for `data`, base64 for `binaryData`. */
  stored: string;
  /** Bytes this entry counts toward {@link MAX_DATA_BYTES} (for `binaryData`, decoded bytes). */
  size: number;
}

// fatal: invalid UTF-8 must be detected, not replaced. ignoreBOM: keep a
// leading U+FEFF, which the default decoder strips, losing three bytes.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * Chooses the field and form for a value: gzip in `binaryData` when
 * compression applies, else text in `data` when the bytes are UTF-8 and do
 * not start with `\0KV`, else raw in `binaryData`.
 */
export function encodeValue(value: Uint8Array, options: CompressionOptions = {}): EncodedValue {
  const enabled = options.enabled ?? DEFAULT_COMPRESSION.enabled;
  const minBytes = options.minBytes ?? DEFAULT_COMPRESSION.minBytes;
  const minSavings = options.minSavings ?? DEFAULT_COMPRESSION.minSavings;
  if (enabled && value.length >= minBytes) {
    const gzipped = pako.gzip(value);
    const size = VALUE_HEADER_LENGTH + gzipped.length;
    if (value.length - size >= minSavings * value.length) return binary(ENCODING_GZIP, gzipped);
  }
  // Text that starts with the header goes behind it too, so a value's field
  // can be told from its bytes alone (a Secret has one field: bucket-kind.ts).
  const text = hasMagic(value) ? undefined : asUtf8(value);
  if (text !== undefined) return { field: 'data', stored: text, size: value.length };
  return binary(ENCODING_RAW, value);
}

/**
 * The bytes of a stored value.
 *
 * @param field - the ConfigMap field the value was found in
 * @param stored - the value as client-node returns it (base64 for `binaryData`)
 * @param key - the ConfigMap key, named in errors
 * @throws {@link FormatError} when `binaryData` is not strict base64, its
 * gzip payload is corrupt, or its header names an encoding this kubekv does
 * not know (written by a newer version)
 */
export function decodeValue(field: 'data' | 'binaryData', stored: string, key: string): Uint8Array {
  if (field === 'data') return utf8Encoder.encode(stored);
  const decoded = Buffer.from(stored, 'base64');
  // Node's decoder skips characters outside the alphabet and tolerates bad
  // padding; only canonical base64 encodes back to the same string.
  if (decoded.toString('base64') !== stored) throw new FormatError('binaryData value is not valid base64', key);
  // A copy, not a view: small Buffers share Node's pool with unrelated data.
  return decodeBinary(new Uint8Array(decoded), key);
}

/**
 * The bytes of a value whose stored form was kept elsewhere as bytes (the
 * parts of a value in value chunks, concatenated): for `data`, its UTF-8
 * text; for `binaryData`, the decoded bytes, read as {@link decodeValue} reads them.
 *
 * @throws {@link FormatError} as decodeValue does
 */
export function decodeStoredBytes(field: 'data' | 'binaryData', bytes: Uint8Array, key: string): Uint8Array {
  return field === 'data' ? bytes : decodeBinary(bytes, key);
}

function decodeBinary(bytes: Uint8Array, key: string): Uint8Array {
  if (!hasMagic(bytes)) return bytes;
  const encoding = bytes[VALUE_MAGIC.length];
  const payload = bytes.subarray(VALUE_HEADER_LENGTH);
  switch (encoding) {
    case ENCODING_RAW:
      return payload.slice();
    case ENCODING_GZIP:
      return gunzip(payload, key);
    case undefined:
      throw new FormatError('binaryData value has a kubekv header without an encoding byte', key);
    case ENCODING_CHUNKS:
      // Only the bucket can resolve it (store/bucket-state.ts): reaching here is a bug or a hand-made value.
      throw new FormatError('binaryData value is a reference to value chunks, which were not loaded', key);
    default:
      throw new FormatError(
        `binaryData value was written by a newer kubekv format (encoding byte 0x${encoding.toString(16).padStart(2, '0')})`,
        key,
      );
  }
}

/**
 * Checks a value passed by a caller and returns its bytes: a Uint8Array
 * (a Buffer included) as is, a string as UTF-8.
 *
 * @throws {@link InvalidValueError} for any other type, naming it, and for a
 * string with a lone surrogate, which has no UTF-8 form
 */
export function validateValue(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') {
    // TextEncoder would silently store U+FFFD instead of the lone surrogate.
    if (!value.isWellFormed()) {
      throw new InvalidValueError('the string contains a lone surrogate, which has no UTF-8 form');
    }
    return utf8Encoder.encode(value);
  }
  throw new InvalidValueError(`expected a Uint8Array or a string, got ${typeName(value)}`);
}

/**
 * Throws when one encoded value alone is larger than the bucket can hold.
 *
 * @param key - the user's key, for the error
 * @param limit - the most bytes one value may take: {@link MAX_DATA_BYTES}
 * (what one ConfigMap holds) unless the bucket keeps large values in value
 * chunks (codec/chunk-format.ts MAX_CHUNKED_VALUE_BYTES)
 * @throws {@link ValueTooLargeError} when `encoded.size` exceeds `limit`
 */
export function checkValueSize(key: string, encoded: EncodedValue, limit = MAX_DATA_BYTES): void {
  if (encoded.size > limit) throw new ValueTooLargeError(key, encoded.size, limit);
}

function binary(encoding: number, payload: Uint8Array): EncodedValue {
  const bytes = Buffer.allocUnsafe(VALUE_HEADER_LENGTH + payload.length);
  bytes.set(VALUE_MAGIC, 0);
  bytes[VALUE_MAGIC.length] = encoding;
  bytes.set(payload, VALUE_HEADER_LENGTH);
  return { field: 'binaryData', stored: bytes.toString('base64'), size: bytes.length };
}

function asUtf8(value: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(value);
  } catch {
    return undefined;
  }
}

function hasMagic(bytes: Uint8Array): boolean {
  return bytes.length >= VALUE_MAGIC.length && VALUE_MAGIC.every((b, i) => bytes[i] === b);
}

function gunzip(payload: Uint8Array, key: string): Uint8Array {
  try {
    // windowBits 16 + 15 accepts gzip only; pako otherwise also takes zlib.
    return pako.inflate(payload, { windowBits: 31 });
  } catch (err) {
    // pako throws its message as a plain string.
    throw new FormatError(`binaryData value is not valid gzip: ${String(err)}`, key, { cause: err });
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'object';
}
