/**
 * Fans bucket changes out to watch() and watchTree() iterators.
 *
 * Guarantees: an iterator's first event is the state at the moment it
 * started, taken in the same synchronous step as its subscription, so no
 * change between that state and the stream is missed or repeated. Changes
 * then arrive in the order the cache applied them. An iterator ends (done)
 * when its signal aborts or the store closes; a value that cannot be decoded
 * is thrown from the iterator, never skipped; a bucket state the cache could
 * not decode (a change it therefore missed) ends every iterator with that
 * error after the changes before it ({@link WatchHub.fail}), and an iterator
 * opened while the cache is in that state throws at once rather than start
 * from a stale snapshot.
 *
 * Non-guarantee: a consumer that stops pulling buffers its pending events in
 * memory; iterate promptly or abort.
 */
import type { ExpiryRecord } from '../codec/index.js';
import type { BucketState, ChunkLayer, Entry, LayerChunk } from './bucket-state.js';
import { pairIn, toPair } from './bucket-state.js';
import { sameStored } from './packed-entry.js';
import type { DeleteReason, KeyEvent, TreeEvent } from './types.js';

/** One key's new state after a cache update. */
export interface Change {
  key: string;
  /** The new entry, or undefined when the key was deleted. */
  entry: Entry | undefined;
  /** The new entry's expiry, when it has one. */
  expiry?: ExpiryRecord | undefined;
  /** Why the key was deleted (with no entry). */
  reason?: DeleteReason | undefined;
  /** Bucket revision of the update. */
  revision: number;
}

interface Subscriber {
  accepts(key: string): boolean;
  push(change: Change): void;
  end(error?: Error): void;
}

/** The set of live watch iterators of one store. */
export class WatchHub {
  readonly #subscribers = new Set<Subscriber>();
  #closed = false;

  /** Delivers `changes` (one cache update) to every interested iterator. */
  publish(changes: readonly Change[]): void {
    for (const subscriber of this.#subscribers) {
      for (const change of changes) if (subscriber.accepts(change.key)) subscriber.push(change);
    }
  }

