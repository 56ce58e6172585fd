/**
 * The entries of a chunk as the cache holds them: the values as bytes in
 * one buffer per chunk, the other fields column by column, and per entry
 * one small object.
 *
 * Why: a store holds every entry of its bucket for as long as it runs. As
 * parsed from the chunks, a 64 MiB bucket of 100,000 binary values was
 * 100,000 base64 strings (4/3 of the bytes) and 100,000 objects of seven
 * fields in the V8 heap, which keeps free space in proportion to what it
 * holds: a follower's RSS was 7x the data. Packed, the values take what
 * they hold, outside the V8 heap and in one allocation per chunk, and an
 * entry is a key and a position. Chunks are immutable, so nothing here
 * changes after it is built.
 *
 * Guaranteed: a {@link PackedEntry} reads as the plain entry it replaces
 * (same key, cmKey, field, size, lastIndex, chunk); `stored` gives back
 * exactly the string the chunk held (made again from the bytes on each
 * call: callers that touch every entry compare with {@link sameStored},
 * which compares bytes). A value whose string the bytes would not give
 * back exactly (base64 that is not canonical, text with a lone surrogate)
 * is not packed: it stays a plain entry with its string, so reading it
 * fails (or succeeds) exactly as before. The bytes are never handed out:
 * readers copy (bucket-state.ts toPair).
 */
import { base64DecodedLength } from '../codec/index.js';
import type { Entry } from './bucket-state.js';

/** One value of a chunk as the API sent it. */
export interface ChunkValue {
  readonly cmKey: string;
  readonly field: 'data' | 'binaryData';
  /** Text (data) or base64 (binaryData). */
  readonly stored: string;
}

/** The packed values of one chunk: what its {@link PackedEntry}s point into. */
class PackedValues {
  /** The chunk's name (Entry.chunk). */
  readonly chunk: string;
  /** The stored bytes of every packed value, one after another. */
  readonly buffer: Buffer;
  /** Value i is buffer[offsets[i], offsets[i + 1]). */
  readonly offsets: Uint32Array;
  /** 1 for binaryData, 0 for data. */
  readonly binary: Uint8Array;
  readonly lastIndexes: Float64Array;
  readonly cmKeys: readonly string[];

  constructor(chunk: string, buffer: Buffer, offsets: Uint32Array, binary: Uint8Array, lastIndexes: Float64Array, cmKeys: readonly string[]) {
    this.chunk = chunk;
    this.buffer = buffer;
    this.offsets = offsets;
    this.binary = binary;
    this.lastIndexes = lastIndexes;
    this.cmKeys = cmKeys;
  }
}

/** An entry of a chunk whose stored value is a range of the chunk's buffer (see the module doc). */
export class PackedEntry implements Entry {
  readonly key: string;
  readonly #values: PackedValues;
  readonly #i: number;

  private constructor(key: string, values: PackedValues, i: number) {
    this.key = key;
    this.#values = values;
    this.#i = i;
  }

  get cmKey(): string {
    return this.#values.cmKeys[this.#i]!;
  }

  get field(): 'data' | 'binaryData' {
    return this.#values.binary[this.#i] === 1 ? 'binaryData' : 'data';
  }

  /** Bytes it counts toward the 1 MiB limit: the length of its range (UTF-8 for data, decoded for binaryData). */
  get size(): number {
    return this.#values.offsets[this.#i + 1]! - this.#values.offsets[this.#i]!;
  }

  get lastIndex(): number {
    return this.#values.lastIndexes[this.#i]!;
  }

  get chunk(): string {
    return this.#values.chunk;
  }

