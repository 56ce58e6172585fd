/**
 * The HTTP boundary to the API server: every kubekv request (ConfigMaps,
 * Leases, watches) goes through here, over persistent connections.
 *
 * Why: client-node 2.0 builds a new undici dispatcher for every request, so
 * every request opened a new TCP + TLS connection (100 connections per 100
 * puts, ~2.6 ms of CPU per handshake) where client-go reuses one HTTP/2
 * connection. Here each distinct cluster + credentials gets ONE pool, cached
 * for the process and shared by every store, elector, lock and watch:
 * - unary requests (reads, writes, Lease renewals) are streams on one HTTP/2
 *   connection, as client-go sends them (h2-session.ts: Node's http2 module;
 *   about 0.3 ms and a third of the client CPU less per request than
 *   HTTP/1.1 on loopback);
 * - watches use HTTP/1.1 keep-alive connections (undici), one per open
 *   watch, so a busy watch never shares flow control with the writes.
 * (undici's own HTTP/2 client, which would carry both, destroyed idle
 * sessions with an uncaught "socket idle timeout" error in our contention
 * test, every run.)
 *
 * Authentication stays client-node's, asked per request, so everything its
 * KubeConfig supports keeps working: client certificates, bearer tokens, the
 * in-cluster service-account token the kubelet rotates on disk, exec
 * credential plugins (their cached credentials included), custom CAs,
 * skipTLSVerify, tlsServerName, proxies (through client-node's own proxy
 * dispatcher, kept per cluster like ours; it negotiates HTTP/2 through the
 * tunnel, which test/integration/kube/auth.test.ts exercises, idle periods
 * included). One pool per distinct TLS material: a rotated client
 * certificate gets a new pool.
 *
 * Bodies are plain JSON: no per-request model (de)serialisation, which for a
 * 1 MiB bucket cost more than the request itself; and requests use undici's
 * request(), not fetch(), whose per-request machinery costs about as much
 * as the round trip on loopback.
 *
 * undici and client-node's request classes load on the first request, not
 * at import: loading them costs ~0.3 s, which `kubekv --help` and a test
 * importing kubekv/testing should not pay.
 */
import { createHash } from 'node:crypto';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type * as UndiciModule from 'undici';
import type { Dispatcher } from 'undici';
import { UnavailableError } from '../errors.js';
import { missingKubeconfig } from './config.js';
import { HttpStatusError, parseJsonAnswer } from './errors.js';
import { H2Client, H2Unsupported } from './h2-session.js';
import { USER_AGENT } from './user-agent.js';

/** One request. */
export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API path, e.g. /api/v1/namespaces/ns/configmaps/name. */
  path: string;
  /** Query parameters; undefined ones are left out. */
  query?: Record<string, string | number | boolean | undefined> | undefined;
  /** JSON body. */
  body?: unknown;
  /** Content-Type of the body. Default application/json. */
  contentType?: string | undefined;
  /** Accept header: what representation to answer with. Default application/json. */
  accept?: string | undefined;
  /** Abandons the request. */
  signal?: AbortSignal | undefined;
}

/** An answer whose body is not read yet (a watch stream). */
export interface KubeStream {
  readonly status: number;
  /** The body, chunk by chunk. */
  readonly body: AsyncIterable<Uint8Array>;
  /** Reads the whole body as text. */
  text(): Promise<string>;
}

type Undici = typeof UndiciModule;
let undici: Undici | undefined;
let undiciLoading: Promise<Undici> | undefined;
/** undici, loaded once on first use (the module doc says why not at import). */
async function loadUndici(): Promise<Undici> {
  return (undici ??= await (undiciLoading ??= import('undici')));
}

/** Most dispatchers kept: one per distinct cluster + TLS identity; the oldest is closed beyond this (certificate rotation). */
const MAX_POOLS = 16;
/** Process-wide: every KubeConfig with the same cluster and TLS identity shares one pool. */
const pools = new Map<string, Pool>();

