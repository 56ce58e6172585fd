/**
 * One robustness client: its own OS process, its own store, through its own
 * fault proxy. Like a Jepsen client it issues one operation at a time (a
 * seeded random mix over the job's keys (keys.ts: plain and adversarial),
 * some puts with large values (values.ts), with a small think time) and
 * records each as an invoke line BEFORE the call and a completion after, so
 * a SIGKILL leaves an invoke without completion (= unknown). Beside the
 * workload, a watchTree('') recorder writes every event it delivers.
 *
 * Sessions (issue 20, session-owner.ts): a kubekv writer opens sessions
 * (TTL 4-8 s) on a second store it owns, binds some puts, creates,
 * atomicPuts and batch puts to them, closes each after 1 s to its TTL
 * less 1.5 s (so the close, not the TTL, bounds when its keys may go), and
 * now and then abandons them all by freezing the owner's timers; a SIGKILL
 * abandons them too. Other puts carry a TTL of 1-3 s. Every kubekv client
 * store sweeps.
 *
 * A `reader` client (the job's role) only reads and watches: the follower
 * the `slow-reader` fault slows down. Each process counts what its store
 * did with chunks (compactions, collections, ChunkMissing reports of
 * status()) from the store's logger and status(), and writes the counts to
 * its stats file (client-protocol.ts ClientStats): never keys or values.
 *
 * Usage: node --import tsx test/robustness/client.ts '<ClientJob json>'
 * Commands arrive as JSON lines on stdin, events leave on stdout (see
 * client-protocol.ts). SIGTERM stops the workload and exits without a
 * client-end (no final revision to wait for, so no claim to make). The client
 * exits by itself at the job's hard deadline or when stdin closes (its
 * orchestrator is gone).
 *
 * Outcome classification, exactly as the checker reads it: an error whose
 * code is OUTCOME_UNKNOWN, or any error that is not a KubekvError, is
 * `unknown`; every other KubekvError is `fail` (= not applied) with its code.
 * Nothing is retried or reinterpreted here: if the store calls an applied
 * write UNAVAILABLE, the history says so and the checker must catch it.
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { ClosedError, KubekvError, type Logger, type Session } from '../../src/index.js';
import type { ClientCommand, ClientEvent, ClientJob, ClientStats } from './client-protocol.js';
import { HistoryWriter, monotonicNow, type BatchOpRecord, type Lifetime, type OkResult, type OpFields, type PairRecord } from './history.js';
import { Prng } from './prng.js';
import { SessionOwner } from './session-owner.js';
import { openHarnessStore, type HarnessStore } from './stores.js';
import { describeValue, largeValue } from './values.js';

const job = JSON.parse(process.argv[2] ?? '') as ClientJob;
const history = new HistoryWriter(job.history);
const rng = new Prng(job.seed, job.index, job.incarnation);
const client = job.index;

// Assigned once opened (the workload loop waits for it); `let` with an initializer, as it is read before.
let store: HarnessStore | undefined = undefined;
let quiescing = false;
let ops = 0;
let seq = 0;
let watchedRevision = -1;
const watchStop = new AbortController();
const revisionWaiters = new Set<() => void>();

setTimeout(() => {
  process.stderr.write(`client ${client}: hard deadline reached; exiting\n`);
  process.exit(3);
}, Math.max(0, job.hardDeadline - Date.now())).unref();

function send(event: ClientEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

// ---- the workload -------------------------------------------------------------

/** Recent lastIndexes this client saw per key, newest last: the source of `prev` (sometimes a stale one, on purpose). */
const seen = new Map<string, number[]>();
function note(key: string, lastIndex: number): void {
  const list = seen.get(key) ?? [];
  if (list.at(-1) !== lastIndex) list.push(lastIndex);
  if (list.length > 4) list.shift();
  seen.set(key, list);
}
function prevFor(key: string): number {
  const list = seen.get(key);
  // Never read: a guess, nearly always wrong (KEY_MODIFIED / KEY_NOT_FOUND are histories too).
  if (!list?.length) return rng.int(1, 8);
  if (list.length > 1 && rng.chance(0.25)) return list[rng.int(0, list.length - 2)]!;
  return list.at(-1)!;
}

