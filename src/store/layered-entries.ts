/**
 * A bucket's keys as one read-only map over its layers: the entries of its
 * chunks (built once per set of chunks), the head's tombstones, and the
 * head's inline entries. Reads look the layers up (inline, then tombstone,
 * then chunks) instead of merging them, so a commit that changes a few
 * inline keys costs a few map operations, not a copy of 100,000 keys.
 *
 * Guaranteed: behaves as the merged map would (get, has, size, iteration
 * over every visible key exactly once). Iteration order is not key order.
 */
import type { Entry } from './bucket-state.js';

/** See the module doc. */
export class LayeredEntries implements ReadonlyMap<string, Entry> {
  readonly #chunked: ReadonlyMap<string, Entry>;
  readonly #inline: ReadonlyMap<string, Entry>;
  readonly #deleted: ReadonlySet<string>;
  /** The number of visible keys, counted once at construction (O(inline + tombstones)). */
  readonly size: number;

  /**
   * @param chunked - the chunks' entries, by user key
   * @param inline - the head's entries, by user key (they win)
   * @param deleted - user keys the head's tombstones hide in the chunks
   */
  constructor(chunked: ReadonlyMap<string, Entry>, inline: ReadonlyMap<string, Entry>, deleted: ReadonlySet<string>) {
    this.#chunked = chunked;
    this.#inline = inline;
    this.#deleted = deleted;
    let size = chunked.size;
    for (const key of inline.keys()) if (!chunked.has(key) || deleted.has(key)) size++;
    for (const key of deleted) if (chunked.has(key)) size--;
    this.size = size;
  }

  get(key: string): Entry | undefined {
    return this.#inline.get(key) ?? (this.#deleted.has(key) ? undefined : this.#chunked.get(key));
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  *entries(): MapIterator<[string, Entry]> {
    for (const [key, entry] of this.#chunked) {
      if (!this.#inline.has(key) && !this.#deleted.has(key)) yield [key, entry];
    }
    yield* this.#inline;
  }

  *keys(): MapIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): MapIterator<Entry> {
    for (const [, entry] of this.entries()) yield entry;
  }

  forEach(callback: (value: Entry, key: string, map: ReadonlyMap<string, Entry>) => void, thisArg?: unknown): void {
    for (const [key, entry] of this.entries()) callback.call(thisArg, entry, key, this);
  }

  [Symbol.iterator](): MapIterator<[string, Entry]> {
    return this.entries();
  }
}
