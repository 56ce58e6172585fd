/**
 * Keeps one named object (a bucket's ConfigMap, an election's Lease), or the
 * objects with some labels (a bucket's session Leases), in view with a
 * list+watch loop that never silently stops.
 *
 * Guarantees:
 * - Every change after the starting resourceVersion is delivered in order, or
 *   the loop relists and reports the full current state with `onSync` (or
 *   `onList`) after 410 Gone; so a consumer that applies events and syncs
 *   never misses a final state. Events may repeat after a reconnect: dedupe by resourceVersion.
 * - Bookmarks are requested, so an idle watch advances its resourceVersion and
 *   a reconnect rarely needs a relist.
 * - Connection loss, server restarts, 429/5xx and inactivity reconnect with
 *   jittered exponential backoff; persistent failures (403) are reported with
 *   `onError` and retried with the same backoff until `stop()`.
 * - Following one object, it only lists and watches with fieldSelector
 *   metadata.name=<name>, so an RBAC Role restricted by resourceNames is
 *   enough. Following labelled objects (a labelSelector) is one list and
 *   one watch for all of them, and needs list and watch on the resource.
 *
 * Non-guarantees: delivery is as timely as the API server's watch; between a
 * disconnect and the reconnect nothing is delivered (see `lastContactAt`).
 */
import { systemClock, type Clock } from '../clock.js';
import { KubekvError, UnavailableError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { ObjectList, ResourceClient } from './api.js';
import { Backoff, retryWithBackoff, type BackoffOptions } from './backoff.js';
import { isGone } from './errors.js';
import type { KubeObject } from './types.js';

/** Why a list+watch loop opened a new watch. */
export type WatchRestartReason =
  /** The server ended the watch (its 30-60 min timeout): resumed from the last resourceVersion. */
  | 'closed'
  /** The resourceVersion was too old (410 Gone): relisted. */
  | 'expired'
  /** The request or stream failed (network, 5xx, 403, inactivity): retried after a backoff. */
  | 'failed';

/** Options of {@link ObjectWatcher}: what it follows (one object by name, or every object with some labels), and the rest. */
export type ObjectWatcherOptions<T extends KubeObject> = ObjectWatcherCommon<T> & (FollowOne<T> | FollowLabelled<T>);

/** Follow one object by name. */
export interface FollowOne<T extends KubeObject> {
  /** Name of the object to follow. */
  name: string;
  /** Lists the collection with the given fieldSelector (a quorum read); default `api.list`. */
  list?: ((fieldSelector: string) => Promise<ObjectList<T>>) | undefined;
  /** Full state after a (re)list: the object, or undefined if it does not exist. */
  onSync: (object: T | undefined, resourceVersion: string) => void;
  /** Not with `name`: one or the other. */
  labelSelector?: never;
}

/** Follow every object with some labels (one watch, however many there are). */
export interface FollowLabelled<T extends KubeObject> {
  /** A label selector, e.g. `app.kubernetes.io/managed-by=kubekv`. */
  labelSelector: string;
  /** Full state after a (re)list: every object selected. */
  onList: (objects: T[], resourceVersion: string) => void;
  /** Not with `labelSelector`: one or the other. */
  name?: never;
}

/** Options of {@link ObjectWatcher} whatever it follows. */
export interface ObjectWatcherCommon<T extends KubeObject> {
  /** The resource the object is of (its namespace is the object's). */
  api: ResourceClient<T>;
  /** A change, in server order. */
  onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: T) => void;
  /**
   * A bookmark: nothing changed up to this resourceVersion. Also called for
   * an event `alreadyHeld` says the consumer holds (instead of onEvent).
   */
  onProgress?: (resourceVersion: string) => void;
  /**
   * True when the consumer already holds the object at `resourceVersion` or
   * newer, so an ADDED or MODIFIED event at it would change nothing: such an
   * event is not parsed (see watchStream's `alreadyHeld`).
   */
  alreadyHeld?: (resourceVersion: string) => boolean;
  /** A failure the loop is retrying; the watch is not current until it recovers. */
  onError?: (error: KubekvError) => void;
  /** The loop opens the watch again, for `reason` (metrics: src/metrics/observer.ts); must not throw. */
  onRestart?: (reason: WatchRestartReason) => void;
  logger?: Logger;
  clock?: Clock;
  /** Reconnect backoff; default 200 ms growing to 5 s, jittered. */
  backoff?: BackoffOptions;
  /** See watchStream; default 150000 ms. */
  inactivityTimeoutMs?: number;
}

/** A running list+watch loop for one object, or for the objects with some labels. */
export class ObjectWatcher<T extends KubeObject> {
  readonly #o: ObjectWatcherOptions<T>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #connected = false;
  #lastContactAt: number | undefined;
  #resourceVersion: string | undefined;

