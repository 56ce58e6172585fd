/**
 * Unary requests over one HTTP/2 connection per cluster + TLS identity, as
 * client-go talks to the API server: every request of the process is a
 * stream on it, so a request costs no connection and less framing and CPU
 * than HTTP/1.1 (measured: about 0.3 ms less per PATCH on loopback).
 * Watches stay on HTTP/1.1 (transport.ts): a long-lived stream per watch
 * would share this connection's flow-control window with every write.
 *
 * Node's own http2 module is used (nghttp2, the stack gRPC uses in Node), not
 * undici's HTTP/2 client, which crashed processes with uncaught session
 * errors in our contention and robustness runs.
 *
 * Failure handling, because one connection now carries every request:
 * - The connection is made before a request is sent, so a refused or failed
 *   connect surfaces as that error (ECONNREFUSED stays "certainly not
 *   applied" for the write path, see certainlyNotApplied).
 * - Any session error, GOAWAY or close retires the session; the next request
 *   makes a new one. Streams in flight fail with the error (their outcome is
 *   unknown to the caller, as with a reset HTTP/1.1 connection).
 * - A half-open connection (a partition, a dead peer) answers nothing: when a
 *   request is abandoned (its deadline), the session is pinged and retired
 *   unless the peer answers within PING_TIMEOUT_MS, as client-go's HTTP/2
 *   health check does.
 * - An idle session is closed after IDLE_MS, and does not keep the process
 *   alive while no request is in flight (one connecting or waiting does).
 * - A connection not made within CONNECT_TIMEOUT_MS is given up.
 */
