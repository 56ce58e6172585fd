/**
 * A scheduled job that runs on one replica only: the leader.
 *
 * Every replica runs this program; a StateManager elects one leader, and only
 * its onLeader handler runs the job, every `everyMs`. The last run (its
 * number and start time) is recorded in the bucket, so a new leader carries
 * on the same schedule: after a failover the next run is number N + 1, due
 * `everyMs` after run N started, not a fresh schedule from 1.
 *
 * What it does and does not promise:
 * - A run starts only on the replica that leads at that moment, and the
 *   record of a run can only land while that leadership holds (kubekv fences
 *   a deposed leader's writes).
 * - A graceful handover (SIGTERM, or `signal` here) aborts the job's signal
 *   and waits for it to return before the next leader starts: a job that
 *   honours its signal never overlaps with the next leader's.
 * - Runs are at least once: the record is written after the job returns, so
 *   a leader that dies mid-run (SIGKILL) leaves the run unrecorded and the
 *   next leader runs it again. Make the job idempotent, or pass `epoch` to
 *   the systems it changes as a fencing token.
 *
 * Run two or three copies against a cluster:
 *   node --import tsx examples/scheduled-job.ts --identity a [--every 5000] [--namespace ns] [--kubeconfig path]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { StateManager, type LeaderContext } from 'kubekv';
import { aborted, clusterFlags, clusterOptions, isMain, stopSignal } from './cli.js';

/** Where the schedule is kept in the bucket. */
export const LAST_RUN_KEY = 'schedule/last-run';

/** The record of the last completed run. */
export interface LastRun {
  /** Run number, from 1. */
  run: number;
  /** Wall-clock ms at which the run started; the next one is due `everyMs` later. */
  startedAt: number;
  /** Identity of the replica that ran it. */
  by: string;
  /** The leader epoch it ran under. */
  epoch: number;
}

/** What the job gets for one run. */
export interface JobRun {
  /** Run number, from 1, continued across leaders. */
  run: number;
  /** This replica's identity. */
  identity: string;
  /** The leadership's epoch: a fencing token for systems the job writes to. */
  epoch: number;
  /** Aborts when leadership ends or the program stops: stop then by throwing (a run that returns counts as done). */
  signal: AbortSignal;
}

/** Options of {@link main}. */
export interface ScheduledJobOptions {
  /** The work to do. A run that throws while its signal is live is logged and counts as run; one that throws after its signal aborted is run again by the next leader. */
  job: (run: JobRun) => Promise<void> | void;
  /** Period in ms between the starts of two runs. */
  everyMs: number;
  /** Stops the program: leader work ends, the Lease is released, main() returns. */
  signal: AbortSignal;
  /** App name: the Lease is `<name>-leader`, the bucket `<name>-state`. Default "scheduled-job". */
  name?: string;
  /** This replica's identity; default POD_NAME, else hostname + random suffix. */
  identity?: string;
  /** Namespace; default kubekv's (NAMESPACE env, service account, kubeconfig context). */
  namespace?: string;
  /** Cluster access; default in-cluster, KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Election timings (client-go's names, in ms); default 15000 / 10000 / 2000. */
  leaseDurationMs?: number;
  /** See leaseDurationMs. */
  renewDeadlineMs?: number;
  /** See leaseDurationMs. */
  retryPeriodMs?: number;
  /** Where progress lines go. Default console.log. */
  log?: (line: string) => void;
}

/** Runs one replica until `options.signal` aborts, then hands over and returns. */
export async function main(options: ScheduledJobOptions): Promise<void> {
  const log = options.log ?? console.log;
  const state = await StateManager.start({
    name: options.name ?? 'scheduled-job',
    ...(options.identity === undefined ? {} : { identity: options.identity }),
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options.kubeConfig === undefined ? {} : { kubeConfig: options.kubeConfig }),
    ...(options.leaseDurationMs === undefined ? {} : { leaseDurationMs: options.leaseDurationMs }),
    ...(options.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: options.renewDeadlineMs }),
    ...(options.retryPeriodMs === undefined ? {} : { retryPeriodMs: options.retryPeriodMs }),
    signal: options.signal,
  });
  try {
    state.onLeader((leadership) => runSchedule(leadership, state.identity, options, log));
    state.onFollower(({ leader }) => log(`${state.identity}: following ${leader ?? '(unknown)'}`));
    await aborted(options.signal);
  } finally {
    // Aborts the onLeader signal, waits for runSchedule to return, then releases the Lease.
    await state.close();
  }
}

/** The leader's loop: wait until the next run is due, run it, record it. Returns when leadership ends. */
async function runSchedule({ signal, store, epoch }: LeaderContext, identity: string, options: ScheduledJobOptions, log: (line: string) => void): Promise<void> {
  log(`${identity}: leading at epoch ${epoch}`);
  // A quorum read: see the last run the previous leader recorded, whatever
  // this replica's cache has caught up with.
  let last = parseLastRun((await store.get(LAST_RUN_KEY, { consistent: true }))?.text);
  while (!signal.aborted) {
    const dueAt = last ? last.startedAt + options.everyMs : Date.now();
    if (!(await sleepUntil(dueAt, signal))) break;
    const run: LastRun = { run: (last?.run ?? 0) + 1, startedAt: Date.now(), by: identity, epoch };
    try {
      await options.job({ run: run.run, identity, epoch, signal });
    } catch (err) {
      if (signal.aborted) break; // interrupted by the handover: the next leader runs it again
      log(`${identity}: run ${run.run} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    // Rejects (NotLeaderError, FencedError) if leadership was lost meanwhile:
    // then this run stays unrecorded and the next leader repeats it.
    try {
      await store.put(LAST_RUN_KEY, JSON.stringify(run));
    } catch (err) {
      if (signal.aborted) break;
      throw err; // the StateManager logs a failed handler
    }
    log(`${identity}: run ${run.run} done`);
    last = run;
  }
  log(`${identity}: stopped leading`);
}

/** Waits until wall-clock `at`; false if `signal` aborted first. */
async function sleepUntil(at: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(Math.max(0, at - Date.now()), undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

function parseLastRun(text: string | undefined): LastRun | undefined {
  return text === undefined ? undefined : (JSON.parse(text) as LastRun);
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { ...clusterFlags, identity: { type: 'string' }, every: { type: 'string', default: '5000' } } });
  await main({
    ...clusterOptions(values),
    ...(values.identity ? { identity: values.identity } : {}),
    everyMs: Number(values.every),
    job: ({ run, identity, epoch }) => console.log(`${new Date().toISOString()} ${identity} runs job #${run} (epoch ${epoch})`),
    signal: stopSignal(),
  });
}
