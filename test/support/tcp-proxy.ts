/**
 * A TCP proxy between a client and the API server, so a test can inject
 * network faults into one client's connections while the server and every
 * other client carry on. TLS passes through untouched: the serving
 * certificate is for 127.0.0.1, which the proxy also listens on.
 *
 * Fault modes (independent; heal() ends them all):
 * - dropConnections(): resets (TCP RST) every open connection once.
 * - block(): a partition that refuses: open connections are reset, new ones
 *   are reset on accept until unblock() or heal().
 * - blackhole(): a partition that hangs: open and new connections are kept,
 *   but nothing is forwarded either way, so requests hang until the client
 *   gives up. What arrives meanwhile is held, in order, and delivered on
 *   heal() (as TCP would retransmit it). An upstream close waits for heal().
 *   A client that leaves meanwhile (end, close or error) abandons what it
 *   sent; what becomes of it is the caller's choice:
 *   - blackhole() (the default): the upstream connection is closed at once
 *     and the held bytes are discarded: the server never sees a request the
 *     client abandoned, so a client's "not stored" can be held to account.
 *   - blackhole({ deliverAbandoned: true }): the link outlives its client.
 *     heal() delivers the client's held bytes to the server (those for the
 *     client are dropped) and passes the client's close on only
 *     {@link ABANDONED_CLOSE_DELAY_MS} later, so the server processes the
 *     request rather than racing its cancellation against the close: the
 *     late write a store must not have called "failed" (the robustness
 *     nemesis uses this). (On a connection opened during the black hole
 *     the held bytes are a ClientHello whose handshake cannot finish: no
 *     request lands there.)
 *   Either way, dropConnections() before heal() discards everything held on
 *   every connection: no request or answer from before the black hole
 *   arrives after it (test/integration/store/lost-answers.test.ts needs
 *   that; as the connections are gone, no late write can land either).
 * - loseAnswers(count): "applied, but the answer was lost". The next `count`
 *   requests are forwarded to the server; when the first byte of a request's
 *   answer comes back, the answer is dropped and both sockets are destroyed:
 *   the server applied the request, the client sees a connection error.
 *   While the mode lasts, data streaming on a connection with no request
 *   outstanding (a watch delivering events) is cut the same way, without
 *   counting as an answer: a watch cannot tell the client what its lost
 *   request did.
 * - delay(ms): a slow link. Every chunk of bytes, either way, is forwarded
 *   `ms` later than it arrived, in order (a round trip takes 2 x ms more);
 *   an end follows the bytes before it. Nothing is lost. The robustness
 *   harness makes a follower slow with it, so the chunks of a head it
 *   fetches may be garbage collected before its requests arrive.
 *
 * {@link TcpProxy.counters} counts what the faults did (connections reset,
 * held, held bytes delivered late, answers lost, streams cut), for a test to check that
 * a fault really hit something.
 *
 * How answers are told apart from the handshake. A connection is a TLS
 * stream, so the proxy sees only record headers (type, length) and the
 * plaintext hellos. What it sees, observed against kube-apiserver with
 * client-node 2 / undici (every request on a new connection, HTTP/2 by
 * ALPN, TLS 1.3, admin client certificate; kubekv's own transport now
 * reuses HTTP/1.1 keep-alive connections, which the open-connection rule
 * below covers: a robustness run still cut 123 answers the server had
 * applied):
 *
 *     client  ClientHello                                   (type 22)
 *     server  ServerHello, CCS, EncryptedExtensions, CertificateRequest,
 *             Certificate, CertificateVerify, Finished      (22, 20, 23 x5)
 *     client  CCS, Certificate, CertificateVerify, Finished, and usually the
 *             HTTP/2 preface + request in the same burst    (20, 23 x4)
 *     server  NewSessionTicket (~920 B), SETTINGS, WINDOW_UPDATE /
 *             SETTINGS ack (records of 26-56 B)             (23 ...)
 *     client  SETTINGS ack (26 B)
 *     server  the answer: HEADERS (~220 B), DATA            (23 ...)
 *
 * So the proxy parses just enough:
 * - The ClientHello says whether the client accepts session tickets (a
 *   psk_key_exchange_modes extension offering psk_dhe_ke); the ServerHello
 *   whether TLS 1.3 was negotiated (supported_versions = 0x0304).
 * - The client's second burst (its first bytes after the server's first
 *   flight) finishes its handshake; from then on the connection is open, and
 *   that burst may already carry a request. In TLS 1.2 the handshake's tail
 *   is visible (types 22/20) and application data is type 23. In TLS 1.3
 *   everything after the ServerHello is type 23, and the server sends a
 *   session ticket after the client's finish: Go's crypto/tls, having asked
 *   for a client certificate, sends exactly one NewSessionTicket record
 *   right after reading the client's Certificate, before it reads the
 *   client's Finished, so before any answer. The proxy lets that first
 *   type-23 server record pass when a ticket is expected: TLS 1.3, the
 *   client offered psk_dhe_ke, and the client's finish starts with a
 *   Certificate (a lone Finished record, 53 or 69 bytes of ciphertext, means
 *   no certificate was requested and Go sent its ticket in its first flight).
 * - HTTP/2 control frames are not answers: server records carrying at most
 *   96 bytes of plaintext (SETTINGS, SETTINGS ack, WINDOW_UPDATE, PING,
 *   GOAWAY, a few coalesced) pass, and client records of at most 24 bytes
 *   (acks, WINDOW_UPDATE) are not requests. An answer's first record is
 *   larger: an HTTP/1.1 status line with headers, or the HEADERS of a
 *   response on a fresh HTTP/2 connection (~200 bytes); on a reused HTTP/2
 *   connection HPACK may shrink HEADERS below the bound, and the answer is
 *   then cut at its first DATA record: still before the client has it.
 * - On an open connection, the first larger server record after a request
 *   starts the answer: it is cut there, and counted. A larger server record
 *   with no request outstanding is streamed data (watch events): cut while
 *   the mode lasts, not counted.
 * The ticket rule is specific to a Go TLS server; against a server sending
 * more tickets the proxy would cut a ticket instead (the answer is lost all
 * the same, but the server may not have applied the request yet). A
 * connection that does not start with a TLS handshake record is treated as
 * plain HTTP: every client byte is a request, every server byte an answer.
 * test/integration/store/lost-answers.test.ts checks it against the real
 * server: a patch through loseAnswers(1) is applied while the client gets a
 * connection error, and the next one goes through.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/** What the faults of one proxy did, by kind (see {@link TcpProxy.counters}). */
