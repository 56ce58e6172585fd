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
import type { KubeConfig } from '@kubernetes/client-node';
import { UnavailableError } from '../errors.js';
import { HttpStatusError } from './errors.js';
import { raceSignal } from './signals.js';
import { KubeTransport } from './transport.js';

/** A watch event as the API server sends it. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
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
  /** Called once the server accepted the watch (HTTP 200), before any event. */
  onOpen?: (() => void) | undefined;
}

/** Opens a watch and yields its events; see the module doc for the guarantees. */
export async function* watchStream<T>(kc: KubeConfig, options: WatchStreamOptions): AsyncGenerator<WatchEvent<T>> {
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
    const response = await raceSignal(KubeTransport.for(kc).open({
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
    const decoder = new TextDecoder();
    // A line (one event) can be a whole 1 MiB ConfigMap arriving in many
    // chunks: keep the pieces and search only each new chunk for the newline,
    // or the scan turns quadratic in the object size.
    let pieces: string[] = [];
    for await (const chunk of response.body) {
      touch();
      let text = decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = text.indexOf('\n')) >= 0) {
        pieces.push(text.slice(0, newline));
        const line = pieces.join('').trim();
        pieces = [];
        text = text.slice(newline + 1);
        if (line) yield parseLine<T>(line);
      }
      if (text) pieces.push(text);
    }
    const rest = (pieces.join('') + decoder.decode()).trim();
    if (rest) yield parseLine<T>(rest);
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

function parseLine<T>(line: string): WatchEvent<T> {
  let event: { type?: unknown; object?: unknown };
  try {
    event = JSON.parse(line) as typeof event;
  } catch (err) {
    throw new UnavailableError(`watch stream sent an unparsable line (${line.length} bytes)`, { cause: err });
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