  /**
   * Ends every open iterator with `error`, thrown after the changes already
   * delivered to it: the cache missed a change, so continuing would skip it
   * silently. New iterators start from the cache and are not affected.
   */
  fail(error: Error): void {
    for (const subscriber of this.#subscribers) subscriber.end(error);
    this.#subscribers.clear();
  }

  /** Ends every iterator. */
  close(): void {
    this.#closed = true;
    for (const subscriber of this.#subscribers) subscriber.end();
    this.#subscribers.clear();
  }

  /**
   * See ReadableStore.watch. `state` gives the cache's current state;
   * `missed`, when the cache is known to have missed a change, the error to
   * throw instead of a stale snapshot.
   */
  async *watchKey(key: string, state: () => BucketState, signal?: AbortSignal, missed?: () => Error | undefined): AsyncGenerator<KeyEvent> {
    const stream = this.#subscribe((k) => k === key, signal);
    try {
      throwIfMissed(missed);
      const current = state();
      const entry = current.entries.get(key);
      yield { key, pair: entry ? pairIn(current, entry) : undefined, revision: current.revision };
      for (let change = await stream.next(); change; change = await stream.next()) {
        yield change.entry
          ? { key, pair: toPair(change.entry, change.expiry), revision: change.revision }
          : { key, pair: undefined, revision: change.revision, reason: change.reason ?? 'deleted' };
      }
    } finally {
      stream.close();
    }
  }

  /** See ReadableStore.watchTree. */
  async *watchTree(prefix: string, state: () => BucketState, signal?: AbortSignal, missed?: () => Error | undefined): AsyncGenerator<TreeEvent> {
    const stream = this.#subscribe((k) => k.startsWith(prefix), signal);
    try {
      throwIfMissed(missed);
      const current = state();
      const pairs = [...current.entries.values()]
        .filter((e) => e.key.startsWith(prefix))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map((entry) => pairIn(current, entry));
      yield { type: 'snapshot', pairs, revision: current.revision };
      for (let change = await stream.next(); change; change = await stream.next()) {
        yield change.entry
          ? { type: 'put', pair: toPair(change.entry, change.expiry), revision: change.revision }
          : { type: 'delete', key: change.key, revision: change.revision, reason: change.reason ?? 'deleted' };
      }
    } finally {
      stream.close();
    }
  }

  /**
   * Registers a subscriber synchronously (the caller takes its snapshot in the
   * same step) and returns the stream of changes it will receive.
   */
  #subscribe(accepts: (key: string) => boolean, signal?: AbortSignal): ChangeStream {
    const buffer: Change[] = [];
    let wake: (() => void) | undefined;
    let ended = this.#closed || signal?.aborted === true;
    let failure: Error | undefined;
    const onAbort = () => end();
    const end = (error?: Error) => {
      if (error instanceof Error) failure = error;
      ended = true;
      this.#subscribers.delete(subscriber);
      signal?.removeEventListener('abort', onAbort);
      wake?.();
    };
    const subscriber: Subscriber = {
      accepts,
      push: (change) => {
        buffer.push(change);
        wake?.();
      },
      end,
    };
    if (!ended) {
      this.#subscribers.add(subscriber);
      signal?.addEventListener('abort', onAbort, { once: true });
    }
    return {
      async next() {
        while (buffer.length === 0 && !ended) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        if (buffer.length === 0 && failure) throw failure;
        return buffer.shift();
      },
      close: () => end(),
    };
  }
}

/**
 * An iterator must not start from a cache that missed a change (a state it
 * could not decode): `missed` says whether it did, and why.
 */
function throwIfMissed(missed: (() => Error | undefined) | undefined): void {
  const error = missed?.();
  if (error) throw error;
}

/** Changes for one iterator: next() resolves undefined once the stream ended. */
interface ChangeStream {
  next(): Promise<Change | undefined>;
  close(): void;
}

/**
 * The per-key changes between two states of a bucket, sorted by key. When
 * both share their chunks (the usual commit: only the head's inline part
 * changed), only the keys of their inline entries and tombstones can
 * differ, so only those are compared: a commit to a bucket of 100,000
 * chunked keys costs what it changed.
 */
export function diffStates(before: BucketState, after: BucketState): Change[] {
  const changes: Change[] = [];
  const change = (key: string, entry: Entry | undefined): Change =>
    entry
      ? { key, entry, expiry: after.expiries.get(key), revision: after.revision }
      : { key, entry, revision: after.revision, reason: after.expired.has(key) ? 'expired' : 'deleted' };
  const differs = (old: Entry | undefined, entry: Entry | undefined) =>
    !old || !entry ? old !== entry : old.lastIndex !== entry.lastIndex || !sameStored(old, entry);
  const layerKeys = before.layer === after.layer ? new Set<string>() : changedLayerKeys(before.layer, after.layer);
  if (layerKeys) {
    const keys = new Set([...layerKeys, ...before.inline.keys(), ...after.inline.keys(), ...before.tombstones.keys(), ...after.tombstones.keys()]);
    for (const key of keys) {
      const entry = after.entries.get(key);
      if (differs(before.entries.get(key), entry)) changes.push(change(key, entry));
    }
  } else {
    for (const [key, entry] of after.entries) {
      if (differs(before.entries.get(key), entry)) changes.push(change(key, entry));
    }
    for (const key of before.entries.keys()) {
      if (!after.entries.has(key)) changes.push(change(key, undefined));
    }
  }
  return changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The keys whose visible entry may differ between two chunk layers: those
 * the chunks in one layer and not the other hold or delete. A key no such
 * chunk names is in the same chunks, in the same order, on both sides, so
 * it resolves alike (a compaction, which replaces a few of a bucket's
 * chunks, then costs a diff of those chunks' keys, not of every key).
 * Undefined when the chunks both layers keep changed order: then every key
 * is compared.
 */
function changedLayerKeys(before: ChunkLayer, after: ChunkLayer): Set<string> | undefined {
  const id = (chunk: LayerChunk) => `${chunk.name}/${chunk.uid}`;
  const inBefore = new Set(before.chunks.map(id));
  const inAfter = new Set(after.chunks.map(id));
  const kept = (chunks: readonly LayerChunk[], other: Set<string>) => chunks.filter((c) => other.has(id(c))).map(id).join(' ');
  if (kept(before.chunks, inAfter) !== kept(after.chunks, inBefore)) return undefined;
  const keys = new Set<string>();
  const add = (chunk: LayerChunk) => {
    for (const entry of chunk.entries) keys.add(entry.key);
    for (const key of chunk.deleted.keys()) keys.add(key);
  };
  for (const chunk of before.chunks) if (!inAfter.has(id(chunk))) add(chunk);
  for (const chunk of after.chunks) if (!inBefore.has(id(chunk))) add(chunk);
  return keys;
}
