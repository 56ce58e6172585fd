/**
 * The HTTP boundary to the API server: every kubekv request (ConfigMaps,
 * Leases, watches) goes through here, over persistent connections.
 *
 * Why: client-node 2.0 builds a new undici dispatcher for every request, so
 * every request opened a new TCP + TLS connection (100 connections per 100
 * puts, ~2.6 ms of CPU per handshake) where client-go reuses one HTTP/2
 * connection. Here each distinct cluster + credentials gets ONE dispatcher,
 * cached for the process and shared by every store, elector, lock and watch.
 * Connections are HTTP/1.1 with keep-alive: sequential requests reuse one,
 * each open watch holds one. (undici's HTTP/2 client, which would multiplex
 * them as client-go does, destroyed idle sessions with an uncaught "socket
 * idle timeout" error in our contention test, every run; HTTP/1.1 pooling
 * is its mature path.)
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
 */
import { createHash } from 'node:crypto';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { UnavailableError } from '../errors.js';
import { HttpStatusError } from './errors.js';

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

/** Most dispatchers kept: one per distinct cluster + TLS identity; the oldest is closed beyond this (certificate rotation). */
const MAX_POOLS = 16;
/** Process-wide: every KubeConfig with the same cluster and TLS identity shares one pool. */
const pools = new Map<string, Dispatcher | undefined>();
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
    const response = await this.open(request);
    const text = await response.text();
    if (response.status < 200 || response.status > 299) throw new HttpStatusError(response.status, text);
    return JSON.parse(text) as T;
  }

  /** Sends `request` and returns the answer unread (for watch streams); the caller checks the status. */
  async open(request: KubeRequest): Promise<KubeStream> {
    const { url, headers, dispatcher } = await this.#prepare(request);
    let body: string | undefined;
    if (request.body !== undefined) {
      headers['content-type'] = request.contentType ?? 'application/json';
      body = JSON.stringify(request.body);
    }
    const response = await undiciRequest(url, {
      method: request.method,
      headers,
      body,
      signal: request.signal,
      ...(dispatcher ? { dispatcher } : {}),
    });
    return { status: response.statusCode, body: response.body, text: () => response.body.text() };
  }

  async #prepare(request: KubeRequest): Promise<{ url: URL; headers: Record<string, string>; dispatcher: Dispatcher | undefined }> {
    const kc = this.#kc;
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
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    const key = poolKey(cluster.server, cluster.proxyUrl, options);
    if (!pools.has(key)) {
      let dispatcher: Dispatcher | undefined;
      if (cluster.proxyUrl) {
        // client-node's own proxy dispatcher (http, https, socks), made once and kept: it pools too.
        const context = new RequestContext(url.toString(), HttpMethod.GET);
        await kc.applySecurityAuthentication(context);
        dispatcher = context.getDispatcher();
      } else {
        dispatcher = new Agent({ allowH2: false, connect: { ...tlsOptions(options), keepAlive: true, keepAliveInitialDelay: 30_000 } });
      }
      if (!pools.has(key)) remember(key, dispatcher);
      else void dispatcher?.close().catch(() => {});
    }
    return { url, headers, dispatcher: pools.get(key) };
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

function remember(key: string, dispatcher: Dispatcher | undefined): void {
  pools.set(key, dispatcher);
  if (pools.size <= MAX_POOLS) return;
  const [oldestKey, oldest] = pools.entries().next().value!;
  pools.delete(oldestKey);
  // Graceful: requests in flight on it finish first.
  void oldest?.close().catch(() => {});
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
