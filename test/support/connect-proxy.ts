/**
 * A minimal HTTP CONNECT proxy on loopback, as a corporate egress proxy
 * looks to a client: each CONNECT opens one TCP tunnel to the requested
 * host:port, bytes are piped untouched (TLS passes through end to end), and
 * the proxy counts the tunnels, so a test can tell whether a client pools its
 * tunnelled connections or opens one per request.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A running CONNECT proxy. */
export class ConnectProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Duplex>();
  #tunnels = 0;
  #refused = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  /**
   * Listens on 127.0.0.1 (a free port). Tunnels only to loopback targets:
   * anything else is refused with 403 (and counted in `refused`).
   */
  static async start(): Promise<ConnectProxy> {
    const server = createServer((_req, res) => {
      // Plain proxied requests (GET http://...) are not what this proxy is for.
      res.writeHead(405).end();
    });
    const proxy = new ConnectProxy(server);
    server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => proxy.#tunnel(req, client, head));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  /** http://127.0.0.1:<port>, for a kubeconfig's proxy-url. */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Tunnels opened so far (one per CONNECT that reached its target). */
  get tunnels(): number {
    return this.#tunnels;
  }

  /** CONNECT requests refused so far (non-loopback or unreachable targets). */
  get refused(): number {
    return this.#refused;
  }

  /** Stops listening and closes every tunnel. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #tunnel(req: IncomingMessage, client: Duplex, head: Buffer): void {
    this.#track(client);
    const target = new URL(`http://${req.url ?? ''}`);
    if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
      this.#refused++;
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream: Socket = connect(Number(target.port), '127.0.0.1');
    this.#track(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      this.#tunnels++;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', () => {
      if (!connected) {
        this.#refused++;
        client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      } else {
        client.destroy();
      }
    });
    client.once('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }
}