  /** @param options - see {@link ObjectWatcherOptions} */
  constructor(options: ObjectWatcherOptions<T>) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    // A follower's cache is stale while it waits, so the ceiling is low: one
    // request per replica every few seconds is cheap next to a stale cache.
    this.#backoff = new Backoff({ initialMs: 200, maxMs: 5000, ...options.backoff });
  }

  /** True while a watch request is open. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Monotonic time (clock.monotonic) of the last list, event, bookmark or watch open; undefined before the first. */
  get lastContactAt(): number | undefined {
    return this.#lastContactAt;
  }

  /** The newest resourceVersion seen. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /**
   * Starts the loop. With `from`, it watches from that resourceVersion (the
   * caller already holds the state as of it); without, it lists first.
   */
  start(from?: string): void {
    if (this.#loop) throw new Error('ObjectWatcher already started');
    this.#resourceVersion = from;
    this.#loop = this.#run();
  }

  /** Stops the loop and waits for it to end. */
  async stop(): Promise<void> {
    this.#stop.abort(new DOMException('watcher stopped', 'AbortError'));
    await this.#loop;
  }

  async #run(): Promise<void> {
    const o = this.#o;
    const { api } = o;
    const { namespace, resource } = api;
    const what = o.labelSelector !== undefined ? `${resource} ${namespace} labelled ${o.labelSelector}` : `${resource} ${namespace}/${o.name}`;
    const selector = o.labelSelector !== undefined ? { labelSelector: o.labelSelector } : { fieldSelector: `metadata.name=${o.name}` };
    /** One (re)list: its resourceVersion, and the call that hands the full state to the consumer. */
    const relist = async (): Promise<{ resourceVersion: string; deliver: () => void }> => {
      if (o.labelSelector !== undefined) {
        const listed = await api.list({ labelSelector: o.labelSelector });
        return { resourceVersion: listed.resourceVersion, deliver: () => o.onList(listed.items, listed.resourceVersion) };
      }
      const listed = await (o.list ?? ((fieldSelector: string) => api.list({ fieldSelector })))(`metadata.name=${o.name}`);
      return { resourceVersion: listed.resourceVersion, deliver: () => o.onSync(listed.items.find((i) => i.metadata?.name === o.name), listed.resourceVersion) };
    };
    const signal = this.#stop.signal;
    /** One list (when needed) and watch; resolves when it may reopen at once, throws to be retried after a pause. */
    const session = async (): Promise<void> => {
      try {
        if (this.#resourceVersion === undefined) {
          const listed = await relist();
          if (signal.aborted) return;
          this.#contact();
          this.#resourceVersion = listed.resourceVersion;
          listed.deliver();
        }
        const events = api.watch({
          resourceVersion: this.#resourceVersion,
          ...selector,
          signal,
          inactivityTimeoutMs: this.#o.inactivityTimeoutMs,
          alreadyHeld: this.#o.alreadyHeld,
          onOpen: () => {
            this.#connected = true;
            this.#contact();
          },
        });
        let delivered = false;
        for await (const event of events) {
          this.#contact();
          // Only a watch that delivers resets the backoff: one the server
          // accepts and closes at once (overload, a proxy) must not become a
          // tight reconnect loop.
          this.#backoff.reset();
          delivered = true;
          const rv = event.object.metadata?.resourceVersion;
          // The consumer handles the event before the resourceVersion
          // advances: if it throws, the reconnect replays the event rather
          // than skipping it.
          if (event.type === 'BOOKMARK') this.#o.onProgress?.(rv ?? this.#resourceVersion ?? '');
          else this.#o.onEvent(event.type, event.object);
          if (rv) this.#resourceVersion = rv;
        }
        // The server closed the watch (its timeout): resume from where we are.
        this.#connected = false;
        if (!signal.aborted) this.#o.onRestart?.('closed');
        if (!delivered) throw closedEmpty;
      } catch (err) {
        this.#connected = false;
        if (signal.aborted || err === closedEmpty) throw err;
        if (isGone(err)) {
          this.#log.info({ resource, namespace }, 'watch resourceVersion expired (410); relisting');
          this.#resourceVersion = undefined;
          this.#o.onRestart?.('expired');
          return;
        }
        // The port maps every failure; anything else is a bug in a consumer callback, reported the same way.
        throw err instanceof KubekvError ? err : new UnavailableError(`watch of ${what} failed`, { cause: err });
      }
    };
    while (!signal.aborted) {
      // Retried (p-retry, pauses on the injected clock) until a session ends
      // in a way that reopens at once, or stop() aborts.
      await retryWithBackoff(session, {
        clock: this.#clock,
        backoff: this.#backoff,
        signal,
        onRetry: (err, delay) => {
          if (err === closedEmpty || !(err instanceof KubekvError)) return;
          this.#log.warn({ resource, namespace, code: err.code, attempt: this.#backoff.attempt, delayMs: Math.round(delay) }, `list+watch failed; retrying: ${err.message}`);
          this.#o.onError?.(err);
          this.#o.onRestart?.('failed');
        },
      }).catch(() => {});
    }
    this.#connected = false;
  }

  #contact(): void {
    this.#lastContactAt = this.#clock.monotonic();
  }
}

/** A session the server closed before it delivered anything: reopened after a pause, not reported as a failure. */
const closedEmpty = new Error('the watch closed before delivering anything');
