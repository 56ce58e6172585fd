/**
 * One run of the state workload (`npm run robustness -- --workload state`),
 * start to verdict:
 *
 * control plane (its own; `--ha`: the HA topology) -> fresh namespace ->
 * bucket -> observer (raw watches of the bucket and the Lease) -> one fault
 * proxy + replica process (a StateManager) per index -> increment clients ->
 * state nemesis for the duration -> heal everything -> clients retry their
 * last id until acknowledged (bounded) -> final consistent read -> every
 * replica reports its cache -> replicas close -> merge the histories ->
 * validators (state-validators.ts).
 *
 * The run directory keeps replica-<n>.jsonl / .log, clients.jsonl,
 * observer.jsonl, nemesis.jsonl, final.jsonl, the merged history.jsonl and
 * run.json; it is removed when the run passes unless `out` was given.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore } from '../../src/index.js';
import { EPOCH_ANNOTATION } from '../../src/codec/index.js';
import { toPair } from '../../src/store/bucket-state.js';
import { ChunkSet } from '../../src/store/chunk-set.js';
import { httpKubeApi } from '../../src/kube/api.js';
import { parseWithChunks } from './chunked-state.js';
import type { ControlPlane } from '../controlplane/index.js';
import type { TcpProxyCounters } from '../support/tcp-proxy.js';
import { FaultProxies, noProxyCounters } from './fault-proxies.js';
import { writeHistoryFile } from './history-file.js';
import { discardPassingRun, finalReadWithRetries, runControlPlane, runDir, runFaultWindow } from './run-steps.js';
import { IncrementClient } from './state-client.js';
import { StateHistoryWriter, byWallTime, readStateHistory, type OpEntry, type StateFinalRecord, type StateRecordAny } from './state-history.js';
import { StateNemesis, type HaControlLike, type StateFaultKind } from './state-nemesis.js';
import { StateObserver } from './state-observer.js';
import { replicaIdentity, replicaOfIdentity, type StateTimings } from './state-protocol.js';
import { ReplicaProcess } from './state-replica-process.js';
import { validateState, type StateVerdict } from './state-validators.js';

/** Options of one state run. */
export interface StateRunOptions {
  durationMs: number;
  seed: number;
  /** Replica processes. Default 3. */
  replicas?: number;
  /** Increment client loops. Default 2. */
  clients?: number;
  faults: readonly StateFaultKind[];
  /** The HA control plane (several apiservers behind a balancer, 3 etcd members). */
  ha?: boolean | { apiservers: 2 | 3 };
  /** Election timings. Default 3000 / 2000 / 500 ms, as test/integration/state/failover.test.ts. */
  timings?: StateTimings;
  out?: string;
  log?: (line: string) => void;
}

/** What a state run found. */
export interface StateRunResult {
  /** 0 pass, 1 a violation, 2 inconclusive or the run broke. */
  exitCode: 0 | 1 | 2;
  outDir: string;
  kept: boolean;
  verdict: StateVerdict | undefined;
  faults: Record<string, number>;
  faultErrors: Record<string, number>;
  proxy: TcpProxyCounters;
  /** Replica processes started after a kill or crash. */
  restarts: number;
  crashes: number;
  /** Client attempts refused or failed (each retried). */
  clientRetries: number;
  observer: { states: number; errors: number };
  /** Wall time the replicas were told to stop (the validators' end of the run). */
  endAt: number;
  error: string | undefined;
}

const defaultTimings: StateTimings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const appName = 'counter';

