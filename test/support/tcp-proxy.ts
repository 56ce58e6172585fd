/**
 * A TCP proxy between a client and the API server, so a test can cut one
 * client's connections (as a network fault or a partition would) while the
 * server and every other client carry on. TLS passes through untouched: the
 * serving certificate is for 127.0.0.1, which the proxy also listens on.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/** A running proxy. */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #blocked = false;
  /** Connections accepted so far (each API request or watch may open one). */
  connections = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => {
      proxy.connections++;
      if (proxy.#blocked) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      proxy.#track(client);
      proxy.#track(upstream);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Resets every open connection (in-flight requests and watches fail). */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Drops open connections and refuses new ones until unblock(): a partition. */
  block(): void {
    this.#blocked = true;
    this.dropConnections();
  }

  /** Accepts connections again. */
  unblock(): void {
    this.#blocked = false;
  }

  /** A copy of `kc` whose server is this proxy. */
  kubeConfigFor(kc: KubeConfig): KubeConfig {
    const via = new KubeConfig();
    via.loadFromOptions({
      clusters: kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${this.port}` })),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    return via;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.dropConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }
}

/** The API server port of a kubeconfig's current cluster. */
export function serverPort(kc: KubeConfig): number {
  return Number(new URL(kc.getCurrentCluster()!.server).port);
}
