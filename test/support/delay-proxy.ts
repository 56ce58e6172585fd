/**
 * A TCP proxy on loopback that adds a fixed round-trip time to every
 * connection through it, so a benchmark can show what a client's round
 * trips per operation cost on a real network while the API server stays on
 * 127.0.0.1. TLS passes through untouched (the serving certificate is for
 * 127.0.0.1, which the proxy also listens on).
 *
 * How the delay is applied: every chunk the client sends is forwarded
 * `rttMs` after it arrived, in order; what the server sends is forwarded at
 * once. A request and its answer thus take one added round trip however the
 * delay would be split between the two directions on a real network, and
 * Node's timers (1 ms resolution: a 0.5 ms one-way delay would round up)
 * need only one delay per round trip. Bandwidth is not limited and nothing
 * is lost or reordered. {@link measureAddedRttMs} reports what the delay
 * really added (timers fire late on a busy machine), for the benchmark to
 * print beside its figures.
 *
 * Its timers run on the event loop of the process that started it: a
 * benchmark whose process is busy (decoding watch events of in-process
 * followers) delays them further. {@link DelayProxyProcess} runs the proxy
 * in a Node process of its own instead.
 *
 * Only loopback: the proxy listens on 127.0.0.1 and connects to 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';

/** A running delaying proxy. */
export class DelayProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly rttMs: number;

  private constructor(server: Server, rttMs: number) {
    this.#server = server;
    this.rttMs = rttMs;
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `targetPort` on 127.0.0.1, adding `rttMs` per round trip. */
  static async start(targetPort: number, rttMs: number): Promise<DelayProxy> {
    if (!(rttMs >= 0 && Number.isFinite(rttMs))) throw new RangeError(`DelayProxy.start: rttMs must be a finite number >= 0, got ${rttMs}`);
    const server = createServer({ noDelay: true });
    const proxy = new DelayProxy(server, rttMs);
    server.on('connection', (client) => proxy.#accept(client, targetPort));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** A copy of `kc` whose server is this proxy. */
  kubeConfigFor(kc: KubeConfig): KubeConfig {
    return kubeConfigVia(kc, this.port);
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: Socket, targetPort: number): void {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort, noDelay: true });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const delayed = new DelayedWriter(upstream, this.rttMs);
    client.on('data', (chunk: Buffer) => delayed.write(chunk));
    client.on('end', () => delayed.end());
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    upstream.on('end', () => client.end());
  }
}

/** Writes each chunk to `socket` `delayMs` after it was given, in order. */
class DelayedWriter {
  readonly #socket: Socket;
  readonly #delayMs: number;
  /** Chunks waiting, with the performance.now() at which each is due; `end` marks the client's end. */
  readonly #queue: { due: number; chunk: Buffer | 'end' }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, delayMs: number) {
    this.#socket = socket;
    this.#delayMs = delayMs;
  }

  write(chunk: Buffer): void {
    this.#push(chunk);
  }

  end(): void {
    this.#push('end');
  }

  #push(chunk: Buffer | 'end'): void {
    this.#queue.push({ due: performance.now() + this.#delayMs, chunk });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    const wait = Math.max(0, this.#queue[0]!.due - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
  }

  #flush(): void {
    const now = performance.now();
    while (this.#queue.length > 0 && this.#queue[0]!.due <= now) {
      const { chunk } = this.#queue.shift()!;
      if (this.#socket.destroyed) continue;
      if (chunk === 'end') this.#socket.end();
      else this.#socket.write(chunk);
    }
    this.#schedule();
  }
}

/** A copy of `kc` whose server is https://127.0.0.1:`port`. */
function kubeConfigVia(kc: KubeConfig, port: number): KubeConfig {
  const via = new KubeConfig();
  via.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return via;
}

/**
 * A {@link DelayProxy} in a Node process of its own (this file run as a
 * program), so its timers keep time however busy the caller is. The child
 * exits when the caller closes it or goes away (its stdin ends).
 */
export class DelayProxyProcess {
  readonly #child: ChildProcess;
  readonly port: number;
  readonly rttMs: number;

  private constructor(child: ChildProcess, port: number, rttMs: number) {
    this.#child = child;
    this.port = port;
    this.rttMs = rttMs;
  }

  /** Starts the child and waits for its port (it forwards to `targetPort` on 127.0.0.1, adding `rttMs`). */
  static async start(targetPort: number, rttMs: number): Promise<DelayProxyProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), String(targetPort), String(rttMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`delay proxy process exited ${code} before listening`)));
    });
    return new DelayProxyProcess(child, (JSON.parse(line) as { port: number }).port, rttMs);
  }

  /** A copy of `kc` whose server is this proxy. */
  kubeConfigFor(kc: KubeConfig): KubeConfig {
    return kubeConfigVia(kc, this.port);
  }

  /** Ends the child (its connections with it). */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.stdin!.end();
    await exited;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const proxy = await DelayProxy.start(Number(process.argv[2]), Number(process.argv[3]));
  console.log(JSON.stringify({ port: proxy.port }));
  process.stdin.resume();
  process.stdin.on('end', () => void proxy.close().then(() => process.exit(0)));
}

/**
 * The round-trip time a proxy really adds: the median of `count` sequential
 * `probe()` calls through it minus the median of the same calls direct.
 * `probe` should be one request on a kept-alive connection (e.g. GET /version).
 */
export async function measureAddedRttMs(direct: () => Promise<unknown>, viaProxy: () => Promise<unknown>, count = 20): Promise<number> {
  const median = async (probe: () => Promise<unknown>) => {
    await probe(); // connection set-up is not a round trip of a request
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await probe();
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    return samples[Math.floor(samples.length / 2)]!;
  };
  return (await median(viaProxy)) - (await median(direct));
}