type Kind = 'get-cache' | 'get-consistent' | 'put' | 'delete' | 'create' | 'atomicPut' | 'atomicDelete' | 'batch';
const writerMix: [Kind, number][] = [
  ['get-cache', 14],
  ['get-consistent', 14],
  ['put', 16],
  ['delete', 6],
  ['create', 8],
  ['atomicPut', 16],
  ['atomicDelete', 8],
  ['batch', 12],
];
const readerMix: [Kind, number][] = [
  ['get-cache', 1],
  ['get-consistent', 1],
];
const mix = job.role === 'reader' ? readerMix : writerMix;

/**
 * The size of the next put's value: undefined (the op id as text) or, with
 * `job.largeValues` and probability 0.3, a large value (values.ts) of 32 KiB
 * to 400 KiB, log-uniform (mean about 145 KiB): with some 24 keys about
 * seven hold a large value at a time, so the bucket hovers around its 1 MiB
 * of values: puts that would pass it are refused BUCKET_FULL, and deletes
 * and small overwrites free room again.
 */
function sizeOfNext(): { size?: number } {
  if (!job.largeValues || !rng.chance(0.3)) return {};
  return { size: Math.round(32 * 1024 * Math.exp(rng.next() * Math.log(400 / 32))) };
}

/**
 * How long the next put's key lives (issue 20): with probability `ttl` a
 * TTL of 1 to 3 s, else with probability `bound` bound to one of the
 * client's active sessions (if it has one), else until deleted. Every
 * kubekv client store sweeps, so keys vanish by expiry while the workload
 * runs, and the checker's model allows that from the put's invoke + ttlMs
 * (or its session's close or open + TTL) on, never before. The naive store
 * keeps no TTL: its keys live until deleted.
 */
function lifetimeOfNext(ttl: number, bound: number): Lifetime {
  if (job.store !== 'kubekv') return {};
  if (rng.chance(ttl)) return { ttlMs: rng.int(1000, 3000) };
  const live = owner?.active() ?? [];
  if (live.length > 0 && rng.chance(bound)) return { session: rng.pick(live).session.id };
  return {};
}

/** The store options for a recorded lifetime; SessionClosedError (a `fail`) for a session no longer held. */
function lifetimeOptions(record: Lifetime): { ttlMs?: number; session?: Session } | undefined {
  if (record.ttlMs !== undefined) return { ttlMs: record.ttlMs };
  if (record.session !== undefined) return { session: sessionsById.get(record.session)! };
  return undefined;
}

/** The bytes to write for a recorded value. */
function valueOf(record: { value: string; size?: number }): string | Uint8Array {
  return record.size === undefined ? record.value : largeValue(record.value, record.size);
}

/** The next operation to record and run. Values are the op id (with a suffix per batch put): unique in the run. */
function nextOp(id: string): OpFields {
  const key = rng.pick(job.keys);
  switch (rng.weighted(mix)) {
    case 'get-cache':
      return { op: 'get', key, consistent: false };
    case 'get-consistent':
      return { op: 'get', key, consistent: true };
    case 'put':
      return { op: 'put', key, value: id, ...sizeOfNext(), ...lifetimeOfNext(0.25, 0.25) };
    case 'delete':
      return { op: 'delete', key };
    case 'create':
      return { op: 'atomicPut', key, value: id, ...sizeOfNext(), prev: 'absent', ...lifetimeOfNext(0.15, 0.25) };
    case 'atomicPut':
      return { op: 'atomicPut', key, value: id, ...sizeOfNext(), prev: prevFor(key), ...lifetimeOfNext(0.15, 0.2) };
    case 'atomicDelete':
      return { op: 'atomicDelete', key, prev: prevFor(key) };
    case 'batch': {
      const other = rng.pick(job.keys.filter((k) => k !== key));
      const batch: BatchOpRecord[] = [];
      const add = (k: string, conditional: boolean) => {
        const i = batch.length;
        if (rng.chance(0.7)) {
          const expect = conditional ? (rng.chance(0.3) ? 'absent' : prevFor(k)) : undefined;
          batch.push({ op: 'put', key: k, value: `${id}/${i}`, ...sizeOfNext(), ...(expect === undefined ? {} : { expect }), ...lifetimeOfNext(0.15, 0.2) });
        } else {
          batch.push({ op: 'delete', key: k, ...(conditional ? { expect: prevFor(k) } : {}) });
        }
      };
      add(key, rng.chance(0.4));
      add(other, rng.chance(0.4));
      // A third operation repeats a key, unconditionally, so the batch's own order matters.
      if (rng.chance(0.3)) add(rng.pick([key, other]), false);
      return { op: 'batch', ops: batch };
    }
  }
}

