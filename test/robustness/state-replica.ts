/**
 * One replica of the state workload: its own OS process running a
 * StateManager through its own fault proxy, with a skewable clock
 * (state-clock.ts), serving the counter of examples/counter over loopback
 * HTTP:
 *
 *   POST /increment?id=<op id>  200 {id, value, epoch, by} on the leader;
 *                               409 {error: NOT_LEADER, leader}; 503 {error: <code>} otherwise
 *
 * (Not examples/counter's 421: fetch resends a request answered 421 once on a
 * new connection, which would double every refusal in the history.)
 *
 * The leader applies an increment as one atomic batch: `counter` (expected at
 * the lastIndex it read) and `ops/<id>` (expected absent) holding
 * `{"v": value, "e": epoch}`, so a retried id is found and acknowledged again,
 * never counted twice. The batch runs under the leadership's signal, so a
 * write not yet sent when leadership ends is withdrawn (ABORTED).
 *
 * History (state-history.ts), each line written BEFORE acting on it: `leader`
 * before the first increment of a leadership is served, `leader-end` in the
 * signal's abort listener (synchronously, when the manager gives up
 * leadership), `apply` before a write, `applied` before the answer leaves,
 * `reject` for every refusal. Usage: node --import tsx state-replica.ts '<ReplicaJob json>'.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Mutex } from 'async-mutex';
import { KubeConfig } from '@kubernetes/client-node';
import { KeyExistsError, KeyModifiedError, KeyNotFoundError, NotLeaderError, OutcomeUnknownError, StateManager, type Logger, type Store } from '../../src/index.js';
import { RateClock } from './state-clock.js';
import { StateHistoryWriter, opsDigest, type UnstampedState, type StateRecordAny } from './state-history.js';
import { replicaIdentity, type IncrementAck, type ReplicaCommand, type ReplicaEvent, type ReplicaJob } from './state-protocol.js';

const job = JSON.parse(process.argv[2] ?? '') as ReplicaJob;
const history = new StateHistoryWriter(job.history);
const clock = new RateClock(job.rate);
const identity = replicaIdentity(job.index, job.incarnation);
const from = { replica: job.index, inc: job.incarnation };
const record = (r: Record<string, unknown> & { t: StateRecordAny['t'] }) => history.append({ ...r, ...from } as UnstampedState<StateRecordAny>);

setTimeout(() => {
  process.stderr.write(`replica ${identity}: hard deadline reached; exiting\n`);
  process.exit(3);
}, Math.max(0, job.hardDeadline - Date.now())).unref();

function send(event: ReplicaEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** kubekv's warnings and errors on stderr (replica-<n>.log), for post-mortems. */
const logger: Logger = (() => {
  const write = (level: string) => (obj: unknown, msg?: string) => {
    const text = typeof obj === 'string' ? obj : `${msg ?? ''} ${JSON.stringify(obj)}`;
    process.stderr.write(`${new Date().toISOString()} ${identity} ${level} ${text}\n`);
  };
  const l: Logger = { debug: () => {}, info: write('info'), warn: write('warn'), error: write('error'), child: () => l };
  return l;
})();

const codeOf = (err: unknown): string =>
  typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : ((err as Error | null)?.name ?? 'ERROR');

// ---- leadership ---------------------------------------------------------------

/** The current leadership, set only after its `leader` line is on disk. */
interface Leadership {
  epoch: number;
  store: Store;
  signal: AbortSignal;
  /** Increments started under it and not yet settled: its leader work, which the handler waits for. */
  inFlight: Set<Promise<unknown>>;
}
let lead: Leadership | undefined;
// Assigned once started (the HTTP server reads it before); `let` with an initializer, as client.ts does.
let manager: StateManager | undefined = undefined;

async function startManager(): Promise<StateManager> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(job.kubeconfig);
  for (let attempt = 1; ; attempt++) {
    try {
      return await StateManager.start({
        name: job.name,
        namespace: job.namespace,
        kubeConfig,
        identity,
        ...job.timings,
        clock,
        logger,
      });
    } catch (err) {
      // Not an operation: a fault kept the server away while starting; nothing to record.
      process.stderr.write(`replica ${identity}: start failed (attempt ${attempt}): ${String(err)}\n`);
      await sleep(Math.min(2000, 100 * attempt));
    }
  }
}

function follow(m: StateManager): void {
  m.onLeader((ctx) => {
    record({ t: 'leader', identity, epoch: ctx.epoch });
    const mine: Leadership = { epoch: ctx.epoch, store: ctx.store, signal: ctx.signal, inFlight: new Set() };
    lead = mine;
    // The handler lives as long as the leadership's work: until the signal
    // aborts and every increment it started has settled (the manager may wait
    // for that before the next leadership begins).
    const ended = new Promise<void>((resolve) => {
      const end = () => {
        if (lead === mine) lead = undefined;
        record({ t: 'leader-end', epoch: ctx.epoch, reason: codeOf(ctx.signal.reason) });
        resolve();
      };
      if (ctx.signal.aborted) end();
      else ctx.signal.addEventListener('abort', end, { once: true });
    });
    return ended.then(() => Promise.allSettled([...mine.inFlight])).then(() => undefined);
  });
  m.onFollower((ctx) => {
    record({ t: 'follower', leader: ctx.leader });
  });
}

