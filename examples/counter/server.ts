/**
 * examples/counter: a small HTTP service run as several replicas. The leader
 * applies increments; followers serve reads from their watch-fed cache and
 * answer writes with the leader's identity (HTTP 421).
 *
 *   POST /increment?id=<unique id>  -> 200 {value, id, by, epoch} on the leader
 *                                      421 {leader} on a follower, 503 when fenced
 *   GET  /value                     -> {value, identity, leader, isLeader}
 *   GET  /livez /readyz /leader     -> probes (healthHandler)
 *
 * Each increment records `ops/<id>` in the same atomic batch as the counter,
 * so a client that retries an id after a failover never counts twice.
 *
 * Usage: node --import tsx examples/counter/server.ts --identity a [--port 0] [--host 127.0.0.1]
 *   [--namespace ns] [--kubeconfig path] [--lease-duration 3000 --renew-deadline 2000 --retry-period 500]
 * Prints JSON lines: {"event":"listening","port"}, {"event":"leader",...}, {"event":"follower",...}.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { Mutex } from 'async-mutex';
import { KubeConfig } from '@kubernetes/client-node';
import { FencedError, NotLeaderError, StateManager, healthHandler } from 'kubekv';

const { values: args } = parseArgs({
  options: {
    identity: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    namespace: { type: 'string' },
    kubeconfig: { type: 'string' },
    'lease-duration': { type: 'string' },
    'renew-deadline': { type: 'string' },
    'retry-period': { type: 'string' },
  },
});
const emit = (event: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ event, identity: manager?.identity ?? args.identity, at: Date.now(), ...fields }));

let kubeConfig: KubeConfig | undefined;
if (args.kubeconfig) {
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(args.kubeconfig);
}
const number = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const manager: StateManager = await StateManager.start({
  name: 'counter',
  ...(args.namespace ? { namespace: args.namespace } : {}),
  ...(kubeConfig ? { kubeConfig } : {}),
  ...(args.identity ? { identity: args.identity } : {}),
  ...(args['lease-duration'] ? { leaseDurationMs: number(args['lease-duration'])! } : {}),
  ...(args['renew-deadline'] ? { renewDeadlineMs: number(args['renew-deadline'])! } : {}),
  ...(args['retry-period'] ? { retryPeriodMs: number(args['retry-period'])! } : {}),
  handleSignals: true,
});
manager.onLeader(({ epoch, signal }) => {
  emit('leader', { epoch });
  signal.addEventListener('abort', () => emit('stopped-leading', { reason: (signal.reason as Error | undefined)?.name }));
});
manager.onFollower(({ leader }) => emit('follower', { leader }));

// Read-modify-write of the counter is serialised locally; the batch's
// conditions make it safe against everyone else.
const increments = new Mutex();
async function increment(id: string): Promise<{ value: number; id: string; by: string; epoch: number | undefined }> {
  return increments.runExclusive(async () => {
    const store = manager.store;
    const done = await store.get(`ops/${id}`);
    if (done) return JSON.parse(done.text) as { value: number; id: string; by: string; epoch: number };
    const current = await store.get('counter');
    const value = Number(current?.text ?? '0') + 1;
    const record = { value, id, by: manager.identity, epoch: manager.epoch };
    await store.batch([
      { op: 'put', key: 'counter', value: String(value), expect: current ?? 'absent' },
      { op: 'put', key: `ops/${id}`, value: JSON.stringify(record), expect: 'absent' },
    ]);
    return record;
  });
}

const probes = healthHandler(manager);
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  if (req.method === 'POST' && url.pathname === '/increment') {
    const id = url.searchParams.get('id');
    if (!id) return reply(400, { error: 'id query parameter required' });
    if (!manager.isLeader) return reply(421, { error: 'NOT_LEADER', leader: manager.leader });
    increment(id).then(
      (record) => reply(200, record),
      (err: unknown) => {
        if (err instanceof NotLeaderError) reply(421, { error: 'NOT_LEADER', leader: err.leader });
        else if (err instanceof FencedError) reply(503, { error: 'FENCED' });
        else reply(500, { error: (err as { code?: string }).code ?? 'INTERNAL' });
      },
    );
    return;
  }
  if (req.method === 'GET' && url.pathname === '/value') {
    manager.store.get('counter').then(
      (pair) => reply(200, { value: Number(pair?.text ?? '0'), identity: manager.identity, leader: manager.leader, isLeader: manager.isLeader }),
      () => reply(500, { error: 'READ_FAILED' }),
    );
    return;
  }
  probes(req, res);
});
server.listen(Number(args.port), args.host, () => emit('listening', { port: (server.address() as { port: number }).port }));
