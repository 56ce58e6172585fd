/**
 * One robustness run, start to verdict (run.ts is its command line; tests
 * call {@link runRobustness} directly):
 *
 * control plane (its own, or `npm test`'s through KUBEKV_TEST_CONTROLPLANE)
 * -> fresh namespace -> bucket -> one fault proxy (../support/tcp-proxy.ts)
 * + client process per index
 * -> nemesis for the duration -> heal everything -> quiesce the clients ->
 * final consistent read -> clients wait for their watchers to reach the final
 * revision and write client-end -> merge the histories -> checker.
 *
 * Every phase is bounded in time; every child is killed when this process
 * exits. The run directory keeps the per-client histories and logs, the merged
 * history.jsonl, the nemesis log and run.json (options and fault counters).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ControlPlane } from '../controlplane/index.js';
import type { TcpProxyCounters } from '../support/tcp-proxy.js';
import { BucketNemesis, bucketClient, type BucketCounters } from './bucket-nemesis.js';
import { ensureChecker, runChecker, type CheckSummary } from './checker.js';
import { chunkOptionsFor, describeChunks, type ChunkMode } from './chunk-profiles.js';
import { ChunkObserver, readClientStats, type ChunkCounters } from './chunk-observer.js';
import { ClientProcess } from './client-process.js';
import { FaultProxies, noProxyCounters } from './fault-proxies.js';
import { writeHistoryFile } from './history-file.js';
import { byTime, monotonicNow, readHistory, type FinalRecord, type HistoryRecord } from './history.js';
import { workloadKeys, type KeySet } from './keys.js';
import { Nemesis, type FaultKind, type NemesisEvent } from './nemesis.js';
import { Prng } from './prng.js';
import { countSessions, listSessionLeases, type SessionCounters } from './session-counters.js';
import { discardPassingRun, finalReadWithRetries, runControlPlane, runDir, runFaultWindow } from './run-steps.js';
import { clientTimeouts, openHarnessStore, type StoreKind } from './stores.js';
import { describeValue } from './values.js';

const execFileAsync = promisify(execFile);

/** Options of one run. */
export interface RobustnessOptions {
  /** How long the workload and the nemesis run, in ms. */
  durationMs: number;
  seed: number;
  /** Client processes (one fault proxy each). */
  clients: number;
  store: StoreKind;
  /** Fault kinds the nemesis may pick; empty: no faults. */
  faults: readonly FaultKind[];
  /** Run directory. Default .cache/robustness/<timestamp>-seed<seed>, removed when the check passes. */
  out?: string;
  /** Progress lines. Default: discard. */
  log?: (line: string) => void;
  /** Think time between a client's operations, uniform in [min, max] ms. Default [5, 60]. */
  thinkMs?: [number, number];
  /** Keys of the workload. Default: {@link workloadKeys} of `keySet`. */
  keys?: string[];
  /** The key set when `keys` is not given (keys.ts). Default `adversarial`: k0..k4 and the adversarial keys. */
  keySet?: KeySet;
  /** Whether some puts carry large values (values.ts). Default: true for the kubekv store (the naive store keeps text only). */
  largeValues?: boolean;
  /** How the clients' stores use chunks (chunk-profiles.ts). Default `mixed`. */
  chunks?: ChunkMode;
  /** gcGraceMs of the tiny chunk profiles. Default chunk-profiles.ts SAFE_GC_GRACE_MS. */
  gcGraceMs?: number;
  /** Time limit of the linearizability search; past it the verdict is inconclusive. Default 120000. */
  checkTimeoutMs?: number;
  /**
   * Adds a reader client (index `clients`, only reads and watches) for the
   * `slow-reader` fault. Default: true for the kubekv store when the faults
   * include slow-reader.
   */
  reader?: boolean;
}