/** Runs `op` on the store and returns the README's `result`. */
async function call(s: HarnessStore, op: OpFields): Promise<OkResult> {
  switch (op.op) {
    case 'get': {
      const pair = await s.get(op.key, { consistent: op.consistent });
      if (!pair) return { found: false };
      note(op.key, pair.lastIndex);
      return { found: true, ...describeValue(pair.value, pair.text), lastIndex: pair.lastIndex };
    }
    case 'put': {
      const pair = await s.put(op.key, valueOf(op), lifetimeOptions(op));
      note(op.key, pair.lastIndex);
      return { lastIndex: pair.lastIndex };
    }
    case 'delete':
      return { deleted: await s.delete(op.key) };
    case 'atomicPut': {
      const value = valueOf(op);
      const options = lifetimeOptions(op);
      const pair = await (op.prev === 'absent' ? s.atomicPut(op.key, value, undefined, options) : s.atomicPut(op.key, value, op.prev, options));
      note(op.key, pair.lastIndex);
      return { lastIndex: pair.lastIndex };
    }
    case 'atomicDelete':
      await s.atomicDelete(op.key, op.prev);
      return {};
    case 'batch': {
      const revision = await s.batch(op.ops.map((o) => (o.op === 'put' ? { op: 'put', key: o.key, value: valueOf(o), ...(o.expect === undefined ? {} : { expect: o.expect }), ...lifetimeOptions(o) } : o)));
      for (const o of op.ops) if (o.op === 'put') note(o.key, revision);
      return { revision };
    }
    default:
      throw new Error(`a client does not run ${op.op}`);
  }
}

/** The messages of an error's cause chain (its own first), for the history's `cause`. */
function causeOf(err: unknown): string | undefined {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) parts.push(e.message);
  const text = parts.join(' <- ');
  return text ? text.slice(0, 500) : undefined;
}

async function runOne(s: HarnessStore): Promise<void> {
  if (await sessionStep()) return;
  const id = `${client}.${job.incarnation}-${++seq}`;
  await recorded(id, nextOp(id), (op) => call(s, op));
}

/** Records `op` as an invoke, runs it, and records its completion as the checker reads it. */
async function recorded(id: string, op: OpFields, run: (op: OpFields) => Promise<OkResult>): Promise<void> {
  history.append({ t: 'invoke', id, client, ...op });
  try {
    const result = await run(op);
    history.append({ t: 'ok', id, result });
  } catch (err) {
    const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : (err as Error)?.name ?? 'ERROR';
    const cause = causeOf(err);
    if (err instanceof KubekvError && err.code !== 'OUTCOME_UNKNOWN') history.append({ t: 'fail', id, code, ...(cause ? { cause } : {}) });
    else history.append({ t: 'unknown', id, code, ...(cause ? { cause } : {}) });
  }
  ops++;
}

// ---- sessions -------------------------------------------------------------

/**
 * The client's sessions (session-owner.ts), for kubekv writers only: the
 * naive store has none, and the reader writes nothing.
 */
let owner: SessionOwner | undefined = undefined;
const sessionsById = new Map<string, Session>();
/** Longest session TTL (ms): the owner thaws this long (and 1-3 s more) after a freeze. */
const MAX_SESSION_TTL_MS = 8000;

/**
 * Runs a session operation instead of a store one when one is due: the
 * close of a session whose planned life is over; else, now and then, the
 * open of a session (at most two at a time) or the abandonment of all of
 * them. Returns whether it ran one.
 */
