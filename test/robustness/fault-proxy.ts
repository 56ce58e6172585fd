/**
 * A TCP proxy in front of kube-apiserver for ONE robustness client, with the
 * network faults the nemesis injects. It listens on 127.0.0.1 only and passes
 * TLS through untouched (the serving certificate is for 127.0.0.1, which the
 * proxy also is), so the client's requests are real HTTPS to the real server.
 *
 * Modes (one at a time; {@link FaultProxy.heal} returns to `pass`):
 * - `pass`: bytes flow both ways.
 * - {@link FaultProxy.drop}: resets every open connection once (in-flight
 *   requests and watches fail; new connections work at once).
 * - {@link FaultProxy.partition}: resets every connection and resets new
 *   ones until heal.
 * - {@link FaultProxy.blackhole}: connections stay open (new ones are
 *   accepted) but nothing is forwarded either way, so requests hang. What was
 *   held back is delivered on heal, as packets in flight are when a network
 *   comes back: a request may reach the server long after its client gave
 *   up on it, which is exactly the late write a store must not call "failed".
 * - {@link FaultProxy.loseAnswers}: requests are forwarded, but as soon as
 *   the server's answer to one starts arriving it is thrown away and both
 *   sockets are destroyed: the write was applied, the client never hears so.
 *
 * How "the answer" is told apart from the TLS handshake: the proxy reads the
 * TLS record headers (5 plain bytes each) of both streams. In TLS 1.3 the
 * handshake's tail is encrypted as application_data (type 23) records too:
 * the server's first flight passes before the client sends any such record;
 * then the client's second flight (certificate, verify, Finished) and its
 * request. Go's server, which asks for client certificates, answers the
 * client's flight with ONE NewSessionTicket record
 * (crypto/tls handshake_server_tls13.go, sendSessionTickets after
 * readClientCertificate). After that ticket come HTTP/2 control frames
 * (the server's SETTINGS and WINDOW_UPDATE as soon as it serves the
 * connection, SETTINGS acks, PINGs, GOAWAY: each record under 100 bytes) and
 * the answers: HEADERS and DATA of an API response or watch event, 100 bytes
 * and more (status, audit id and priority-and-fairness headers alone exceed
 * that). So: the first application_data record from the server after the
 * client's flight is skipped as the ticket; any later one of 100 bytes or
 * more is an answer. (Traced on kube-apiserver 1.36 with client-node's HTTP/2
 * client; were the heuristic to misjudge, it would lose a control frame or
 * let the first record of an answer through and lose the rest: still a lost
 * connection, only the timing of the fault shifts.)
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** The fault a proxy is applying. */
export type ProxyMode = 'pass' | 'partition' | 'blackhole' | 'lose-answers';

/** Faults applied by one proxy, by kind. */
export interface FaultProxyCounters {
  /** Connections accepted. */
  connections: number;
  /** drop() calls. */
  drops: number;
  /** partition() calls. */
  partitions: number;
  /** blackhole() calls. */
  blackholes: number;
  /** loseAnswers() calls. */
  loseAnswers: number;
  /** Connections reset by drop() or partition() (open ones and refused new ones). */
  connectionsReset: number;
  /** Answers thrown away (connections destroyed) in lose-answers mode. */
  answersLost: number;
  /** Connections held in a black hole. */
  connectionsHeld: number;
}

const TLS_APPLICATION_DATA = 23;
/** Encrypted records at least this long after the ticket are answers (see the module doc). */
const ANSWER_MIN_RECORD_BYTES = 100;

/** Reads the record headers of one direction of a TLS stream (records may span chunks). */
class TlsRecords {
  #header = Buffer.alloc(0);
  #skip = 0;

  /** Type and length of the records whose header completes in `chunk`, in order. */
  scan(chunk: Buffer): { type: number; length: number }[] {
    const records: { type: number; length: number }[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - at);
        this.#skip -= n;
        at += n;
        continue;
      }
      const need = 5 - this.#header.length;
      this.#header = Buffer.concat([this.#header, chunk.subarray(at, at + need)]);
      at += Math.min(need, chunk.length - at);
      if (this.#header.length < 5) break;
      this.#skip = this.#header.readUInt16BE(3);
      records.push({ type: this.#header[0]!, length: this.#skip });
      this.#header = Buffer.alloc(0);
    }
    return records;
  }
}

/** One proxied connection. */
class Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes held back while black-holed, per direction. */
  readonly toUpstream: Buffer[] = [];
  readonly toClient: Buffer[] = [];
  held = false;
  clientEnded = false;
  upstreamEnded = false;
  readonly fromClient = new TlsRecords();
  readonly fromUpstream = new TlsRecords();
  /** The client has sent an application_data record (its second handshake flight began). */
  clientFlightSent = false;
  /** The server's session ticket went by: its next application_data records are answers. */
  ticketSeen = false;

  constructor(client: Socket, upstream: Socket) {
    this.client = client;
    this.upstream = upstream;
  }

  /** Notes what the client sent. */
  scanClient(chunk: Buffer): void {
    if (this.fromClient.scan(chunk).some((r) => r.type === TLS_APPLICATION_DATA)) this.clientFlightSent = true;
  }

