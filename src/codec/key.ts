/**
 * Reversible mapping between kubekv keys and ConfigMap keys.
 *
 * Guaranteed: every key {@link encodeKey} accepts maps to a valid ConfigMap
 * key, different keys map to different ConfigMap keys, and
 * `decodeKey(encodeKey(k)) === k`. Keys made only of `[-.a-zA-Z0-9]` (the
 * usual case; all but `.` and keys starting with `..`) are stored unchanged,
 * so `kubectl get cm -o yaml` stays readable; so is `DB_HOST`; `/` becomes
 * `__`, so `config/db/host` is stored as `config__db__host`.
 *
 * Not guaranteed: that every ConfigMap key decodes to a distinct kubekv key.
 * A key kubekv would never write (made with kubectl, e.g. `a_5Fb`, which
 * kubekv writes as `a_b`) decodes to itself, its raw name; `encodeKey` of
 * that raw name is a different ConfigMap key, so the store must find such
 * foreign keys by their decoded name, not by re-encoding.
 *
 * The scheme (ConfigMap keys allow only `[-._a-zA-Z0-9]`, at most 253
 * characters, not `.` or `..`, not starting with `..`):
 * - `[-.a-zA-Z0-9]` are kept; `_` is the escape character.
 * - `/` is written `__`.
 * - Any other character is written as its UTF-8 bytes, each as `_` and two
 *   uppercase hex digits: `" "` is `_20`, `"é"` is `_C3_A9`.
 * - A literal `_` stays `_` when what follows it cannot be read as an
 *   escape: the next encoded character is not `_` and the next two are not
 *   uppercase hex digits (a trailing `_` stays too). Otherwise it is `_5F`:
 *   `DB_HOST` stays `DB_HOST`, but `a_BC` is `a_5FBC` and `a__b` is `a_5F_b`.
 * - A leading `.` is written `_2E` when the result would otherwise be `.`,
 *   `..` or start with `..`: `..x` is `_2E.x`.
 *
 * Decoding reads left to right: `__` is `/`; `_XY` (uppercase hex) is a byte,
 * and a run of such bytes is decoded as UTF-8; any other `_` is literal.
 *
 * @module
 */
import { InvalidKeyError } from '../errors.js';

/** Longest ConfigMap key Kubernetes accepts (a DNS subdomain's length). */
export const MAX_CONFIGMAP_KEY_LENGTH = 253;

// Kubernetes' IsConfigMapKey: this alphabet, plus the length and dot rules below.
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;
const PLAIN_CHAR = /^[-.a-zA-Z0-9]$/;
const UPPER_HEX = /^[0-9A-F]$/;
const utf8Encoder = new TextEncoder();
// fatal: bytes that are not UTF-8 make the key foreign rather than silently
// becoming U+FFFD (which would alias distinct ConfigMap keys).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Whether Kubernetes accepts `k` as a key of a ConfigMap's `data` or
 * `binaryData`: `[-._a-zA-Z0-9]+`, at most {@link MAX_CONFIGMAP_KEY_LENGTH}
 * characters, neither `.` nor `..`, not starting with `..`.
 */
export function isValidConfigMapKey(k: string): boolean {
  return k.length <= MAX_CONFIGMAP_KEY_LENGTH && CONFIGMAP_KEY.test(k) && k !== '.' && !k.startsWith('..');
}

/**
 * The ConfigMap key under which kubekv stores `key` (see the module comment
 * for the scheme).
 *
 * @param key - the user's key: a non-empty, well-formed string
 * @returns a valid ConfigMap key
 * @throws {@link InvalidKeyError} when `key` is not a string, is empty,
 * contains a lone surrogate (it has no UTF-8 form), or encodes to more than
 * {@link MAX_CONFIGMAP_KEY_LENGTH} characters
 */
