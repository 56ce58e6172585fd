/**
 * Any replica takes an HTTP write; the leader applies it.
 *
 * Every replica runs this program: an HTTP server and a StateManager whose
 * `advertise` option is the server's own URL. Only the leader may write the
 * bucket, so a replica that is not the leader forwards `PUT /kv/<key>` to
 * the leader's address, which it learns from the Lease (onLeaderChange;
 * no extra request, no Service per leader). `GET /kv/<key>` is answered by
 * any replica from its watch-fed cache (eventually consistent).
 *
 * Answers, so a client always knows how its write ended:
 * - 200 `{"key", "revision", "by"}`: stored (by the leader named in `by`).
 * - 503 with Retry-After: definitely not stored (no leader known yet, or
 *   leadership moved while the request was on its way: a kubekv write that
 *   rejects NotLeaderError was never sent). Retry.
 * - 502 `{"outcome": "unknown"}`: the leader's answer was lost (the forward
 *   failed after it was sent, or the store said OutcomeUnknownError): it may
 *   or may not be stored. Read it back before retrying a non-idempotent
 *   write.
 * A forwarded request carries `x-forwarded-by`; a replica that gets one
 * while not leading answers 503 instead of forwarding again, so a request
 * never loops between two replicas that disagree on who leads.
 *
 * Run two or three copies against a cluster, then write to any of them:
 *   node --import tsx examples/forward-to-leader.ts --identity a --port 8081 [--namespace ns] [--kubeconfig path]
 *   curl -X PUT --data hello http://127.0.0.1:8082/kv/greeting
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { NotLeaderError, OutcomeUnknownError, StateManager, type LeaderInfo } from 'kubekv';
import { aborted, clusterFlags, clusterOptions, isMain, stopSignal } from './cli.js';

/** Options of {@link start}. */
export interface ForwardToLeaderOptions {
  /** This replica's identity; default POD_NAME, else hostname + random suffix. */
  identity?: string;
  /** Port to listen on (127.0.0.1 here; the Pod IP in a cluster); 0 picks a free one. */
  port: number;
  /** Host name or IP in the advertised URL. Default 127.0.0.1 (in a Pod: its IP, from the Downward API). */
  host?: string;
  /** App name: the Lease is `<name>-leader`, the bucket `<name>-state`. Default "forward-to-leader". */
  name?: string;
  /** Namespace; default kubekv's. */
  namespace?: string;
  /** Cluster access; default in-cluster, KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Election timings in ms; default 15000 / 10000 / 2000. */
  leaseDurationMs?: number;
  /** See leaseDurationMs. */
  renewDeadlineMs?: number;
  /** See leaseDurationMs. */
  retryPeriodMs?: number;
}

/** A running replica. */
export interface Replica {
  /** Its own URL (what it advertises). */
  url: string;
  /** Its StateManager. */
  manager: StateManager;
  /** The leader as last seen. */
  leader(): LeaderInfo | undefined;
  /** Stops the server, then closes the manager (handing over if leading). */
  close(): Promise<void>;
}

const FORWARDED = 'x-forwarded-by';

/** Starts one replica: the HTTP server first (its URL is what it advertises), then the StateManager. */
export async function start(options: ForwardToLeaderOptions): Promise<Replica> {
  let manager: StateManager | undefined;
  let leader: LeaderInfo | undefined;
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => json(res, 500, { error: err instanceof Error ? err.name : 'error' }));
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const key = /^\/kv\/(.+)$/.exec(req.url ?? '')?.[1];
    if (!manager || key === undefined) return json(res, 404, { error: 'not found' });
    if (req.method === 'GET') {
      const entry = await manager.store.get(decodeURIComponent(key));
      return entry ? json(res, 200, { key: entry.key, value: entry.text, revision: entry.lastIndex }) : json(res, 404, { error: 'no such key' });
    }
    if (req.method !== 'PUT') return json(res, 405, { error: 'PUT or GET' });
    const body = await readBody(req);
    if (manager.isLeader) {
      try {
        const written = await manager.store.put(decodeURIComponent(key), body);
        return json(res, 200, { key: decodeURIComponent(key), revision: written.lastIndex, by: manager.identity });
      } catch (err) {
        if (err instanceof NotLeaderError) return retryLater(res, 'leadership moved; not stored');
        if (err instanceof OutcomeUnknownError) return json(res, 502, { outcome: 'unknown' });
        throw err;
      }
    }
    // Forward once: a forwarded request that reaches a non-leader is refused, not sent on.
    if (req.headers[FORWARDED] !== undefined || !leader?.address) return retryLater(res, 'no leader known here; not stored');
    let answer: Response;
    try {
      answer = await fetch(`${leader.address}/kv/${key}`, { method: 'PUT', body, headers: { [FORWARDED]: manager.identity } });
    } catch {
      // The request may have reached the leader and been applied.
      return json(res, 502, { outcome: 'unknown' });
    }
    res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers.get('retry-after') ? { 'retry-after': answer.headers.get('retry-after')! } : {}) });
    res.end(await answer.text());
  }

  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  const url = `http://${options.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  try {
    manager = await StateManager.start({
      name: options.name ?? 'forward-to-leader',
      advertise: url,
      ...(options.identity ? { identity: options.identity } : {}),
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.kubeConfig ? { kubeConfig: options.kubeConfig } : {}),
      ...(options.leaseDurationMs ? { leaseDurationMs: options.leaseDurationMs } : {}),
      ...(options.renewDeadlineMs ? { renewDeadlineMs: options.renewDeadlineMs } : {}),
      ...(options.retryPeriodMs ? { retryPeriodMs: options.retryPeriodMs } : {}),
    });
  } catch (err) {
    await closeServer(server);
    throw err;
  }
  // Called at once with the current leader, then on every change of identity, address or term.
  manager.onLeaderChange((next) => {
    leader = next;
  });
  const started = manager;
  return {
    url,
    manager: started,
    leader: () => leader,
    close: async () => {
      await closeServer(server);
      await started.close();
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function retryLater(res: ServerResponse, why: string): void {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
  res.end(JSON.stringify({ error: why }));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { ...clusterFlags, identity: { type: 'string' }, port: { type: 'string', default: '8080' } } });
  const signal = stopSignal();
  const replica = await start({ ...clusterOptions(values), port: Number(values.port), ...(values.identity ? { identity: values.identity } : {}) });
  console.log(`${replica.manager.identity} serving ${replica.url}; leader: ${replica.leader()?.identity ?? 'none yet'}`);
  replica.manager.onLeaderChange((leader) => console.log(`leader: ${leader ? `${leader.identity} at ${leader.address ?? '?'} (term ${leader.term})` : 'none'}`));
  await aborted(signal);
  await replica.close();
}
