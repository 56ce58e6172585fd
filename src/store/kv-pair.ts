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

/** A KVPair over `value` (not copied: pass bytes the caller may own). */
export function kvPair(key: string, value: Uint8Array, lastIndex: number): KVPair {
  return {
    key,
    value,
    lastIndex,
    get text() {
      return lenient.decode(value);
    },
    toJSON(): KVPairJSON {
      try {
        return { key, lastIndex, text: strict.decode(value) };
      } catch {
        return { key, lastIndex, base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
      }
    },
  };
}