/** What a run found. */
export interface RobustnessResult {
  /** 0 the checker passed, 1 a violation, 2 inconclusive or the run itself broke. */
  exitCode: 0 | 1 | 2;
  outDir: string;
  /** False when the run directory was removed (a passing run with the default directory). */
  kept: boolean;
  /** The checker's summary; undefined if the run broke before or in the check. */
  summary: CheckSummary | undefined;
  /** Operations by outcome, counted from the merged history (independent of the checker). */
  operations: { ok: number; fail: number; unknown: number; pending: number; codes: Record<string, number> };
  faults: Record<FaultKind, number>;
  faultErrors: Record<FaultKind, number>;
  /** Network faults by kind, summed over the proxies. */
  proxy: TcpProxyCounters;
  /** Client processes started after a SIGKILL or a crash. */
  restarts: number;
  /** Client processes that exited on their own during the run (see client-<n>.log): the store crashed its host. */
  crashes: number;
  /** Clients that stopped cleanly but whose watcher did not reach the final revision in time. */
  lagging: number[];
  /** The bucket nemesis's acts (deletions and creations by kubekv and by hand, hand edits). */
  bucket: BucketCounters | undefined;
  /** What the run did with chunks (chunk-observer.ts); undefined if the run broke before. */
  chunks: ChunkCounters | undefined;
  /**
   * Writes that ended unknown (OUTCOME_UNKNOWN or unclassified) while no
   * fault that can lose an answer was in force on their client or the
   * server (nemesis.jsonl), up to 1 s after it healed: ids, at most 20. Not
   * a verdict (a loaded machine can time requests out), but each deserves a
   * look: etcd's request limit used to end writes so.
   */
  unexplainedUnknown: { count: number; ids: string[] };
  /** TTL and session figures (session-counters.ts); undefined if the run broke before. */
  sessions: SessionCounters | undefined;
  /** Why the run broke, when it did. */
  error: string | undefined;
}