/** The connections of one cluster + TLS identity. */
interface Pool {
  /** HTTP/1.1 keep-alive connections (watches; every request through a proxy). */
  dispatcher: Dispatcher | undefined;
  /** The HTTP/2 connection for unary requests; none through a proxy. */
  h2: H2Client | undefined;
}
const transports = new WeakMap<KubeConfig, KubeTransport>();

/** Requests to one KubeConfig's current cluster, over the process's shared connection pool. */
export class KubeTransport {
  readonly #kc: KubeConfig;

  private constructor(kc: KubeConfig) {
    this.#kc = kc;
  }

  /** The transport of `kc` (one per KubeConfig object; pools are shared across them). */
  static for(kc: KubeConfig): KubeTransport {
    let transport = transports.get(kc);
    if (!transport) {
      transport = new KubeTransport(kc);
      transports.set(kc, transport);
    }
    return transport;
  }

  /**
   * Sends `request` and parses the JSON answer. A non-2xx answer throws
   * HttpStatusError (with the Status body); a network failure throws
   * undici's error (see certainlyNotApplied for what each means).
   */
  async send<T>(request: KubeRequest): Promise<T> {
    return parseJsonAnswer<T>(await this.sendText(request), `${request.method} ${request.path}`);
  }

  /** As {@link send}, but returns the answer's JSON unparsed (to read only its prefix, see version-prefix.ts). */
  async sendText(request: KubeRequest): Promise<string> {
    const prepared = await this.#prepare(request);
    const { status, text } = (await this.#sendH2(request, prepared)) ?? (await this.#sendH1(request, prepared));
    if (status < 200 || status > 299) throw new HttpStatusError(status, text);
    return text;
  }

  /** Over the pool's HTTP/2 session; undefined when the server does not speak HTTP/2 (nothing was sent). */
  async #sendH2(request: KubeRequest, prepared: Prepared): Promise<{ status: number; text: string } | undefined> {
    const h2 = prepared.pool.h2;
    if (!h2?.supported) return undefined;
    const headers = { ...prepared.headers };
    const body = this.#body(request, headers);
    try {
      return await h2.request({ method: request.method, path: prepared.url.pathname + prepared.url.search, headers, body, signal: request.signal });
    } catch (err) {
      if (err instanceof H2Unsupported) return undefined;
      throw err;
    }
  }