import { connect, constants, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import { raceSignal } from './signals.js';

/** `promise`, raced with `signal` when there is one. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return signal ? raceSignal(promise, signal) : promise;
}

/** Closes a session no request used for this long (client-go: 90 s). */
const IDLE_MS = 90_000;
/** A connection (TCP + TLS) not made within this long is given up (client-go: 30 s dial, 10 s TLS handshake). */
const CONNECT_TIMEOUT_MS = 10_000;
/** A session whose peer does not answer a ping within this long is retired (client-go: 15 s; loopback-scale here). */
const PING_TIMEOUT_MS = 5_000;

/**
 * The server does not speak HTTP/2 (its TLS handshake refused the h2
 * protocol): nothing was sent; send the request over HTTP/1.1 instead.
 */
export class H2Unsupported extends Error {
  /** @param cause - the handshake's error */
  constructor(cause: unknown) {
    super('the server does not offer HTTP/2', { cause });
    this.name = 'H2Unsupported';
  }
}

/** One request's answer, read whole. */
export interface H2Answer {
  status: number;
  text: string;
}

/** One unary request. */
export interface H2Request {
  method: string;
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
  body?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** A lazily connected, self-healing HTTP/2 session to one origin with one TLS identity. */
export class H2Client {
  readonly #origin: string;
  readonly #tls: SecureClientSessionOptions;
  #session: Promise<ClientHttp2Session> | undefined;
  /** The server refused HTTP/2 once: every request of this pool goes over HTTP/1.1 (see H2Unsupported). */
  #unsupported = false;
  /** The connected session of #session, once connected. */
  #live: ClientHttp2Session | undefined;
  /** Requests in flight (connecting included). */
  #active = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  /**
   * @param origin - https://host:port of the API server
   * @param tls - TLS options (ca, cert, key, servername, rejectUnauthorized...)
   */
  constructor(origin: string, tls: SecureClientSessionOptions) {
    this.#origin = origin;
    this.#tls = tls;
  }

  /** Sends `request` and reads its whole answer. Network failures reject with the connection's or stream's error. */
  /** False once the server refused HTTP/2 (an endpoint with it turned off): use HTTP/1.1. */
  get supported(): boolean {
    return !this.#unsupported;
  }

  async request(request: H2Request): Promise<H2Answer> {
    if (this.#unsupported) throw new H2Unsupported(undefined);
    request.signal?.throwIfAborted();
    // Counted from the start: a request still connecting keeps the process alive too.
    this.#begin();
    try {
      const pending = this.#connect();
      const session = await raceAbort(pending, request.signal);
      // Aborted in the hop since: send nothing.
      request.signal?.throwIfAborted();
      session.ref();
      return await this.#exchange(pending, session, request);
    } finally {
      this.#end();
    }
  }

  #exchange(pending: Promise<ClientHttp2Session>, session: ClientHttp2Session, request: H2Request): Promise<H2Answer> {
    return new Promise<H2Answer>((resolve, reject) => {
      const stream = session.request(
        { [constants.HTTP2_HEADER_METHOD]: request.method, [constants.HTTP2_HEADER_PATH]: request.path, ...request.headers },
        { endStream: request.body === undefined },
      );
      const chunks: Buffer[] = [];
      let status = 0;
      const onAbort = () => {
        // The peer may be gone without a word: check it, so the requests
        // after this one do not wait for their deadlines too.
        this.#probe(pending, session);
        stream.close(constants.NGHTTP2_CANCEL);
        reject(request.signal?.reason as Error);
      };
      request.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => request.signal?.removeEventListener('abort', onAbort);
      stream.on('response', (headers) => (status = Number(headers[constants.HTTP2_HEADER_STATUS])));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      let ended = false;
      stream.on('end', () => (ended = true));
      stream.on('error', (err: Error) => {
        done();
        reject(err);
      });
      // Decided on 'close', not 'end': a connection the peer closed (a
      // killed apiserver, a proxy) also ends its streams, with no status or
      // a cut-off body, and only the stream's close code tells. That is a
      // lost answer, never an HTTP status.
      stream.on('close', () => {
        done();
        if (ended && status > 0 && stream.rstCode === constants.NGHTTP2_NO_ERROR) {
          resolve({ status, text: Buffer.concat(chunks).toString('utf8') });
          return;
        }
        const error = new Error(`HTTP/2 stream closed before its answer was complete (status ${status}, close code ${stream.rstCode})`);
        reject(Object.assign(error, { code: 'ERR_HTTP2_STREAM_CLOSED' }));
      });
      if (request.body !== undefined) stream.end(request.body);
    });
  }

  /** Closes the session (requests in flight finish first). */
  close(): void {
    const pending = this.#session;
    this.#session = undefined;
    this.#live = undefined;
    clearTimeout(this.#idleTimer);
    void pending?.then((session) => session.close()).catch(() => {});
  }

  /** The current session, connecting one when there is none. */
  #connect(): Promise<ClientHttp2Session> {
    if (this.#session) return this.#session;
    const pending = new Promise<ClientHttp2Session>((resolve, reject) => {
      const session = connect(this.#origin, { ...this.#tls });
      const retire = () => {
        clearTimeout(connectTimer);
        if (this.#session === pending) this.#session = undefined;
        if (this.#live === session) this.#live = undefined;
      };
      // A black-holed handshake must not hold every later request: give up
      // on it, and the next request connects afresh.
      const connectTimer = setTimeout(() => session.destroy(Object.assign(new Error(`HTTP/2 connect to ${this.#origin} timed out after ${CONNECT_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
      connectTimer.unref();
      // Handled for the session's whole life: an unhandled session error
      // would crash the process.
      session.on('error', (err: Error) => {
        retire();
        if ((err as { code?: unknown }).code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
          this.#unsupported = true;
          reject(new H2Unsupported(err));
        } else reject(err);
      });
      session.on('goaway', retire);
      session.on('close', () => {
        retire();
        reject(new Error('HTTP/2 session closed before it connected'));
      });
      session.once('connect', () => {
        clearTimeout(connectTimer);
        this.#live = session;
        // Idle, it must not keep the process alive (a request refs it).
        if (this.#active === 0) session.unref();
        resolve(session);
      });
    });
    pending.catch(() => {});
    this.#session = pending;
    return pending;
  }

  #begin(): void {
    this.#active++;
    clearTimeout(this.#idleTimer);
  }

  #end(): void {
    if (--this.#active > 0) return;
    this.#live?.unref();
    this.#idleTimer = setTimeout(() => {
      if (this.#active === 0 && this.#session) this.close();
    }, IDLE_MS);
    this.#idleTimer.unref();
  }

  /** Pings the session; retires it unless the peer answers in time. */
  #probe(pending: Promise<ClientHttp2Session>, session: ClientHttp2Session): void {
    // A session closing gracefully (GOAWAY) finishes its streams: leave it.
    if (session.destroyed || session.closed) return;
    const retire = () => {
      if (this.#session === pending) this.#session = undefined;
      session.destroy();
    };
    const timer = setTimeout(retire, PING_TIMEOUT_MS);
    timer.unref();
    const sent = session.ping((err) => {
      clearTimeout(timer);
      if (err) retire();
    });
    // Not sent: too many pings are outstanding, so a probe is already
    // pending and will retire the session if the peer is gone.
    if (!sent) clearTimeout(timer);
  }
}