/** Runs the harness once; never throws for a broken run (exitCode 2 and `error` say so). */
export async function runRobustness(options: RobustnessOptions): Promise<RobustnessResult> {
  const log = options.log ?? (() => {});
  const outDir = runDir(options.out, `seed${options.seed}`);
  await mkdir(join(outDir, 'kubeconfigs'), { recursive: true });
  const result: RobustnessResult = {
    exitCode: 2,
    outDir,
    kept: true,
    summary: undefined,
    operations: { ok: 0, fail: 0, unknown: 0, pending: 0, codes: {} },
    faults: {} as Record<FaultKind, number>,
    faultErrors: {} as Record<FaultKind, number>,
    proxy: noProxyCounters(),
    restarts: 0,
    crashes: 0,
    lagging: [],
    bucket: undefined,
    sessions: undefined,
    chunks: undefined,
    unexplainedUnknown: { count: 0, ids: [] },
    error: undefined,
  };
  await writeFile(join(outDir, 'run.json'), JSON.stringify({ ...options, log: undefined }, null, 2));

  // The checker builds (Go) while the run goes on.
  const checkerReady = ensureChecker(log);
  checkerReady.catch(() => {}); // awaited below

  let owned: ControlPlane | undefined;
  let running = true;
  const proxies = new FaultProxies();
  const clients: ClientProcess[] = [];
  let bucketNemesis: BucketNemesis | undefined;
  let chunkObserver: ChunkObserver | undefined;
  try {
    const started = await runControlPlane(log);
    const cp = started.cp;
    owned = started.owned;
    const namespace = await cp.freshNamespace('robustness');
    const bucket = `bucket-${options.store}`;
    const admin = cp.adminKubeConfig();
    await (await openHarnessStore(options.store, { name: bucket, namespace, kubeConfig: admin, create: true })).close();
    bucketNemesis = new BucketNemesis({ kubeConfig: admin, namespace, bucket, history: join(outDir, 'bucket.jsonl'), rng: new Prng(options.seed, 0x6275636b) });
    const keys = options.keys ?? workloadKeys(options.keySet ?? 'adversarial');
    const largeValues = options.largeValues ?? options.store === 'kubekv';
    const chunkMode = options.chunks ?? 'mixed';
    const withReader = options.reader ?? (options.store === 'kubekv' && options.faults.includes('slow-reader'));
    chunkObserver = new ChunkObserver(admin, namespace, join(outDir, 'chunks.jsonl'));
    log(`bucket ${namespace}/${bucket} (${options.store} store), ${options.clients} clients, ${keys.length} keys, ${largeValues ? 'large values' : 'small values'}, seed ${options.seed}, faults: ${options.faults.join(',') || 'none'}`);

    // ---- clients, each behind its own proxy ----
    const hardDeadline = Date.now() + options.durationMs + 10 * 60_000;
    for (let index = 0; index < options.clients + (withReader ? 1 : 0); index++) {
      const kubeconfig = join(outDir, 'kubeconfigs', `client-${index}.json`);
      await proxies.add(cp.server, admin, kubeconfig);
      const reader = index === options.clients;
      // The reader writes nothing, so its grace never applies; its requests
      // may each wait 2 x 10 s in its slow proxy.
      const chunks = reader ? undefined : chunkOptionsFor(chunkMode, index, options.gcGraceMs);
      log(`client ${index}: ${reader ? 'reader' : 'writer'}, ${describeChunks(chunks)}`);
      const client = new ClientProcess(
        {
          index,
          seed: options.seed,
          kubeconfig,
          namespace,
          bucket,
          store: options.store,
          history: join(outDir, `client-${index}.jsonl`),
          keys,
          largeValues,
          thinkMs: options.thinkMs ?? [5, 60],
          hardDeadline,
          role: reader ? 'reader' : 'writer',
          ...(chunks === undefined ? {} : { chunks }),
          timeouts: reader ? { timeoutMs: 60_000, requestTimeoutMs: 45_000 } : clientTimeouts(index),
          stats: join(outDir, `client-${index}.stats`),
        },
        join(outDir, `client-${index}.log`),
      );
      clients.push(client);
      client.restartAfterCrash(() => running, log);
      client.start();
    }
    const ready = await Promise.all(clients.map((c) => c.waitFor('ready', 120_000)));
    const notReady = clients.filter((_, i) => !ready[i]).map((c) => c.index);
    if (notReady.length > 0) throw new Error(`clients ${notReady.join(', ')} did not open the store within 120 s (see client-<n>.log)`);
    log(`clients ready; running for ${options.durationMs / 1000} s`);

    // ---- the nemesis, for the duration ----
    const nemesisLog = join(outDir, 'nemesis.jsonl');
    const nemesis = new Nemesis(
      {
        clients: options.clients,
        proxy: (i) => proxies.get(i),
        deadlineMs: (i) => clientTimeouts(i).timeoutMs,
        kill: (i) => clients[i]!.kill(),
        restart: (i) => clients[i]!.startIfDown(),
        pause: (i) => clients[i]!.pause(),
        resume: (i) => clients[i]!.resume(),
        restartApiserver: () => cp.restartApiserver(),
        restartEtcd: () => cp.restartEtcd(),
        compact: () => cp.compact(),
        bucket: bucketNemesis,
        reader: withReader ? options.clients : undefined,
      },
      options.faults,
      options.seed,
      (event: NemesisEvent) => {
        appendFileSync(nemesisLog, `${JSON.stringify({ at: monotonicNow(), ...event })}\n`);
        const how = (event.kind === 'delete-bucket' || event.kind === 'delete-chunk') && event.phase === 'start'
          ? ` (${event.kind === 'delete-chunk' ? `${event.chunk ? `${event.valueChunk ? 'value' : 'entries'} chunk ${event.chunk}` : 'no chunk referenced'}; bucket ` : ''}deleted by ${event.deletedBy}, created by ${event.createdBy}${event.losing ? ', answers lost' : ''}${event.restarted ? ', client restarted' : ''})`
          : '';
        if (event.phase !== 'heal' && event.kind !== 'edit-bucket') log(`nemesis: ${event.phase} ${event.kind}${event.client === undefined ? '' : ` client ${event.client}`}${event.ms ? ` for ${event.ms} ms` : ''}${how}${event.error ? `: ${event.error}` : ''}`);
      },
    );
    const housekeeping = owned ? compactEvery(owned, 20_000) : undefined;
    try {
      await runFaultWindow(nemesis, options.durationMs);
    } finally {
      housekeeping?.abort();
    }
    result.faults = { ...nemesis.counts };
    result.faultErrors = { ...nemesis.errors };

    // ---- heal, quiesce, final read, end ----
    running = false;
    log('duration over: healing every fault and stopping the clients');
    proxies.healAll();
    // The final read needs a bucket (a deletion always recreates it; this covers a creation that failed).
    if (!(await bucketNemesis.ensurePresent())) throw new Error('the bucket could not be created again within 60 s');
    result.bucket = { ...bucketNemesis.counts };
    for (const client of clients) {
      client.resume();
      client.startIfDown(); // killed and not yet restarted (should not happen: the nemesis heals)
    }
    const quiesced = await Promise.all(clients.map((c) => c.quiesce(90_000)));
    const stuck = clients.filter((_, i) => !quiesced[i]).map((c) => c.index);
    if (stuck.length > 0) log(`clients ${stuck.join(', ')} did not settle their operation within 90 s: killed (their pending operation stays unknown)`);
    // A request a client gave up on may still be on its way through the server.
    await new Promise((r) => setTimeout(r, 1000));
    const final = await finalRead(options.store, admin, namespace, bucket);
    log(`final state: ${final.pairs.length} keys at revision ${final.revision}`);
    const foreignOwned = await chunkObserver.foreignOwned(bucket).catch((err: unknown) => {
      log(`could not check the final head's chunk owners: ${String(err)}`);
      return [];
    });
    const ended = await Promise.all(clients.map((c) => c.end(final.revision, 30_000)));
    result.lagging = clients.filter((_, i) => ended[i] && !ended[i].caughtUp).map((c) => c.index);
    if (result.lagging.length > 0) log(`clients ${result.lagging.join(', ')}: watcher did not reach the final revision within 30 s`);
    const sessionLeases = await listSessionLeases(admin, namespace, bucket).catch((err: unknown) => {
      log(`could not list the session Leases: ${String(err)}`);
      return undefined;
    });
    result.restarts = clients.reduce((n, c) => n + c.starts - 1, 0);
    result.crashes = clients.reduce((n, c) => n + c.crashes, 0);

    // ---- merge ----
    bucketNemesis.close();
    const records: HistoryRecord[] = readHistory(join(outDir, 'bucket.jsonl'), (_, lineNo) => log(`bucket.jsonl line ${lineNo} is not JSON; skipped`));
    for (const client of clients) {
      records.push(...readHistory(join(outDir, `client-${client.index}.jsonl`), (_, lineNo) => log(`client-${client.index}.jsonl line ${lineNo} is not JSON; skipped`)));
    }
    const merged = byTime([...records, final]);
    await writeHistoryFile(join(outDir, 'history.jsonl'), merged);
    result.operations = countOutcomes(merged);
    result.sessions = countSessions(merged, sessionLeases);
    result.unexplainedUnknown = unexplainedUnknowns(merged, readNemesisLog(nemesisLog));
    const atEnd = await chunkObserver.stop();
    result.chunks = chunkCounters(chunkObserver, atEnd, outDir, readNemesisLog(nemesisLog), withReader ? options.clients : undefined, foreignOwned);
    log(`history: ${merged.length} records, ${result.operations.ok + result.operations.fail + result.operations.unknown + result.operations.pending} operations`);
  } catch (err) {
    result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  } finally {
    await chunkObserver?.stop();
    for (const client of clients) await client.kill();
    await proxies.close(result.proxy);
    // Free the CPU for the checker.
    await owned?.stop();
    await rm(join(outDir, 'kubeconfigs'), { recursive: true, force: true });
  }
  await writeFile(join(outDir, 'run.json'), JSON.stringify({ options: { ...options, log: undefined }, result }, null, 2));
  if (result.error) return result;

  // ---- check ----
  try {
    const { path: binary } = await checkerReady;
    const checked = await runChecker({ history: join(outDir, 'history.jsonl'), out: outDir, timeoutMs: options.checkTimeoutMs ?? 120_000, binary });
    result.summary = checked.summary;
    result.exitCode = verdict(checked.exitCode, checked.summary);
  } catch (err) {
    result.error = `checker: ${err instanceof Error ? err.message : String(err)}`;
    result.exitCode = 2;
  }
  await writeFile(join(outDir, 'run.json'), JSON.stringify({ options: { ...options, log: undefined }, result }, null, 2));
  result.kept = await discardPassingRun(outDir, options.out, result.exitCode);
  return result;
}