  async #sendH1(request: KubeRequest, prepared: Prepared): Promise<{ status: number; text: string }> {
    const response = await this.#openPrepared(request, prepared);
    return { status: response.status, text: await response.text() };
  }

  /** Sends `request` and returns the answer unread (for watch streams); the caller checks the status. */
  async open(request: KubeRequest): Promise<KubeStream> {
    return this.#openPrepared(request, await this.#prepare(request));
  }

  /** The JSON body of `request` (and its content-type into `headers`); undefined without one. */
  #body(request: KubeRequest, headers: Record<string, string>): string | undefined {
    if (request.body === undefined) return undefined;
    headers['content-type'] = request.contentType ?? 'application/json';
    return JSON.stringify(request.body);
  }

  async #openPrepared(request: KubeRequest, prepared: Prepared): Promise<KubeStream> {
    const { url, headers } = prepared;
    const dispatcher = prepared.pool.dispatcher;
    const body = this.#body(request, headers);
    const { request: undiciRequest } = undici ?? (await loadUndici());
    const response = await undiciRequest(url, {
      method: request.method,
      headers,
      body,
      signal: request.signal,
      ...(dispatcher ? { dispatcher } : {}),
    });
    return { status: response.statusCode, body: response.body, text: () => response.body.text() };
  }

  /** The last pool key computed and what it was computed from (see #poolKey). */
  #lastKey: { parts: unknown[]; key: string } | undefined;

  /**
   * poolKey, skipping the hash when the credentials are the ones of the
   * previous request (the usual case: client-node hands out equal copies of
   * the same material on every request, and hashing them cost ~35 µs per
   * request). Compared by value, so a rotated certificate is never missed.
   */
  #poolKey(server: string, proxyUrl: string | undefined, options: HttpsRequestOptions): string {
    const parts: unknown[] = [server, proxyUrl, options.servername, options.rejectUnauthorized, options.passphrase, options.ca, options.cert, options.key, options.pfx];
    const last = this.#lastKey;
    if (last && parts.every((part, i) => sameMaterial(part, last.parts[i]))) return last.key;
    const key = poolKey(server, proxyUrl, options);
    this.#lastKey = { parts, key };
    return key;
  }

  async #prepare(request: KubeRequest): Promise<Prepared> {
    const kc = this.#kc;
    const noConfig = missingKubeconfig(kc);
    if (noConfig) throw noConfig;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new UnavailableError('the KubeConfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    // Credentials and TLS material as client-node computes them now (a
    // rotated token file, a refreshed exec credential).
    const options: HttpsRequestOptions = {};
    await kc.applyToHTTPSOptions(options);
    const headers: Record<string, string> = { accept: request.accept ?? 'application/json', 'user-agent': USER_AGENT };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    const key = this.#poolKey(cluster.server, cluster.proxyUrl, options);
    if (!pools.has(key)) {
      let pool: Pool;
      if (cluster.proxyUrl) {
        // client-node's own proxy dispatcher (http, https, socks), made once and kept: it pools too.
        const { HttpMethod, RequestContext } = await import('@kubernetes/client-node');
        const context = new RequestContext(url.toString(), HttpMethod.GET);
        await kc.applySecurityAuthentication(context);
        pool = { dispatcher: context.getDispatcher(), h2: undefined };
      } else {
        const tls = tlsOptions(options);
        const { Agent } = await loadUndici();
        pool = {
          dispatcher: new Agent({ allowH2: false, connect: { ...tls, keepAlive: true, keepAliveInitialDelay: 30_000 } }),
          h2: url.protocol === 'https:' ? new H2Client(url.origin, tls) : undefined,
        };
      }
      if (!pools.has(key)) remember(key, pool);
      else closePool(pool);
    }
    return { url, headers, pool: pools.get(key)! };
  }
}

/** The TLS options client-node computed, as undici's connect options take them. */
function tlsOptions(options: HttpsRequestOptions): Record<string, unknown> {
  const tls: Record<string, unknown> = {};
  for (const name of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const) {
    if (options[name] !== undefined) tls[name] = options[name];
  }
  return tls;
}

function remember(key: string, pool: Pool): void {
  pools.set(key, pool);
  if (pools.size <= MAX_POOLS) return;
  const [oldestKey, oldest] = pools.entries().next().value!;
  pools.delete(oldestKey);
  closePool(oldest);
}

/** Graceful: requests in flight finish first. */
function closePool(pool: Pool): void {
  void pool.dispatcher?.close().catch(() => {});
  pool.h2?.close();
}

/** A request ready to send: its URL, headers and the pool to send it through. */
interface Prepared {
  url: URL;
  headers: Record<string, string>;
  pool: Pool;
}

/** Equal TLS material (strings, Buffers, or arrays of them) or equal plain values. */
function sameMaterial(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'string' || typeof b === 'string') return false;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameMaterial(item, b[i]));
  return false;
}

/** What makes two connections interchangeable: server, proxy and the TLS identity. */
function poolKey(server: string, proxyUrl: string | undefined, options: HttpsRequestOptions): string {
  const hash = createHash('sha256');
  for (const part of [server, proxyUrl ?? '', options.servername ?? '', String(options.rejectUnauthorized ?? ''), options.passphrase ?? '']) {
    hash.update(part).update('\0');
  }
  for (const material of [options.ca, options.cert, options.key, options.pfx]) {
    const items = material === undefined ? [] : Array.isArray(material) ? material : [material];
    for (const item of items) hash.update(typeof item === 'string' || Buffer.isBuffer(item) ? item : JSON.stringify(item));
    hash.update('\0');
  }
  return hash.digest('base64url');
}
