/**
 * The load balancer in front of the HA topology's kube-apiservers: a TCP
 * (layer 4) balancer on 127.0.0.1, as clusters put in front of their
 * control plane. TLS passes through untouched (the serving certificate is
 * for 127.0.0.1, which the balancer also listens on).
 *
 * Guarantees: each new client connection goes to the next backend in
 * round-robin order; a backend whose connect fails (refused: its apiserver is
 * down) is skipped for the next one, so a dead apiserver gets no new
 * connections, as behind a health-checked balancer. A connection lives on
 * one backend for its whole life; when either side closes or fails, so does
 * the other.
 *
 * Non-guarantees: it checks TCP reachability only, never /readyz, so an
 * apiserver that accepts connections but cannot reach etcd still gets its
 * share of them (its requests hang or fail, as behind a real L4 balancer
 * with TCP health checks). When every backend refuses, the client
 * connection is closed.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** How long one backend may take to accept a connection before the next is tried, in ms. */
const CONNECT_TIMEOUT_MS = 2000;

/** A running balancer. */
export class Balancer {
  readonly #server: Server;
  readonly #backends: readonly number[];
  /** Open client connections per backend index. */
  readonly #open: Set<Socket>[];
  /** Every client connection, linked or still looking for a backend (close() ends them all). */
  readonly #clients = new Set<Socket>();
  #next = 0;

  private constructor(server: Server, backends: readonly number[]) {
    this.#server = server;
    this.#backends = backends;
    this.#open = backends.map(() => new Set());
  }

  /** Listens on 127.0.0.1 (`port`, default a free one) and balances over the backend ports on 127.0.0.1. */
  static async start(backends: readonly number[], port = 0): Promise<Balancer> {
    if (backends.length === 0) throw new RangeError('Balancer.start(backends): at least one backend port is required');
    const server = createServer({ noDelay: true, pauseOnConnect: true });
    const balancer = new Balancer(server, [...backends]);
    server.on('connection', (client) => balancer.#accept(client));
    const failed = once(server, 'error').then(([err]) => {
      throw err;
    });
    server.listen(port, '127.0.0.1');
    await Promise.race([once(server, 'listening'), failed]);
    return balancer;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Open client connections currently carried to backend `index`. */
  connections(index: number): number {
    return this.#open[index]?.size ?? 0;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    // A client still connecting to a backend is destroyed too; its link is then never made.
    for (const client of this.#clients) client.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: Socket): void {
    this.#clients.add(client);
    client.on('close', () => this.#clients.delete(client));
    client.on('error', () => {});
    const start = this.#next;
    this.#next = (this.#next + 1) % this.#backends.length;
    this.#tryBackend(client, start, 0);
  }

  /** Connects `client` to backend `index`, or to the following ones when it refuses (`tried` counts the attempts). */
  #tryBackend(client: Socket, index: number, tried: number): void {
    if (client.destroyed) return;
    if (tried === this.#backends.length) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: this.#backends[index]!, noDelay: true });
    upstream.setTimeout(CONNECT_TIMEOUT_MS);
    const fail = () => {
      upstream.destroy();
      this.#tryBackend(client, (index + 1) % this.#backends.length, tried + 1);
    };
    upstream.once('timeout', fail);
    upstream.once('error', fail);
    upstream.once('connect', () => {
      upstream.removeListener('timeout', fail);
      upstream.removeListener('error', fail);
      upstream.setTimeout(0);
      this.#link(client, upstream, index);
    });
  }

  #link(client: Socket, upstream: Socket, index: number): void {
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    const open = this.#open[index]!;
    open.add(client);
    const close = () => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', close);
    client.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }
}