/** 1 on any violation the summary reports, 2 when inconclusive or the checker failed otherwise, else 0. */
function verdict(exitCode: number, summary: CheckSummary | undefined): 0 | 1 | 2 {
  if (summary) {
    if (summary.linearizable === 'violation' || summary.cacheReadViolations > 0 || summary.watchViolations > 0 || (summary.outcomeViolations ?? 0) > 0 || summary.violations.length > 0) return 1;
    if (summary.linearizable === 'inconclusive') return 2;
  }
  return exitCode === 0 && summary ? 0 : exitCode === 1 ? 1 : 2;
}

/** A consistent read of every key, straight to the API server (no proxy), with the run's store kind. */
async function finalRead(kind: StoreKind, admin: KubeConfig, namespace: string, bucket: string): Promise<FinalRecord> {
  return finalReadWithRetries(async () => {
    const store = await openHarnessStore(kind, { name: bucket, namespace, kubeConfig: admin });
    try {
      const pairs = await store.list('', { consistent: true });
      return {
        t: 'final',
        at: monotonicNow(),
        pairs: pairs.map((p) => ({ key: p.key, ...describeValue(p.value, p.text), lastIndex: p.lastIndex })),
        revision: store.status().revision,
      };
    } finally {
      await store.close();
    }
  });
}