export interface TcpProxyCounters {
  /** Connections accepted (each API request or watch may open one). */
  connections: number;
  /** Connections reset by dropConnections() or block(), open ones and those refused on accept. */
  connectionsReset: number;
  /** Connections held by a black hole (each counted once per blackhole()). */
  connectionsHeld: number;
  /** Connections on which heal() delivered client bytes a black hole held (requests reach the server late). */
  heldDelivered: number;
  /** Of those, connections whose client had left meanwhile (blackhole({ deliverAbandoned: true })). */
  abandonedDelivered: number;
  /** Answers cut by loseAnswers(). */
  answersLost: number;
  /** Streamed data (watch events, no request outstanding) cut while loseAnswers() lasted. */
  streamsCut: number;
  /** Chunks of bytes (either way) that delay() held back before forwarding. */
  chunksDelayed: number;
}

/** Options of {@link TcpProxy.blackhole}. */
export interface BlackholeOptions {
  /**
   * A client that leaves during the black hole leaves its held bytes in
   * flight: heal() delivers them to the server (a late request). Default
   * false: they are discarded with the connection. See the module doc.
   */
  deliverAbandoned?: boolean;
}

/**
 * How long after delivering an abandoned connection's held bytes the proxy
 * passes its client's close on to the server (see the module doc).
 */
export const ABANDONED_CLOSE_DELAY_MS = 1000;

