/**
 * One watch request as an async iterator of events. This replaces
 * client-node's Watch because that one (2.0.x) drops unparsable lines
 * silently, reports in-stream errors only through a callback, and aborts any
 * watch idle for 30 s: an idle bucket (bookmarks come about once a minute)
 * would reconnect twice a minute for nothing.
 *
 * Guarantees: events are yielded in the order the server sent them; a
 * non-200 response or an in-stream ERROR event throws {@link HttpStatusError}
 * (410 Gone included); an unparsable line throws; a connection silent for
 * longer than `inactivityTimeoutMs` is aborted and throws, so a half-open
 * connection cannot hang a follower forever. The iterator ends normally when
 * the server closes the watch (its timeout); the caller reconnects.
 */
import { UnavailableError } from '../errors.js';
import { HttpStatusError } from './errors.js';
import { raceSignal } from './signals.js';
import type { KubeRequest, KubeStream } from './transport.js';
import { eventVersion } from './version-prefix.js';

/** A watch event as the API server sends it. */
export interface WatchEvent<T> {
  /** What happened; a BOOKMARK carries only a resourceVersion the watch has reached. */
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  /** The object after the change (for DELETED: as it was, with the deletion's resourceVersion). */
  object: T;
}

/** Options of {@link watchStream}. */
export interface WatchStreamOptions {
  /** API path of the collection, e.g. /api/v1/namespaces/ns/configmaps. */
  path: string;
  /** Query parameters (resourceVersion, fieldSelector, allowWatchBookmarks, ...). */
  query: Record<string, string | number | boolean | undefined>;
  /** Ends the watch; the iterator then throws the signal's reason. */
  signal?: AbortSignal | undefined;
  /**
   * Abort when nothing (event, bookmark or byte) arrived for this long, in ms.
   * Must exceed the server's bookmark interval (about 60 s). Default 150000.
   */
  inactivityTimeoutMs?: number | undefined;
  /**
   * Abort when the server has not accepted the watch (answered its headers)
   * within this long, in ms: a healthy server answers at once, so a
   * connection gone half-open (reused from the pool after a partition)
   * is given up in seconds, not after the inactivity timeout. Default 15000.
   */
  openTimeoutMs?: number | undefined;
  /**
   * True when the consumer already holds the object at this resourceVersion
   * (or newer). An ADDED or MODIFIED event at such a version is then yielded
   * as a BOOKMARK at it, without parsing the object: the watch of a bucket
   * delivers every commit the store made itself, and parsing a 1 MiB object
   * it already applied from the write's answer costs milliseconds of the
   * only thread. The version is read from the line's fixed prefix (see
   * version-prefix.ts); a line that does not have it is parsed as usual.
   */
  alreadyHeld?: ((resourceVersion: string) => boolean) | undefined;
  /** Called once the server accepted the watch (HTTP 200), before any event. */
  onOpen?: (() => void) | undefined;
}

/** Opens a watch and yields its events; see the module doc for the guarantees. */
export async function* watchStream<T>(wire: { open(request: KubeRequest): Promise<KubeStream> }, options: WatchStreamOptions): AsyncGenerator<WatchEvent<T>> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const inactivityMs = options.inactivityTimeoutMs ?? 150_000;
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new DOMException(`no data on the watch for ${inactivityMs} ms`, 'TimeoutError')),
      inactivityMs,
    );
    timer.unref();
  };

  try {
    const openMs = options.openTimeoutMs ?? 15_000;
    timer = setTimeout(() => controller.abort(new DOMException(`the watch was not accepted within ${openMs} ms`, 'TimeoutError')), openMs);
    timer.unref();
    // Over the process's shared connection pool, like every other request.
    // Raced with the signal too: undici honours an abort only once connected.
    const response = await raceSignal(wire.open({
      method: 'GET',
      path: options.path,
      query: { ...options.query, watch: true },
      signal: controller.signal,
    }), controller.signal);
    touch();
    if (response.status !== 200) {
      throw new HttpStatusError(response.status, await response.text());
    }
    options.onOpen?.();
    // Lines are split on bytes (a newline byte is never part of a UTF-8
    // sequence). A line (one event) can be a whole 1 MiB ConfigMap arriving
    // in many chunks: keep the pieces and search only each new chunk for the
    // newline, or the scan turns quadratic in the object size.
    const lines = new WatchLineSplitter(options.alreadyHeld);
    for await (const chunk of response.body) {
      touch();
      for (const event of lines.push(chunk)) yield event as WatchEvent<T>;
    }
    for (const event of lines.end()) yield event as WatchEvent<T>;
  } catch (err) {
    // An abort surfaces as the reason we aborted with (caller's signal or inactivity).
    if (controller.signal.aborted) throw controller.signal.reason ?? err;
    throw err;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    controller.abort();
  }
}