/** The workload's operations by outcome (the bucket nemesis's acts are counted apart, in `bucket`). */
function countOutcomes(records: HistoryRecord[]): RobustnessResult['operations'] {
  const counts = { ok: 0, fail: 0, unknown: 0, pending: 0, codes: {} as Record<string, number> };
  const bucketOps = new Set(records.filter((r) => r.t === 'invoke' && r.client === bucketClient).map((r) => (r as { id: string }).id));
  for (const r of records) {
    if ((r.t === 'invoke' || r.t === 'ok' || r.t === 'fail' || r.t === 'unknown') && bucketOps.has(r.id)) continue;
    if (r.t === 'invoke') counts.pending++;
    else if (r.t === 'ok' || r.t === 'fail' || r.t === 'unknown') {
      counts[r.t]++;
      counts.pending--;
      if (r.t !== 'ok') counts.codes[r.code] = (counts.codes[r.code] ?? 0) + 1;
    }
  }
  return counts;
}

/** One line of nemesis.jsonl. */
type NemesisLine = NemesisEvent & { at: string };

function readNemesisLog(path: string): NemesisLine[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as NemesisLine);
  } catch {
    return [];
  }
}

/** Faults that can lose an answer: on the client's own path, or the server's. */
const clientFaults = new Set<FaultKind>(['kill', 'pause', 'drop', 'partition', 'blackhole', 'lose-answers', 'delete-bucket', 'delete-chunk']);
const serverFaults = new Set<FaultKind>(['restart-apiserver', 'restart-etcd', 'compact']);

/** See {@link RobustnessResult.unexplainedUnknown}. */
function unexplainedUnknowns(records: HistoryRecord[], faults: NemesisLine[]): RobustnessResult['unexplainedUnknown'] {
  const slack = 1_000_000_000n; // 1 s, in ns
  // Fault intervals [start, heal + slack]; an unhealed one lasts to the end.
  const intervals: { client: number | undefined; from: bigint; to: bigint }[] = [];
  const open = new Map<string, NemesisLine>();
  for (const f of faults) {
    const server = serverFaults.has(f.kind);
    if (!server && !(clientFaults.has(f.kind) && !((f.kind === 'delete-bucket' || f.kind === 'delete-chunk') && !f.losing && f.phase === 'start'))) continue;
    const key = `${f.kind}/${f.client ?? ''}`;
    if (f.phase === 'start') open.set(key, f);
    else if (f.phase === 'heal' && open.has(key)) {
      const start = open.get(key)!;
      open.delete(key);
      intervals.push({ client: server ? undefined : start.client, from: BigInt(start.at), to: BigInt(f.at) + slack });
    }
  }
  for (const f of open.values()) intervals.push({ client: serverFaults.has(f.kind) ? undefined : f.client, from: BigInt(f.at), to: BigInt(Number.MAX_SAFE_INTEGER) * 1000n });
  const invokes = new Map<string, { client: number; at: bigint }>();
  for (const r of records) if (r.t === 'invoke' && r.client !== bucketClient) invokes.set(r.id, { client: r.client, at: BigInt(r.at) });
  const ids: string[] = [];
  let count = 0;
  for (const r of records) {
    if (r.t !== 'unknown') continue;
    const op = invokes.get(r.id);
    if (!op) continue;
    const end = BigInt(r.at);
    const explained = intervals.some((i) => (i.client === undefined || i.client === op.client) && i.from <= end && i.to >= op.at);
    if (!explained) {
      count++;
      if (ids.length < 20) ids.push(r.id);
    }
  }
  return { count, ids };
}