/** A running proxy. */
export class TcpProxy {
  readonly #server: Server;
  readonly #targetPort: number;
  readonly #links = new Set<Link>();
  readonly #counters: TcpProxyCounters = { connections: 0, connectionsReset: 0, connectionsHeld: 0, heldDelivered: 0, abandonedDelivered: 0, answersLost: 0, streamsCut: 0, chunksDelayed: 0 };
  #blocked = false;
  /** delay(): ms each chunk waits before it is forwarded (0: none). */
  #delayMs = 0;
  #blackholed = false;
  #deliverAbandoned = false;
  /** Answers still to lose (0: pass-through). */
  #answersToLose = 0;

  private constructor(server: Server, targetPort: number) {
    this.#server = server;
    this.#targetPort = targetPort;
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer({ noDelay: true });
    const proxy = new TcpProxy(server, targetPort);
    server.on('connection', (client) => proxy.#accept(client));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** A snapshot of what the faults did so far. */
  get counters(): TcpProxyCounters {
    return { ...this.#counters };
  }

  /** Connections accepted so far (each API request or watch may open one). */
  get connections(): number {
    return this.#counters.connections;
  }

  /** Answers dropped by loseAnswers() so far (streamed watch data cut meanwhile is not counted). */
  get answersLost(): number {
    return this.#counters.answersLost;
  }

  /** Resets every open connection (in-flight requests and watches fail); what a black hole held is discarded. */
  dropConnections(): void {
    for (const link of this.#links) {
      this.#counters.connectionsReset++;
      link.destroy(true);
    }
  }

  /** Drops open connections and refuses new ones until unblock() or heal(): a partition. */
  block(): void {
    this.#blocked = true;
    this.dropConnections();
  }

  /** Accepts connections again. */
  unblock(): void {
    this.#blocked = false;
  }

  /**
   * Keeps open and new connections but forwards nothing either way until
   * heal(): requests hang. What the bytes held meanwhile become, on a
   * connection whose client leaves, is `options.deliverAbandoned`'s choice
   * (see the module doc).
   */
  blackhole(options: BlackholeOptions = {}): void {
    if (!this.#blackholed) this.#counters.connectionsHeld += this.#links.size;
    this.#blackholed = true;
    this.#deliverAbandoned = options.deliverAbandoned ?? false;
  }

  /**
   * For the next `count` requests (default: until heal()), forwards the
   * request and drops its answer, destroying both sockets as the answer
   * starts to arrive; meanwhile cuts streaming watch data too. See the module doc.
   */
  loseAnswers(count = Infinity): void {
    if (!(count > 0)) throw new RangeError(`loseAnswers(count): count must be > 0, got ${count}`);
    this.#answersToLose = count;
  }

  /**
   * Forwards every chunk of bytes, either way, `ms` after it arrived (0:
   * at once again; chunks already waiting keep their time), in order, on
   * open and new connections until heal(). See the module doc.
   */
  delay(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`delay(ms): ms must be >= 0, got ${ms}`);
    this.#delayMs = ms;
  }

  /** Back to pass-through: ends block(), blackhole() (delivering what was held), loseAnswers() and delay(). */
  heal(): void {
    this.#blocked = false;
    this.#delayMs = 0;
    this.#answersToLose = 0;
    if (this.#blackholed) {
      this.#blackholed = false;
      this.#deliverAbandoned = false;
      for (const link of [...this.#links]) link.release();
    }
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

  /** Stops listening and drops every connection (held bytes are discarded). */
  async close(): Promise<void> {
    this.#answersToLose = 0;
    this.#blackholed = false;
    for (const link of this.#links) link.destroy(false);
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: Socket): void {
    this.#counters.connections++;
    if (this.#blocked) {
      this.#counters.connectionsReset++;
      client.on('error', () => {});
      resetSocket(client);
      return;
    }
    if (this.#blackholed) this.#counters.connectionsHeld++;
    const upstream = createConnection({ host: '127.0.0.1', port: this.#targetPort, noDelay: true });
    const link: Link = new Link(client, upstream, {
      blackholed: () => this.#blackholed,
      deliverAbandoned: () => this.#deliverAbandoned,
      losing: () => this.#answersToLose > 0,
      delayMs: () => this.#delayMs,
      delayed: () => this.#counters.chunksDelayed++,
      lost: (answer) => {
        if (!answer) {
          this.#counters.streamsCut++;
          return;
        }
        this.#answersToLose--;
        this.#counters.answersLost++;
      },
      deliveredLate: (abandoned) => {
        this.#counters.heldDelivered++;
        if (abandoned) this.#counters.abandonedDelivered++;
      },
      closed: () => this.#links.delete(link),
    });
    this.#links.add(link);
  }
}

/** Destroys a socket with a TCP RST, as a dropped connection looks to its peer. */
function resetSocket(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    // Not connected yet (an upstream still connecting): a plain destroy.
    socket.destroy();
  }
}

/** What a link asks of its proxy. */
interface LinkHost {
  blackholed(): boolean;
  /** A client leaving during the black hole leaves its held bytes for heal() to deliver (else they go with it). */
  deliverAbandoned(): boolean;
  losing(): boolean;
  /** delay()'s ms (0: forward at once). */
  delayMs(): number;
  /** A link held a chunk back for delay(). */
  delayed(): void;
  /** A link cut an answer (`answer`: true) or streamed data (false). */
  lost(answer: boolean): void;
  /** A link delivered client bytes a black hole held (`abandoned`: its client had left). */
  deliveredLate(abandoned: boolean): void;
  closed(): void;
}

type Direction = 'up' | 'down';

const TLS_HANDSHAKE = 22;
const TLS_APPLICATION_DATA = 23;
/**
 * Most plaintext bytes of a server record that carries only HTTP/2 control
 * frames (SETTINGS 9+6n, SETTINGS ack 9, WINDOW_UPDATE 13, PING 17, GOAWAY
 * 17+), even a few coalesced; an answer's first record carries more (status
 * line or HEADERS of a fresh connection, or a body).
 */
const SERVER_CONTROL_MAX = 96;
/** The same for the client's records: its SETTINGS ack, WINDOW_UPDATEs and PING acks are no request. */
const CLIENT_CONTROL_MAX = 24;

/** One proxied connection: forwarding, held bytes while black-holed, and the TLS bookkeeping of loseAnswers. */
class Link {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #host: LinkHost;
  /** Chunks held while black-holed, in arrival order. */
  #held: { dir: Direction; chunk: Buffer }[] = [];
  /** The upstream ended while black-holed: end the client after the held bytes. */
  #upstreamEndHeld = false;
  /** The client left during a black hole with deliverAbandoned: the link lives on to deliver its held bytes. */
  #abandoned = false;
  /** Closes an abandoned link ABANDONED_CLOSE_DELAY_MS after its held bytes were delivered. */
  #closeTimer: NodeJS.Timeout | undefined;
  #destroyed = false;
  /** Chunks delay() holds back, in arrival order, each with the time it is due. */
  #slow: { dir: Direction; chunk: Buffer; due: number }[] = [];
  #slowTimer: NodeJS.Timeout | undefined;
  /** Ends to pass on once the chunks delay() holds are forwarded. */
  #afterSlow: (() => void)[] = [];

  readonly #up = new RecordReader();
  readonly #down = new RecordReader();
  /** 'hello': handshake under way; 'open': the client finished its handshake. */
  #phase: 'hello' | 'open' = 'hello';
  /** Not TLS (first client byte is no handshake record): all bytes are application data. */
  #plain = false;
  #tls13 = false;
  #clientAcceptsTickets = false;
  /** The server sent bytes since the client's last burst (so the next client bytes start a new burst). */
  #serverSpoke = false;
  /** Server application-data records to let pass before answers (TLS 1.3 session tickets). */
  #ticketsToPass = 0;
  /** The client sent a request whose answer has not started yet. */
  #awaitingAnswer = false;

  constructor(client: Socket, upstream: Socket, host: LinkHost) {
    this.#client = client;
    this.#upstream = upstream;
    this.#host = host;
    client.on('data', (chunk: Buffer) => this.#receive('up', chunk));
    upstream.on('data', (chunk: Buffer) => this.#receive('down', chunk));
    // An orderly end is passed on once what precedes it was written; errors
    // reset both sides. A client that leaves during a black hole abandons its
    // held bytes (see #clientLeft).
    client.on('end', () => this.#clientLeft(() => this.#afterDelay(() => upstream.end())));
    upstream.on('end', () => {
      if (this.#host.blackholed() || this.#held.length > 0) this.#upstreamEndHeld = true;
      else if (this.#abandoned) this.destroy();
      else this.#afterDelay(() => client.end());
    });
    const closedBoth = () => {
      if (client.destroyed && upstream.destroyed) this.destroy();
    };
    client.on('close', () => {
      this.#clientLeft(() => this.#afterDelay(() => upstream.end()));
      closedBoth();
    });
    upstream.on('close', () => {
      if (!this.#upstreamEndHeld && !client.destroyed) this.#afterDelay(() => client.end());
      closedBoth();
    });
    client.on('error', () => this.#clientLeft(() => this.destroy()));
    upstream.on('error', () => this.destroy());
  }

  /** Delivers what was held while black-holed (the black hole ended); on an abandoned link, only what its client sent. */
  release(): void {
    const held = this.#held;
    this.#held = [];
    let delivered = false;
    for (const { dir, chunk } of held) {
      if (this.#destroyed) return;
      delivered ||= dir === 'up';
      this.#forward(dir, chunk);
    }
    if (this.#destroyed) return;
    if (delivered && !this.#upstream.destroyed) this.#host.deliveredLate(this.#abandoned);
    if (this.#abandoned) {
      // The client's close follows what it sent, late enough for the server to act on it.
      if (!delivered || this.#upstream.destroyed) {
        this.destroy();
        return;
      }
      this.#closeTimer = setTimeout(() => this.destroy(), ABANDONED_CLOSE_DELAY_MS).unref();
    } else if (this.#upstreamEndHeld) {
      this.#client.end();
    }
  }

  /** Closes both sockets (`reset`: with a TCP RST) and discards what was held. */
  destroy(reset = false): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#held = [];
    this.#slow = [];
    this.#afterSlow = [];
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#slowTimer);
    for (const socket of [this.#client, this.#upstream]) {
      if (reset) resetSocket(socket);
      else socket.destroy();
    }
    this.#host.closed();
  }

  /**
   * The client ended, closed or failed: outside a black hole, `normally`.
   * In one, it abandons its held bytes: they go with the link, or (with
   * deliverAbandoned) the link outlives the client until heal() delivers them.
   */
  #clientLeft(normally: () => void): void {
    if (this.#destroyed || this.#abandoned) return;
    if (!this.#host.blackholed()) {
      normally();
    } else if (!this.#host.deliverAbandoned()) {
      this.destroy();
    } else {
      this.#abandoned = true;
      this.#client.destroy();
    }
  }

  #receive(dir: Direction, chunk: Buffer): void {
    if (this.#destroyed) return;
    const ms = this.#host.delayMs();
    if (ms > 0 || this.#slow.length > 0) {
      if (ms > 0) this.#host.delayed();
      this.#slow.push({ dir, chunk, due: Date.now() + ms });
      this.#drainSlow();
      return;
    }
    this.#pass(dir, chunk);
  }

  /** Forwards a chunk whose time came: held while black-holed, else on its way. */
  #pass(dir: Direction, chunk: Buffer): void {
    if (this.#host.blackholed() || this.#held.length > 0) {
      this.#held.push({ dir, chunk });
      return;
    }
    this.#forward(dir, chunk);
  }

  /** Forwards the chunks delay() holds as they fall due (in order), then the ends that waited for them. */
  #drainSlow(): void {
    if (this.#slowTimer || this.#destroyed) return;
    const now = Date.now();
    while (this.#slow.length > 0 && this.#slow[0]!.due <= now && !this.#destroyed) {
      const { dir, chunk } = this.#slow.shift()!;
      this.#pass(dir, chunk);
    }
    if (this.#destroyed) return;
    const next = this.#slow[0];
    if (next) {
      this.#slowTimer = setTimeout(() => {
        this.#slowTimer = undefined;
        this.#drainSlow();
      }, next.due - now);
      return;
    }
    const ends = this.#afterSlow;
    this.#afterSlow = [];
    for (const end of ends) end();
  }

  /** Runs `end` once the chunks delay() holds are forwarded (at once when none). */
  #afterDelay(end: () => void): void {
    if (this.#slow.length === 0) end();
    else this.#afterSlow.push(end);
  }

  #forward(dir: Direction, chunk: Buffer): void {
    if (dir === 'up') {
      this.#fromClient(chunk);
      this.#upstream.write(chunk);
      return;
    }
    if (this.#abandoned) return; // nobody to tell
    const cutAt = this.#fromServer(chunk);
    if (cutAt === undefined) {
      this.#client.write(chunk);
      return;
    }
    if (cutAt > 0) this.#client.write(chunk.subarray(0, cutAt));
    this.destroy();
  }

  /** Bookkeeping of bytes from the client. */
  #fromClient(chunk: Buffer): void {
    const records = this.#up.push(chunk);
    const newBurst = this.#serverSpoke;
    this.#serverSpoke = false;
    if (this.#phase === 'open') {
      if (this.#plain || records.some((r) => r.type === TLS_APPLICATION_DATA && this.#plaintext(r) > CLIENT_CONTROL_MAX)) this.#awaitingAnswer = true;
      return;
    }
    if (this.#up.firstType === undefined) return; // not even a record header yet
    if (this.#up.firstType !== TLS_HANDSHAKE) {
      this.#plain = true;
      this.#phase = 'open';
      this.#awaitingAnswer = true;
      return;
    }
    const first = this.#up.firstRecord;
    if (first && !newBurst) this.#clientAcceptsTickets ||= offersPskDhe(first);
    if (!newBurst) return;
    // The client's second burst: after a HelloRetryRequest it is a new
    // ClientHello (plaintext handshake record) and the handshake goes on;
    // otherwise it is the client's finish and the connection is open.
    if (this.#tls13 && records[0]?.type === TLS_HANDSHAKE) return;
    this.#phase = 'open';
    if (this.#tls13) {
      const firstEncrypted = records.find((r) => r.type === TLS_APPLICATION_DATA);
      const loneFinished = firstEncrypted !== undefined && (firstEncrypted.length === 53 || firstEncrypted.length === 69);
      this.#ticketsToPass = this.#clientAcceptsTickets && !loneFinished ? 1 : 0;
      // The request may share this burst with the finish.
      this.#awaitingAnswer = true;
    } else {
      this.#awaitingAnswer = records.some((r) => r.type === TLS_APPLICATION_DATA);
    }
  }

  /** Bookkeeping of bytes from the server; returns where to cut the chunk, or undefined to forward it whole. */
  #fromServer(chunk: Buffer): number | undefined {
    const records = this.#down.push(chunk);
    this.#serverSpoke = true;
    if (this.#phase === 'hello') {
      const first = this.#down.firstRecord;
      if (first && !this.#tls13) this.#tls13 = negotiatedTls13(first);
      return undefined;
    }
    const losing = this.#host.losing();
    for (const record of this.#plain ? [{ type: TLS_APPLICATION_DATA, start: 0, length: Infinity }] : records) {
      if (record.type !== TLS_APPLICATION_DATA) continue;
      if (this.#ticketsToPass > 0) {
        this.#ticketsToPass--;
        continue;
      }
      if (this.#plaintext(record) <= SERVER_CONTROL_MAX) continue;
      const answer = this.#awaitingAnswer;
      this.#awaitingAnswer = false;
      if (losing) {
        this.#host.lost(answer);
        return Math.max(0, record.start);
      }
      return undefined;
    }
    return undefined;
  }

  /** Bytes of plaintext a record carries: its length less the AEAD overhead (TLS 1.3: content type + tag; 1.2: explicit nonce + tag). */
  #plaintext(record: RecordStart): number {
    return record.length - (this.#tls13 ? 17 : 24);
  }
}

/** A TLS record header seen in a chunk: content type, ciphertext length, offset of its header in the chunk (negative: began in an earlier chunk). */
interface RecordStart {
  type: number;
  length: number;
  start: number;
}

/** Follows the record framing of one direction of a TLS stream. */
class RecordReader {
  /** Content type of the first record. */
  firstType: number | undefined;
  /** The complete first record (header included), once it has arrived. */
  firstRecord: Buffer | undefined;
  #firstParts: Buffer[] = [];
  #header = Buffer.alloc(5);
  #headerBytes = 0;
  /** Body bytes still to come of the current record. */
  #remaining = 0;
  #records = 0;

  /** Feeds a chunk; returns the records whose header completed in it. */
  push(chunk: Buffer): RecordStart[] {
    if (this.firstRecord === undefined && this.#records <= 1) this.#firstParts.push(chunk);
    const starts: RecordStart[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - pos);
        this.#remaining -= take;
        pos += take;
        continue;
      }
      const take = Math.min(5 - this.#headerBytes, chunk.length - pos);
      chunk.copy(this.#header, this.#headerBytes, pos, pos + take);
      this.#headerBytes += take;
      pos += take;
      if (this.#headerBytes < 5) break;
      this.#headerBytes = 0;
      const type = this.#header[0]!;
      const length = this.#header.readUInt16BE(3);
      this.#records++;
      this.firstType ??= type;
      starts.push({ type, length, start: pos - 5 });
      this.#remaining = length;
    }
    if (this.firstRecord === undefined && this.firstType !== undefined) {
      const seen = Buffer.concat(this.#firstParts);
      const total = 5 + seen.readUInt16BE(3);
      if (seen.length >= total) {
        this.firstRecord = seen.subarray(0, total);
        this.#firstParts = [];
      }
    }
    return starts;
  }
}

/** Extensions of a ClientHello (`client`) or ServerHello record, by type; undefined if it does not parse. */
function helloExtensions(record: Buffer, client: boolean): Map<number, Buffer> | undefined {
  try {
    let p = 5; // record header
    if (record[p] !== (client ? 1 : 2)) return undefined;
    p += 4 + 2 + 32; // handshake header, legacy_version, random
    p += 1 + record[p]!; // session id
    if (client) {
      p += 2 + record.readUInt16BE(p); // cipher suites
      p += 1 + record[p]!; // compression methods
    } else {
      p += 2 + 1; // cipher suite, compression method
    }
    const end = p + 2 + record.readUInt16BE(p);
    p += 2;
    const extensions = new Map<number, Buffer>();
    while (p + 4 <= end) {
      const type = record.readUInt16BE(p);
      const length = record.readUInt16BE(p + 2);
      extensions.set(type, record.subarray(p + 4, p + 4 + length));
      p += 4 + length;
    }
    return extensions;
  } catch {
    return undefined;
  }
}

/** The ClientHello offers psk_key_exchange_modes with psk_dhe_ke (so a TLS 1.3 server sends tickets). */
function offersPskDhe(clientHello: Buffer): boolean {
  const modes = helloExtensions(clientHello, true)?.get(45);
  return modes !== undefined && modes.subarray(1, 1 + (modes[0] ?? 0)).includes(1);
}

/** The ServerHello selected TLS 1.3. */
function negotiatedTls13(serverHello: Buffer): boolean {
  const version = helloExtensions(serverHello, false)?.get(43);
  return version !== undefined && version.length === 2 && version.readUInt16BE(0) === 0x0304;
}

/** The API server port of a kubeconfig's current cluster. */
export function serverPort(kc: KubeConfig): number {
  return Number(new URL(kc.getCurrentCluster()!.server).port);
}