async function sessionStep(): Promise<boolean> {
  const o = owner;
  if (!o || o.clock.frozen || quiescing) return false;
  const due = o.active().find((l) => performance.now() >= l.closeAfter);
  if (due) {
    await closeRecorded(o, due.session);
    return true;
  }
  if (o.live.length < 2 && rng.chance(0.05)) {
    const ownerStore = await o.store();
    if (!ownerStore) return false;
    const ttlMs = rng.int(4, MAX_SESSION_TTL_MS / 1000) * 1000;
    const life = rng.int(1000, ttlMs - 1500);
    await recorded(`${client}.${job.incarnation}-${++seq}`, { op: 'sessionOpen', ttlMs }, async () => {
      const session = await ownerStore.session({ ttlMs, signal: AbortSignal.timeout(job.timeouts.timeoutMs * 2) });
      sessionsById.set(session.id, session);
      recordLoss(session);
      o.live.push({ session, closeAfter: performance.now() + life });
      return { session: session.id };
    });
    return true;
  }
  if (o.live.length > 0 && rng.chance(0.012)) {
    // The owner stops renewing, without closing: a sweeper must end its sessions once their Leases go unrenewed for their TTL.
    for (const session of o.freeze()) {
      await recorded(`${client}.${job.incarnation}-${++seq}`, { op: 'sessionAbandon', session: session.id }, () => Promise.resolve({}));
    }
    setTimeout(() => void thaw(o), MAX_SESSION_TTL_MS + rng.int(1000, 3000));
    return true;
  }
  return false;
}

/**
 * Records the loss of `session` as a `sessionLost` the moment its signal
 * aborts for anything but a close: no renewal succeeded within the renew
 * deadline (a partition, a pause, lost answers), or the Lease was taken or
 * deleted. The owner then releases the Lease as soon as it reaches the API
 * server (the lock's elector releases on close), and a sweeper that sees
 * it released ends the session at once: its keys may vanish from the
 * loss on, before the open's invoke + ttlMs. The abort listener runs
 * before that release is sent, so the record comes first.
 */
function recordLoss(session: Session): void {
  const lost = () => {
    if (session.signal.reason instanceof ClosedError) return;
    void recorded(`${client}.${job.incarnation}-${++seq}`, { op: 'sessionLost', session: session.id }, () => Promise.resolve({}));
  };
  if (session.signal.aborted) lost();
  else session.signal.addEventListener('abort', lost, { once: true });
}

/** Closes `session` as a recorded sessionClose (close() never rejects). */
async function closeRecorded(o: SessionOwner, session: Session): Promise<void> {
  o.forget(session);
  await recorded(`${client}.${job.incarnation}-${++seq}`, { op: 'sessionClose', session: session.id }, async () => {
    await session.close();
    return {};
  });
}

/** Thaws the owner; an abandoned session no sweeper ended (none could write) is closed, recorded. */
async function thaw(o: SessionOwner): Promise<void> {
  for (const survivor of await o.thaw()) await closeRecorded(o, survivor);
}

async function workload(): Promise<void> {
  while (!quiescing) {
    if (!store) {
      await sleep(100);
      continue;
    }
    await runOne(store);
    await sleep(rng.int(job.thinkMs[0], job.thinkMs[1]));
  }
  // Close what is still open, recorded, so no key vanishes after the final read unexplained.
  if (owner) {
    if (owner.clock.frozen) await thaw(owner);
    for (const live of [...owner.active()]) await closeRecorded(owner, live.session);
  }
}

// ---- the watch recorder -------------------------------------------------------------

const pairRecord = (p: { key: string; value: Uint8Array; text: string; lastIndex: number }): PairRecord => ({ key: p.key, ...describeValue(p.value, p.text), lastIndex: p.lastIndex });

/** When the watcher last delivered an event (Date.now()). */
let lastWatchEventAt = 0;

function sawRevision(revision: number): void {
  lastWatchEventAt = Date.now();
  if (revision <= watchedRevision) return;
  watchedRevision = revision;
  for (const wake of revisionWaiters) wake();
}