  /** Text (data) or base64 (binaryData), as the chunk stored it; a new string on each call. */
  get stored(): string {
    const { buffer, offsets } = this.#values;
    return buffer.toString(this.field === 'data' ? 'utf8' : 'base64', offsets[this.#i], offsets[this.#i + 1]);
  }

  /** True when the stored bytes start with `prefix` (no view of them is made: a layer asks this of every entry). */
  startsWith(prefix: readonly number[]): boolean {
    const { buffer, offsets } = this.#values;
    const start = offsets[this.#i]!;
    if (offsets[this.#i + 1]! - start < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (buffer[start + i] !== prefix[i]) return false;
    return true;
  }

  /** The stored bytes (UTF-8 text, or decoded base64): a view of the chunk's buffer, not to be handed out or changed. */
  bytes(): Buffer {
    const { buffer, offsets } = this.#values;
    return buffer.subarray(offsets[this.#i], offsets[this.#i + 1]);
  }

  /**
   * The entries of chunk `chunk` for `values` (its data and binaryData),
   * in the order given: packed, or a plain entry for a value that cannot be
   * (see the module doc).
   *
   * @param keys - each value's user key (decoded from its cmKey)
   * @param lastIndexes - each value's revision (0: none recorded)
   * @param plain - makes the plain entry of value i
   */
  static pack(chunk: string, values: readonly ChunkValue[], keys: readonly string[], lastIndexes: readonly number[], plain: (i: number) => Entry): Entry[] {
    let total = 0;
    for (const value of values) total += value.field === 'data' ? Buffer.byteLength(value.stored, 'utf8') : base64DecodedLength(value.stored);
    // Its own allocation (not Node's shared pool): the chunk's values are all it holds.
    const buffer = Buffer.allocUnsafeSlow(total);
    const packable: number[] = [];
    /** Value i's place among the packed ones; -1: not packed. */
    const slot = new Int32Array(values.length).fill(-1);
    const offsets: number[] = [0];
    let offset = 0;
    values.forEach(({ field, stored }, i) => {
      if (field === 'data' && !stored.isWellFormed()) return;
      const size = buffer.write(stored, offset, field === 'data' ? 'utf8' : 'base64');
      if (field === 'binaryData' && !isCanonicalBase64(stored, size)) return;
      slot[i] = packable.length;
      packable.push(i);
      offset += size;
      offsets.push(offset);
    });
    const packed = new PackedValues(
      chunk,
      offset === total ? buffer : buffer.subarray(0, offset),
      Uint32Array.from(offsets),
      Uint8Array.from(packable, (i) => (values[i]!.field === 'binaryData' ? 1 : 0)),
      Float64Array.from(packable, (i) => lastIndexes[i]!),
      packable.map((i) => values[i]!.cmKey),
    );
    return values.map((_, i) => (slot[i]! >= 0 ? new PackedEntry(keys[i]!, packed, slot[i]!) : plain(i)));
  }
}

/**
 * True when `text`, which Node's base64 decoder read as `decoded` bytes, is
 * canonical base64: what those bytes encode back to (decodeValue's test),
 * checked without making that string. Node's decoder skips characters
 * outside the alphabet (then fewer bytes come out than the length says),
 * also reads `-` and `_` (base64url), and ignores the bits padding drops.
 */
export function isCanonicalBase64(text: string, decoded: number): boolean {
  const length = text.length;
  if (length % 4 !== 0) return false;
  const pad = length === 0 ? 0 : text.charCodeAt(length - 1) !== EQUALS ? 0 : text.charCodeAt(length - 2) !== EQUALS ? 1 : 2;
  if (decoded !== (length / 4) * 3 - pad) return false;
  const equals = text.indexOf('=');
  if ((equals >= 0 && equals < length - pad) || text.includes('-') || text.includes('_')) return false;
  // The last character before the padding carries bits the bytes do not: they must be zero.
  if (pad === 2) return ZERO_LOW_4.includes(text[length - 3]!);
  if (pad === 1) return ZERO_LOW_2.includes(text[length - 2]!);
  return true;
}

const EQUALS = 0x3d;
/** Base64 characters whose value has its low 4 bits zero (before `==`). */
const ZERO_LOW_4 = 'AQgw';
/** Base64 characters whose value has its low 2 bits zero (before `=`). */
const ZERO_LOW_2 = 'AEIMQUYcgkosw048';

/** True when two entries hold the same stored value in the same field (bytes compared when both are packed: no string is made). */
export function sameStored(a: Entry, b: Entry): boolean {
  if (a === b) return true;
  if (a.field !== b.field || a.size !== b.size) return false;
  if (a instanceof PackedEntry && b instanceof PackedEntry) return a.bytes().equals(b.bytes());
  return a.stored === b.stored;
}