/** Runs the state workload once; never throws (exitCode 2 and `error` say why a run broke). */
export async function runStateRobustness(options: StateRunOptions): Promise<StateRunResult> {
  const log = options.log ?? (() => {});
  const timings = options.timings ?? defaultTimings;
  const replicaCount = options.replicas ?? 3;
  const clientCount = options.clients ?? 2;
  const outDir = runDir(options.out, `state-seed${options.seed}`);
  await mkdir(join(outDir, 'kubeconfigs'), { recursive: true });
  const result: StateRunResult = {
    exitCode: 2,
    outDir,
    kept: true,
    verdict: undefined,
    faults: {},
    faultErrors: {},
    proxy: noProxyCounters(),
    restarts: 0,
    crashes: 0,
    clientRetries: 0,
    observer: { states: 0, errors: 0 },
    endAt: 0,
    error: undefined,
  };
  const saveRun = () => writeFile(join(outDir, 'run.json'), JSON.stringify({ options: { ...options, log: undefined }, result: { ...result, verdict: result.verdict && { ...result.verdict, intervals: undefined } } }, null, 2));
  await saveRun();

  const files = { clients: join(outDir, 'clients.jsonl'), observer: join(outDir, 'observer.jsonl'), nemesis: join(outDir, 'nemesis.jsonl'), final: join(outDir, 'final.jsonl') };
  const writers = Object.fromEntries(Object.entries(files).map(([k, path]) => [k, new StateHistoryWriter(path)])) as Record<keyof typeof files, StateHistoryWriter>;
  let owned: ControlPlane | undefined;
  let running = true;
  let observer: StateObserver | undefined;
  const proxies = new FaultProxies();
  const replicas: ReplicaProcess[] = [];
  try {
    const started = await runControlPlane(log, options.ha);
    const cp = started.cp;
    owned = started.owned;
    const ha = (cp as { ha?: HaControlLike }).ha;
    if (options.ha && !ha) throw new HaUnavailableError();
    const namespace = await cp.freshNamespace('robustness-state');
    const admin = cp.adminKubeConfig();
    const bucket = `${appName}-state`;
    await (await ConfigMapStore.open({ name: bucket, namespace, kubeConfig: admin, create: true, app: appName })).close();
    observer = StateObserver.start({ kubeConfig: admin, namespace, bucket, lease: `${appName}-leader`, history: writers.observer });
    log(`bucket ${namespace}/${bucket}, ${replicaCount} replicas, ${clientCount} clients, seed ${options.seed}, faults: ${options.faults.join(',') || 'none'}${ha ? `, HA: ${ha.apiservers} apiservers, ${ha.etcdMembers} etcd members` : ''}`);

    // ---- replicas, each behind its own proxy ----
    const hardDeadline = Date.now() + options.durationMs + 10 * 60_000;
    for (let index = 0; index < replicaCount; index++) {
      const kubeconfig = join(outDir, 'kubeconfigs', `replica-${index}.json`);
      await proxies.add(cp.server, admin, kubeconfig);
      const replica = new ReplicaProcess(
        { index, kubeconfig, namespace, name: appName, timings, history: join(outDir, `replica-${index}.jsonl`), hardDeadline },
        join(outDir, `replica-${index}.log`),
      );
      replica.restartAfterCrash(() => running, log);
      replicas.push(replica);
      replica.start();
    }
    const ready = await Promise.all(replicas.map((r) => r.waitFor('ready', 120_000)));
    const notReady = replicas.filter((_, i) => !ready[i]).map((r) => r.index);
    if (notReady.length > 0) throw new Error(`replicas ${notReady.join(', ')} did not start their StateManager within 120 s (see replica-<n>.log)`);
    if (!(await waitUntil(() => replicaOfIdentity(observer!.holder) !== undefined, 60_000))) throw new Error('no replica took the Lease within 60 s');
    log(`replicas ready, ${observer.holder} leads; running for ${options.durationMs / 1000} s`);

    // ---- clients and the nemesis, for the duration ----
    const clients = Array.from({ length: clientCount }, (_, i) => new IncrementClient(i, replicas, writers.clients, options.seed));
    for (const client of clients) client.start();
    const nemesis = new StateNemesis(
      {
        replicas: replicaCount,
        leader: () => replicaOfIdentity(observer!.holder),
        incarnation: (i) => replicas[i]!.incarnation,
        proxy: (i) => proxies.get(i),
        kill: (i) => replicas[i]!.kill(),
        restart: (i) => replicas[i]!.startIfDown(),
        pause: (i) => replicas[i]!.pause(),
        resume: (i) => replicas[i]!.resume(),
        setRate: (i, rate) => replicas[i]!.setRate(rate),
        resign: (i, coolDownMs) => replicas[i]!.resign(coolDownMs),
        handoff: (i, to) => replicas[i]!.handoff(replicaIdentity(to, replicas[to]!.incarnation)),
        restartApiserver: () => cp.restartApiserver(),
        restartEtcd: () => cp.restartEtcd(),
        ha,
      },
      options.faults,
      options.seed,
      (fault) => {
        writers.nemesis.append({ t: 'fault', ...fault });
        if (fault.phase !== 'heal') {
          const victim = fault.replica !== undefined ? ` replica ${fault.replica}.${fault.inc}` : fault.member !== undefined ? ` member ${fault.member}` : '';
          log(`nemesis: ${fault.phase} ${fault.kind}${victim}${fault.ms ? ` for ${fault.ms} ms` : ''}${fault.rate ? ` at rate ${fault.rate}` : ''}${fault.error ? `: ${fault.error}` : ''}`);
        }
      },
    );
    await runFaultWindow(nemesis, options.durationMs);
    result.faults = { ...nemesis.counts };
    result.faultErrors = { ...nemesis.errors };
    // The workload goes on for one failover bound after the last heal, so the last fault's handover is checked too.
    const coolDownMs = Math.round((timings.leaseDurationMs + 1.2 * timings.retryPeriodMs) / 0.8 + 2500);
    log(`faults over: the workload goes on for ${coolDownMs} ms`);
    await sleep(coolDownMs);

    // ---- heal, quiesce, final read, caches, end ----
    running = false;
    log('duration over: healing every fault and stopping the clients');
    proxies.healAll();
    for (const replica of replicas) {
      replica.resume();
      replica.startIfDown();
    }
    await Promise.all(clients.map((c) => c.quiesce(45_000)));
    result.clientRetries = clients.reduce((n, c) => n + c.retries, 0);
    // A write a leader gave up on may still be on its way through the server.
    await sleep(1000);
    const final = await finalRead(admin, namespace, bucket);
    writers.final.append(final);
    log(`final state: counter ${final.counter}, ${final.ops.length} increments, revision ${final.revision}, epoch ${final.epoch}`);
    await Promise.all(replicas.map(async (r) => {
      await r.waitFor('ready', 30_000);
      r.send({ cmd: 'report', finalRevision: final.revision, waitMs: 30_000 });
      return r.waitFor('reported', 45_000);
    }));
    if (!(await observer.waitFor(final.rv, 30_000))) log(`the observer did not see the final state (rv ${final.rv}) within 30 s`);
    result.endAt = Date.now();
    await Promise.all(replicas.map((r) => r.stop(15_000)));
    result.restarts = replicas.reduce((n, r) => n + r.starts - 1, 0);
    result.crashes = replicas.reduce((n, r) => n + r.crashes, 0);
  } catch (err) {
    result.error = err instanceof HaUnavailableError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  } finally {
    running = false;
    for (const replica of replicas) await replica.kill();
    await observer?.stop();
    result.observer = { states: observer?.states ?? 0, errors: observer?.errors ?? 0 };
    await proxies.close(result.proxy);
    await owned?.stop();
    for (const w of Object.values(writers)) w.close();
    await rm(join(outDir, 'kubeconfigs'), { recursive: true, force: true });
  }
  if (result.error) {
    await saveRun();
    return result;
  }

  // ---- merge and validate ----
  const records: StateRecordAny[] = [];
  const paths = [...replicas.map((r) => join(outDir, `replica-${r.index}.jsonl`)), ...Object.values(files)];
  for (const path of paths) records.push(...readStateHistory(path, (_, lineNo) => log(`${path} line ${lineNo} is not JSON; skipped`)));
  const merged = byWallTime(records);
  await writeHistoryFile(join(outDir, 'history.jsonl'), merged);
  const verdict = validateState(merged, { timings, replicas: replicaCount, endAt: result.endAt });
  result.verdict = verdict;
  result.exitCode = verdict.violations.length > 0 ? 1 : verdict.inconclusive.length > 0 ? 2 : 0;
  await writeFile(join(outDir, 'intervals.json'), JSON.stringify(verdict.intervals, null, 1));
  await saveRun();
  result.kept = await discardPassingRun(outDir, options.out, result.exitCode);
  return result;
}