async function watcher(s: HarnessStore): Promise<void> {
  while (!watchStop.signal.aborted) {
    history.append({ t: 'watch-start', client });
    try {
      for await (const event of s.watchTree('', { signal: watchStop.signal })) {
        if (event.type === 'snapshot') {
          history.append({ t: 'watch', client, type: 'snapshot', pairs: event.pairs.map(pairRecord), revision: event.revision });
        } else if (event.type === 'put') {
          history.append({ t: 'watch', client, type: 'put', ...pairRecord(event.pair), revision: event.revision });
        } else {
          // reason 'expired' (a TTL ran out) is for people and counts; the checker does not need it.
          history.append({ t: 'watch', client, type: 'delete', key: event.key, revision: event.revision, ...(event.reason === 'expired' ? { reason: 'expired' } : {}) });
        }
        sawRevision(event.revision);
      }
      // Ended without an error: the store closed or we aborted; anything else is worth a reopen too.
      if (watchStop.signal.aborted) return;
      history.append({ t: 'watch-error', client, code: 'ENDED' });
    } catch (err) {
      if (watchStop.signal.aborted) return;
      const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : (err as Error)?.name ?? 'ERROR';
      history.append({ t: 'watch-error', client, code });
    }
    await sleep(200);
  }
}

/**
 * Resolves true once the watcher delivered all of `revision`: an event of a
 * later one, or one of it and then 500 ms of quiet (one commit's events come
 * as a burst, a delete per key a closed session held: ending at the first
 * of them would leave the rest for after client-end, a final state "not
 * delivered"). Or once the store's cache holds it (whole) and the watcher
 * has been quiet for 500 ms: a commit that only compacts the head (chunks)
 * raises the revision and changes no key, so no event carries it.
 */
function waitForRevision(revision: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      clearInterval(poll);
      revisionWaiters.delete(check);
      resolve(ok);
    };
    const check = () => {
      const quiet = Date.now() - lastWatchEventAt > 500;
      if (watchedRevision > revision || (watchedRevision === revision && quiet)) return done(true);
      const status = store?.status();
      if (status && status.revision >= revision && status.synced !== false && quiet) done(true);
    };
    const timer = setTimeout(() => done(false), ms);
    const poll = setInterval(check, 100);
    revisionWaiters.add(check);
    check();
  });
}

// ---- chunk statistics -------------------------------------------------------------

const stats: ClientStats = { compactions: 0, compactionsLost: 0, compactionsFailed: 0, compactionFailedAt: [], chunksCollected: 0, collectionsFailed: 0, chunkMissingReports: [], chunkRereads: 0, openRefused: 0, otherUnsynced: {} };
const statsPath = `${job.stats}-${job.incarnation}.json`;
const pushCapped = <T>(list: T[], item: T) => {
  if (list.length < 1000) list.push(item);
};

/**
 * The store's logger: counts the chunk maintenance messages
 * (chunk-maintenance.ts, chunk-gc.ts) and prints warnings and errors (which
 * carry names and codes, never keys or values) to stderr, the client's log.
 */
function countingLogger(): Logger {
  const count = (msg: string | undefined) => {
    if (msg === undefined) return;
    if (msg.startsWith('compacted the bucket head')) stats.compactions++;
    else if (msg.startsWith('compaction lost its race')) stats.compactionsLost++;
    else if (msg.startsWith('compaction failed')) {
      stats.compactionsFailed++;
      pushCapped(stats.compactionFailedAt, monotonicNow());
    } else if (msg.startsWith('deleted unreferenced chunk')) stats.chunksCollected++;
    else if (msg.startsWith('chunk garbage collection failed')) stats.collectionsFailed++;
    else if (msg.startsWith('a chunk of the head is gone')) stats.chunkRereads++;
  };
  // Chunk deletions and compactions are printed too (names only), with the monotonic time, to trace a ChunkMissing report.
  const traced = (text: string | undefined) => text !== undefined && (text.startsWith('deleted unreferenced chunk') || text.startsWith('compacted the bucket head') || text.startsWith('deleted bucket') || text.startsWith('a chunk of the head is gone'));
  const fn = (level: string, print: boolean) => (obj: Record<string, unknown> | string, msg?: string) => {
    const text = typeof obj === 'string' ? obj : msg;
    count(text);
    if (print || traced(text)) process.stderr.write(`client ${client} @ ${monotonicNow()}: ${level} ${text ?? ''} ${typeof obj === 'string' ? '' : JSON.stringify(obj)}\n`);
  };
  const logger: Logger = { debug: fn('debug', false), info: fn('info', false), warn: fn('warn', true), error: fn('error', true), child: () => logger };
  return logger;
}