// ---- increments ---------------------------------------------------------------

const increments = new Mutex();
const opKey = (id: string) => `ops/${id}`;

/** Applies increment `id` once (see the module doc); rejects with the store's error. */
function increment(l: Leadership, id: string): Promise<{ value: number; epoch: number; dup: boolean }> {
  // Read-modify-write of the counter is serialised here; the batch's conditions make it safe against everyone else.
  return increments.runExclusive(async () => {
    for (let attempt = 1; ; attempt++) {
      l.signal.throwIfAborted();
      // First from the cache (a leader sees its own writes); after a failed condition, from the server.
      const consistent = attempt > 1;
      const done = await l.store.get(opKey(id), { consistent });
      if (done) {
        const stored = JSON.parse(done.text) as { v: number; e: number };
        return { value: stored.v, epoch: stored.e, dup: true };
      }
      const current = await l.store.get('counter', { consistent });
      const value = Number(current?.text ?? '0') + 1;
      record({ t: 'apply', id, epoch: l.epoch });
      try {
        await l.store.batch(
          [
            { op: 'put', key: 'counter', value: String(value), expect: current ?? 'absent' },
            { op: 'put', key: opKey(id), value: JSON.stringify({ v: value, e: l.epoch }), expect: 'absent' },
          ],
          { signal: l.signal },
        );
        return { value, epoch: l.epoch, dup: false };
      } catch (err) {
        const condition = err instanceof KeyExistsError || err instanceof KeyModifiedError || err instanceof KeyNotFoundError;
        if (!condition || attempt >= 3) throw err;
      }
    }
  });
}

function serve(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (req.method === 'GET' && url.pathname === '/status') {
    return reply(200, { identity, isLeader: manager?.isLeader ?? false, leader: manager?.leader, epoch: manager?.epoch, rate: clock.rate });
  }
  if (req.method !== 'POST' || url.pathname !== '/increment') return reply(404, { error: 'NOT_FOUND' });
  const id = url.searchParams.get('id');
  if (!id) return reply(400, { error: 'id query parameter required' });
  const l = lead;
  if (!manager || !l) {
    record({ t: 'reject', id, code: 'NOT_LEADER', unknown: false });
    return reply(409, { error: 'NOT_LEADER', leader: manager?.leader });
  }
  const done = increment(l, id);
  l.inFlight.add(done);
  void done.catch(() => {}).finally(() => l.inFlight.delete(done));
  done.then(
    (done) => {
      record({ t: 'applied', id, epoch: done.epoch, value: done.value, dup: done.dup });
      const ack: IncrementAck = { id, value: done.value, epoch: done.epoch, by: identity };
      reply(200, ack);
    },
    (err: unknown) => {
      const code = codeOf(err);
      record({ t: 'reject', id, code, unknown: err instanceof OutcomeUnknownError });
      if (err instanceof NotLeaderError) reply(409, { error: code, leader: manager?.leader });
      else reply(503, { error: code });
    },
  );
}

// ---- the end of the run ----------------------------------------------------------

async function report(finalRevision: number, waitMs: number): Promise<void> {
  const m = manager;
  let caughtUp = false;
  let revision = -1;
  if (m) {
    const deadline = Date.now() + waitMs;
    while (!(caughtUp = m.store.status().revision >= finalRevision) && Date.now() < deadline) await sleep(50);
    const pairs = await m.store.list('', { consistent: false });
    revision = m.store.status().revision;
    const ops = pairs.filter((p) => p.key.startsWith('ops/')).map((p) => `${p.key.slice(4)}=${(JSON.parse(p.text) as { v: number }).v}`).sort();
    const counter = Number(pairs.find((p) => p.key === 'counter')?.text ?? '0');
    record({ t: 'cache', revision, caughtUp, counter, ops: ops.length, digest: opsDigest(ops) });
  }
  send({ event: 'reported', caughtUp, revision });
}

async function stop(): Promise<never> {
  await Promise.race([manager?.close().catch(() => {}), sleep(10_000)]);
  history.close();
  send({ event: 'stopped' });
  process.exit(0);
}

record({ t: 'replica-start', identity, rate: clock.rate });
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line) as ReplicaCommand;
  if (command.cmd === 'rate') {
    clock.setRate(command.rate);
    record({ t: 'clock', rate: command.rate });
  } else if (command.cmd === 'report') void report(command.finalRevision, command.waitMs);
  else if (command.cmd === 'resign') void manager?.resign({ coolDownMs: command.coolDownMs }).catch(() => {});
  // NotLeaderError when this replica no longer leads: the fault then changes nothing.
  else if (command.cmd === 'handoff') void manager?.handoff(command.to).catch(() => {});
  else void stop();
});
// The orchestrator is gone: nobody will read what we do.
lines.on('close', () => process.exit(4));

const server = createServer(serve);
server.listen(0, '127.0.0.1', () => send({ event: 'listening', port: (server.address() as { port: number }).port }));
manager = await startManager();
follow(manager);
send({ event: 'ready', identity });