/**
 * Bytes of a line's start read to decide whether its object is already held:
 * the prefix eventVersion reads is at most ~1.2 KiB (names and namespaces are
 * bounded), so a bigger event is skipped as soon as this much has arrived.
 */
const HEAD_BYTES = 2048;

/** Splits a watch body into events; skips, unparsed, the lines of objects already held (exported for tests). */
export class WatchLineSplitter {
  readonly #alreadyHeld: ((resourceVersion: string) => boolean) | undefined;
  #pieces: Buffer[] = [];
  #length = 0;
  /** The current line's head was checked and it is not held. */
  #headChecked = false;
  /** The current line is held: drop its bytes up to the newline. */
  #skipping = false;

  constructor(alreadyHeld: ((resourceVersion: string) => boolean) | undefined) {
    this.#alreadyHeld = alreadyHeld;
  }

  /** The events completed (or decided) by `chunk`. */
  *push(chunk: Uint8Array): Generator<WatchEvent<unknown>> {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (rest.length > 0) {
      const newline = rest.indexOf(10);
      if (this.#skipping) {
        if (newline < 0) return;
        this.#skipping = false;
        rest = rest.subarray(newline + 1);
        continue;
      }
      if (newline < 0) {
        this.#pieces.push(rest);
        this.#length += rest.length;
        const held = this.#heldHead();
        if (held) yield held;
        return;
      }
      this.#pieces.push(rest.subarray(0, newline));
      this.#length += newline;
      rest = rest.subarray(newline + 1);
      const line = this.#take();
      if (line) yield parseLine(line, this.#alreadyHeld);
    }
  }

  /** The last event, when the body ended without a newline. */
  *end(): Generator<WatchEvent<unknown>> {
    if (this.#skipping) return;
    const line = this.#take();
    if (line) yield parseLine(line, this.#alreadyHeld);
  }

  /** The line so far, trimmed, and a fresh start. */
  #take(): string {
    const line = (this.#pieces.length === 1 ? this.#pieces[0]! : Buffer.concat(this.#pieces, this.#length)).toString('utf8').trim();
    this.#pieces = [];
    this.#length = 0;
    this.#headChecked = false;
    return line;
  }

  /** Once a long line's head has arrived: a bookmark if its object is held (the rest of the line is then dropped). */
  #heldHead(): WatchEvent<unknown> | undefined {
    if (!this.#alreadyHeld || this.#headChecked || this.#length < HEAD_BYTES) return undefined;
    this.#headChecked = true;
    const head = (this.#pieces.length === 1 ? this.#pieces[0]! : Buffer.concat(this.#pieces, this.#length)).subarray(0, HEAD_BYTES);
    const resourceVersion = eventVersion(head.toString('latin1').trimStart());
    if (resourceVersion === undefined || !this.#alreadyHeld(resourceVersion)) return undefined;
    this.#pieces = [];
    this.#length = 0;
    this.#headChecked = false;
    this.#skipping = true;
    return { type: 'BOOKMARK', object: { metadata: { resourceVersion } } };
  }
}

function parseLine<T>(line: string, alreadyHeld?: (resourceVersion: string) => boolean): WatchEvent<T> {
  if (alreadyHeld) {
    const resourceVersion = eventVersion(line);
    if (resourceVersion !== undefined && alreadyHeld(resourceVersion)) {
      // The skeleton the server's own bookmarks carry.
      return { type: 'BOOKMARK', object: { metadata: { resourceVersion } } as T };
    }
  }
  let event: { type?: unknown; object?: unknown };
  try {
    event = JSON.parse(line) as typeof event;
  } catch {
    // Not the parser's error as cause: its message quotes the line, which may hold a Secret's values.
    throw new UnavailableError(`watch stream sent an unparsable line (${line.length} bytes)`);
  }
  if (event.type === 'ERROR') {
    const status = event.object as { code?: number } | undefined;
    throw new HttpStatusError(status?.code ?? 500, JSON.stringify(event.object));
  }
  if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED' && event.type !== 'BOOKMARK') {
    throw new UnavailableError(`watch stream sent an unknown event type ${JSON.stringify(event.type)}`);
  }
  return { type: event.type, object: event.object as T };
}