/** Watches status(): each turn to synced: false is a report (ChunkMissing or another code). */
function pollStatus(s: HarnessStore): void {
  let reported: string | undefined;
  const timer = setInterval(() => {
    const status = s.status();
    const error = status.lastError as { code?: string; chunk?: string } | undefined;
    const code = status.synced === false ? (error?.code ?? 'UNKNOWN') : undefined;
    if (code !== undefined && code !== reported) {
      if (code === 'CHUNK_MISSING') pushCapped(stats.chunkMissingReports, { at: monotonicNow(), chunk: error?.chunk ?? '' });
      else stats.otherUnsynced[code] = (stats.otherUnsynced[code] ?? 0) + 1;
    }
    reported = code;
  }, 100);
  timer.unref();
}

function writeStats(): void {
  try {
    writeFileSync(statsPath, JSON.stringify(stats));
  } catch (err) {
    process.stderr.write(`client ${client}: writing stats failed: ${String(err)}\n`);
  }
}
setInterval(writeStats, 1000).unref();

// ---- lifecycle -------------------------------------------------------------

/** Opens the store, retrying while faults keep the server away (opening is not an operation: nothing to record). */
async function openStore(): Promise<HarnessStore | undefined> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(job.kubeconfig);
  if (job.store === 'kubekv' && job.role !== 'reader') {
    owner = new SessionOwner({ name: job.bucket, namespace: job.namespace, kubeConfig, timeouts: job.timeouts, logger: countingLogger() });
  }
  for (let attempt = 1; !quiescing; attempt++) {
    try {
      return await openHarnessStore(job.store, {
        name: job.bucket,
        namespace: job.namespace,
        kubeConfig,
        timeouts: job.timeouts,
        ...(job.chunks === undefined ? {} : { chunks: job.chunks }),
        logger: countingLogger(),
      });
    } catch (err) {
      process.stderr.write(`client ${client}: open failed (attempt ${attempt}): ${String(err)}\n`);
      if ((err as { code?: unknown })?.code === 'CHUNK_MISSING') {
        stats.openRefused++;
        writeStats();
      }
      await sleep(Math.min(2000, 100 * attempt));
    }
  }
  return undefined;
}

let watching: Promise<void> = Promise.resolve();
const working = workload();
let quiesced: Promise<void> | undefined;

function quiesce(): Promise<void> {
  quiesced ??= (async () => {
    quiescing = true;
    await working;
    send({ event: 'quiesced', ops });
  })();
  return quiesced;
}

async function end(finalRevision: number | undefined, waitMs: number): Promise<never> {
  await quiesce();
  let caughtUp = false;
  if (finalRevision !== undefined) {
    caughtUp = await waitForRevision(finalRevision, waitMs);
    if (!caughtUp) process.stderr.write(`client ${client}: watcher saw revision ${watchedRevision}, not the final ${finalRevision}, within ${waitMs} ms\n`);
    history.append({ t: 'client-end', client });
  }
  watchStop.abort();
  await store?.close().catch(() => {});
  await watching.catch(() => {});
  writeStats();
  history.close();
  send({ event: 'ended', caughtUp, watchedRevision });
  process.exit(0);
}

process.on('SIGTERM', () => void end(undefined, 0));
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line) as ClientCommand;
  if (command.cmd === 'quiesce') void quiesce();
  else if (command.cmd === 'end') void end(command.finalRevision, command.waitMs);
});
// The orchestrator is gone: nobody will read what we do.
lines.on('close', () => process.exit(4));

store = await openStore();
if (store) {
  pollStatus(store);
  watching = watcher(store);
  send({ event: 'ready' });
}