export function encodeKey(key: unknown): string {
  if (typeof key !== 'string') {
    throw new InvalidKeyError(`expected a string, got ${key === null ? 'null' : typeof key}`);
  }
  if (key === '') throw new InvalidKeyError('the key is empty');
  if (!key.isWellFormed()) {
    throw new InvalidKeyError(`${preview(key)} contains a lone surrogate, which has no UTF-8 form`);
  }
  const encoded = encodeWellFormed(key);
  if (encoded.length > MAX_CONFIGMAP_KEY_LENGTH) {
    throw new InvalidKeyError(
      `${preview(key)} encodes to ${encoded.length} characters; a ConfigMap key may have at most ${MAX_CONFIGMAP_KEY_LENGTH}`,
    );
  }
  return encoded;
}

/**
 * The kubekv key stored under ConfigMap key `configMapKey`. Never throws.
 *
 * A key kubekv did not write (not valid ConfigMap syntax, escapes that are
 * not UTF-8, or not the exact form {@link encodeKey} produces, e.g. `a_5Fb`
 * or `_41`) is returned unchanged, so a ConfigMap edited with kubectl stays
 * readable under its raw key names.
 */
export function decodeKey(configMapKey: string): string {
  if (!isValidConfigMapKey(configMapKey)) return configMapKey;
  const decoded = decodeEscapes(configMapKey);
  // Only the canonical form decodes: otherwise two ConfigMap keys (`a_b` and
  // `a_5Fb`) would both claim the kubekv key `a_b`.
  if (decoded === undefined || encodeWellFormed(decoded) !== configMapKey) return configMapKey;
  return decoded;
}

/** The key quoted for a message, shortened: a rejected key may be megabytes long. */
function preview(key: string): string {
  return key.length <= 64 ? JSON.stringify(key) : `${JSON.stringify(key.slice(0, 60))}...`;
}

/** Encodes a non-empty well-formed string without checking the length. */
function encodeWellFormed(key: string): string {
  const chars = [...key];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (PLAIN_CHAR.test(ch)) out.push(ch);
    else if (ch === '/') out.push('__');
    else if (ch === '_') out.push(underscoreIsAmbiguous(chars[i + 1], chars[i + 2]) ? '_5F' : '_');
    else out.push(escapeBytes(ch));
  }
  if (chars[0] === '.' && (chars.length === 1 || chars[1] === '.')) out[0] = '_2E';
  return out.join('');
}

/**
 * Whether a literal `_` followed by these characters would be misread as
 * `__` or `_XY`. Only a plain character encodes to itself; every other
 * character's encoding starts with `_`.
 */
function underscoreIsAmbiguous(next: string | undefined, afterNext: string | undefined): boolean {
  if (next === undefined) return false;
  if (!PLAIN_CHAR.test(next)) return true;
  if (afterNext === undefined) return false;
  return UPPER_HEX.test(next) && UPPER_HEX.test(afterNext);
}

function escapeBytes(ch: string): string {
  let s = '';
  for (const byte of utf8Encoder.encode(ch)) s += `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return s;
}

/** Decodes `__`, `_XY` and literal characters; undefined when the bytes are not UTF-8. */
function decodeEscapes(k: string): string | undefined {
  let out = '';
  let bytes: number[] = [];
  const flush = (): boolean => {
    if (bytes.length === 0) return true;
    try {
      out += utf8Decoder.decode(new Uint8Array(bytes));
    } catch {
      return false;
    }
    bytes = [];
    return true;
  };
  let i = 0;
  while (i < k.length) {
    const ch = k[i] as string;
    const hi = k[i + 1] ?? '';
    const lo = k[i + 2] ?? '';
    if (ch === '_' && UPPER_HEX.test(hi) && UPPER_HEX.test(lo)) {
      bytes.push(Number.parseInt(hi + lo, 16));
      i += 3;
      continue;
    }
    if (!flush()) return undefined;
    if (ch === '_' && hi === '_') {
      out += '/';
      i += 2;
    } else {
      out += ch;
      i += 1;
    }
  }
  return flush() ? out : undefined;
}