  /** True when `chunk` from the server starts an answer record (see the module doc). */
  scanUpstream(chunk: Buffer): boolean {
    let answer = false;
    for (const { type, length } of this.fromUpstream.scan(chunk)) {
      if (type !== TLS_APPLICATION_DATA || !this.clientFlightSent) continue;
      if (!this.ticketSeen) this.ticketSeen = true;
      else if (length >= ANSWER_MIN_RECORD_BYTES) answer = true;
    }
    return answer;
  }

  destroy(reset: boolean): void {
    if (reset) {
      // An RST, as a dropped connection looks to the client; resetAndDestroy
      // throws on a socket that is not connected yet.
      for (const s of [this.client, this.upstream]) {
        try {
          s.resetAndDestroy();
        } catch {
          s.destroy();
        }
      }
    } else {
      this.client.destroy();
      this.upstream.destroy();
    }
  }
}

/** A running fault proxy. */
export class FaultProxy {
  readonly #server: Server;
  readonly #targetPort: number;
  readonly #links = new Set<Link>();
  #mode: ProxyMode = 'pass';
  /** Counters of faults applied; see {@link FaultProxyCounters}. */
  readonly counters: FaultProxyCounters = {
    connections: 0,
    drops: 0,
    partitions: 0,
    blackholes: 0,
    loseAnswers: 0,
    connectionsReset: 0,
    answersLost: 0,
    connectionsHeld: 0,
  };

  private constructor(server: Server, targetPort: number) {
    this.#server = server;
    this.#targetPort = targetPort;
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<FaultProxy> {
    const server = createServer({ noDelay: true });
    const proxy = new FaultProxy(server, targetPort);
    server.on('connection', (client) => proxy.#accept(client));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** The fault being applied. */
  get mode(): ProxyMode {
    return this.#mode;
  }

  /** Resets every open connection once; new connections pass. */
  drop(): void {
    this.counters.drops++;
    this.#resetAll();
  }

  /** Resets every open connection and every new one until {@link heal}. */
  partition(): void {
    this.counters.partitions++;
    this.#mode = 'partition';
    this.#resetAll();
  }

  /** Stops forwarding in both directions on every connection, old and new, until {@link heal}. */
  blackhole(): void {
    this.counters.blackholes++;
    this.#mode = 'blackhole';
    for (const link of this.#links) this.#hold(link);
  }

  /** Forwards requests but destroys each connection when its answer starts arriving, until {@link heal}. */
  loseAnswers(): void {
    this.counters.loseAnswers++;
    this.#mode = 'lose-answers';
  }

  /** Back to `pass`; black-holed connections get what was held back (late, as after a real outage). */
  heal(): void {
    this.#mode = 'pass';
    for (const link of this.#links) if (link.held) this.#release(link);
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    this.#mode = 'pass';
    for (const link of this.#links) link.destroy(false);
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: Socket): void {
    this.counters.connections++;
    client.setNoDelay(true);
    if (this.#mode === 'partition') {
      this.counters.connectionsReset++;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: this.#targetPort, noDelay: true });
    const link = new Link(client, upstream);
    this.#links.add(link);
    if (this.#mode === 'blackhole') this.#hold(link);

    client.on('data', (chunk: Buffer) => {
      link.scanClient(chunk);
      if (link.held) link.toUpstream.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const answer = link.scanUpstream(chunk);
      if (link.held) {
        link.toClient.push(chunk);
      } else if (this.#mode === 'lose-answers' && answer) {
        this.counters.answersLost++;
        this.#remove(link, false);
      } else {
        client.write(chunk);
      }
    });
    // Half-closes are passed on (late, if held); errors and full closes end the link.
    client.on('end', () => {
      link.clientEnded = true;
      if (!link.held) upstream.end();
    });
    upstream.on('end', () => {
      link.upstreamEnded = true;
      if (!link.held) client.end();
    });
    const onClose = () => {
      // While held, a side that goes away leaves what it sent in flight: heal delivers it, then ends.
      if (link.held) return;
      this.#remove(link, false);
    };
    client.on('error', () => {}).on('close', onClose);
    upstream.on('error', () => {}).on('close', onClose);
  }

  #hold(link: Link): void {
    if (link.held) return;
    link.held = true;
    this.counters.connectionsHeld++;
  }

  #release(link: Link): void {
    link.held = false;
    const { client, upstream } = link;
    const deliver = (socket: Socket, chunks: Buffer[], ended: boolean) => {
      if (!socket.destroyed) {
        for (const chunk of chunks.splice(0)) socket.write(chunk);
        if (ended) socket.end();
      }
    };
    deliver(upstream, link.toUpstream, link.clientEnded || client.destroyed);
    deliver(client, link.toClient, link.upstreamEnded || upstream.destroyed);
    // Both gone: nothing more can flow.
    if (client.destroyed && upstream.destroyed) this.#links.delete(link);
  }

  #resetAll(): void {
    for (const link of [...this.#links]) {
      this.counters.connectionsReset++;
      this.#remove(link, true);
    }
  }

  #remove(link: Link, reset: boolean): void {
    this.#links.delete(link);
    link.toUpstream.length = 0;
    link.toClient.length = 0;
    link.destroy(reset);
  }
}
