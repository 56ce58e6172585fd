/**
 * The KVPair objects the store hands out: the key, its bytes, its lastIndex,
 * the bytes as text on demand, and a JSON form that says what the value is
 * (`JSON.stringify` of a Uint8Array would give `{"0":49,...}`).
 *
 * @module
 */
import type { KVPair, KVPairJSON } from './types.js';

// ignoreBOM: a leading U+FEFF is part of the value, as in `value`.
const lenient = new TextDecoder('utf-8', { ignoreBOM: true });
const strict = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

/** What a pair says about its key's expiry (docs/semantics.md "Expiry"). */
export interface PairExpiry {
  /** The key's time to live in ms (for a session key, the session's). */
  readonly ttlMs: number;
  /** The session the key is bound to, if any. */
  readonly session?: string | undefined;
}

/**
 * A KVPair over `value` (not copied: pass bytes the caller may own), with
 * `ttlMs` and `session` when the key expires.
 */
export function kvPair(key: string, value: Uint8Array, lastIndex: number, expiry?: PairExpiry): KVPair {
  const extra = expiry === undefined ? {} : expiry.session === undefined ? { ttlMs: expiry.ttlMs } : { ttlMs: expiry.ttlMs, session: expiry.session };
  return {
    key,
    value,
    lastIndex,
    ...extra,
    get text() {
      return lenient.decode(value);
    },
    toJSON(): KVPairJSON {
      try {
        return { key, lastIndex, ...extra, text: strict.decode(value) };
      } catch {
        return { key, lastIndex, ...extra, base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
      }
    },
  };
}