/** `--ha` was asked for, and the control plane has no HA topology (yet). */
class HaUnavailableError extends Error {
  constructor() {
    super('--ha: the control plane has no HA topology (ControlPlane.start({ ha }) returned no `ha` control); test/controlplane does not support it yet');
  }
}

/** A quorum GET of the bucket, straight to the API server, decoded here (not through a store). */
async function finalRead(admin: KubeConfig, namespace: string, bucket: string): Promise<StateFinalRecord> {
  const api = admin.makeApiClient(CoreV1Api);
  const chunks = new ChunkSet(httpKubeApi(admin).configMaps(namespace), bucket);
  return finalReadWithRetries(async () => {
    const cm = await api.readNamespacedConfigMap({ name: bucket, namespace });
    const state = await parseWithChunks(chunks, cm);
    const ops: OpEntry[] = [];
    let counter = 0;
    for (const entry of state.entries.values()) {
      if (entry.key === 'counter') counter = Number(toPair(entry).text);
      else if (entry.key.startsWith('ops/')) {
        const stored = JSON.parse(toPair(entry).text) as { v: number; e: number };
        ops.push({ id: entry.key.slice(4), value: stored.v, epoch: stored.e });
      }
    }
    const epoch = Number(cm.metadata?.annotations?.[EPOCH_ANNOTATION] ?? '0');
    return { t: 'final', at: Date.now(), revision: state.revision, rv: state.resourceVersion, epoch, counter, ops };
  });
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}