/** Intervals [start, heal + slack] of nemesis.jsonl's faults that `match`, by client (undefined: any); an unhealed one lasts to the end. */
function faultIntervals(faults: NemesisLine[], match: (f: NemesisLine) => boolean, slackNs: bigint): { client: number | undefined; from: bigint; to: bigint }[] {
  const intervals: { client: number | undefined; from: bigint; to: bigint }[] = [];
  const open = new Map<string, NemesisLine>();
  for (const f of faults) {
    const key = `${f.kind}/${f.client ?? ''}`;
    if (f.phase === 'start' && match(f)) open.set(key, f);
    else if (f.phase === 'heal' && open.has(key)) {
      const start = open.get(key)!;
      open.delete(key);
      intervals.push({ client: start.client, from: BigInt(start.at), to: BigInt(f.at) + slackNs });
    }
  }
  for (const f of open.values()) intervals.push({ client: f.client, from: BigInt(f.at), to: BigInt(Number.MAX_SAFE_INTEGER) * 1000n });
  return intervals;
}

/** The run's chunk figures: the observer's counts, the clients' stats, and the ChunkMissing reports matched against the faults that explain them. */
function chunkCounters(observer: ChunkObserver, atEnd: number, outDir: string, faults: NemesisLine[], reader: number | undefined, foreignOwned: string[]): ChunkCounters {
  const counters: ChunkCounters = {
    created: observer.created,
    manifests: observer.manifests,
    gone: observer.gone,
    atEnd,
    compactions: 0,
    compactionsLost: 0,
    compactionsFailed: 0,
    compactionsFailedLosingAnswers: 0,
    collected: 0,
    collectionsFailed: 0,
    chunkMissingReports: 0,
    chunkMissingUnexplained: 0,
    chunkMissingUnexplainedAt: [],
    openRefused: 0,
    chunkRereads: {},
    otherUnsynced: {},
    foreignOwned,
  };
  // A chunk deleted by hand is missing for everyone until the bucket is
  // recreated (and a watch may tell a store seconds later): 5 s of slack.
  const missing = faultIntervals(faults, (f) => f.kind === 'delete-chunk' && f.chunk !== undefined, 5_000_000_000n);
  const slow = faultIntervals(faults, (f) => f.kind === 'slow-reader', 30_000_000_000n);
  const losing = faultIntervals(faults, (f) => f.kind === 'lose-answers' || ((f.kind === 'delete-bucket' || f.kind === 'delete-chunk') && f.losing === true), 0n);
  const within = (list: typeof missing, client: number, at: bigint) => list.some((i) => (i.client === undefined || i.client === client || list === missing) && i.from <= at && i.to >= at);
  for (const [client, list] of readClientStats(outDir)) {
    for (const stats of list) {
      counters.compactions += stats.compactions;
      counters.compactionsLost += stats.compactionsLost;
      counters.compactionsFailed += stats.compactionsFailed;
      counters.compactionsFailedLosingAnswers += stats.compactionFailedAt.filter((at) => within(losing, client, BigInt(at))).length;
      counters.collected += stats.chunksCollected;
      counters.collectionsFailed += stats.collectionsFailed;
      counters.chunkMissingReports += stats.chunkMissingReports.length;
      counters.openRefused += stats.openRefused ?? 0;
      if (stats.chunkRereads) counters.chunkRereads[client] = (counters.chunkRereads[client] ?? 0) + stats.chunkRereads;
      const unexplained = stats.chunkMissingReports.filter((r) => !within(missing, client, BigInt(r.at)) && !(client === reader && within(slow, client, BigInt(r.at))));
      counters.chunkMissingUnexplained += unexplained.length;
      for (const r of unexplained) if (counters.chunkMissingUnexplainedAt.length < 10) counters.chunkMissingUnexplainedAt.push({ client, ...r });
      for (const [code, n] of Object.entries(stats.otherUnsynced)) counters.otherUnsynced[code] = (counters.otherUnsynced[code] ?? 0) + n;
    }
  }
  return counters;
}

/**
 * Compacts etcd every `ms` while the run goes on (no apiserver restart: what
 * the apiserver itself does every five minutes, only sooner). Large values
 * make every revision of the bucket up to 1.5 MB, and etcd keeps them all
 * until compacted: without this its database would reach its 2 GB quota in
 * a few minutes. Stop it with the returned controller.
 */
function compactEvery(cp: ControlPlane, ms: number): AbortController {
  const stop = new AbortController();
  void (async () => {
    while (!stop.signal.aborted) {
      await new Promise((r) => setTimeout(r, ms));
      if (stop.signal.aborted) return;
      await execFileAsync(cp.binary, ['compact', '--etcd', cp.etcdUrl], { signal: stop.signal }).catch(() => {});
    }
  })();
  return stop;
}
