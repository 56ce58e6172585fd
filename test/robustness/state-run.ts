/**
 * The command line of the state workload (`npm run robustness -- --workload
 * state [--ha] [--replicas 3] [--clients 2] [--faults all|kind,...]`):
 * run.ts parses the shared options and hands over here; this runs
 * state-workload.ts once, prints the summary and exits with the verdict
 * (0 pass, 1 violation, 2 inconclusive or broken).
 */
import { relative } from 'node:path';
import { repoRoot } from '../controlplane/build.js';
import { parseStateFaults, type StateFaultKind } from './state-nemesis.js';
import { runStateRobustness, type StateRunResult } from './state-workload.js';

/** The options run.ts hands over. */
export interface StateCliOptions {
  durationMs: number;
  seed: number;
  replicas: number;
  clients: number;
  faults: string;
  ha: boolean;
  out: string | undefined;
  log: (line: string) => void;
  usage: (message: string) => never;
}

/** Runs the state workload and exits the process with its verdict. */
export async function runStateCli(o: StateCliOptions): Promise<never> {
  let faults: StateFaultKind[];
  try {
    faults = parseStateFaults(o.faults, o.ha);
  } catch (err) {
    o.usage(err instanceof Error ? err.message : String(err));
  }
  if (!Number.isInteger(o.replicas) || o.replicas < 2) o.usage(`--replicas ${o.replicas}: at least 2 (an election needs contenders)`);
  if (!Number.isInteger(o.clients) || o.clients < 1) o.usage(`--clients ${o.clients} is not a positive integer`);
  console.log(`robustness: seed ${o.seed} (rerun with --seed ${o.seed}), duration ${o.durationMs / 1000} s, state workload, ${o.replicas} replicas, ${o.clients} clients${o.ha ? ', HA control plane' : ''}, faults ${faults.join(',') || 'none'}`);
  const started = Date.now();
  const result = await runStateRobustness({
    durationMs: o.durationMs,
    seed: o.seed,
    replicas: o.replicas,
    clients: o.clients,
    faults,
    ...(o.ha ? { ha: true } : {}),
    ...(o.out ? { out: o.out } : {}),
    log: o.log,
  });
  printStateSummary(result, o.seed, Date.now() - started);
  process.exit(result.exitCode);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** The summary lines of a state run. */
export function printStateSummary(r: StateRunResult, seed: number, ms: number): void {
  const where = relative(repoRoot, r.outDir) || r.outDir;
  const v = r.verdict;
  console.log('');
  console.log(`robustness summary (seed ${seed}, state workload, ${(ms / 1000).toFixed(0)} s in all)`);
  const faultList = Object.entries(r.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}${r.faultErrors[k] ? ` (${r.faultErrors[k]} failed)` : ''}`);
  console.log(`  faults: ${faultList.join(', ') || 'none'}; replica restarts ${r.restarts}`);
  if (r.crashes > 0) console.log(`  WARNING: replica processes crashed ${r.crashes} times (see replica-<n>.log)`);
  const p = r.proxy;
  console.log(`  proxies: ${p.connections} connections, ${p.connectionsReset} reset, ${p.connectionsHeld} black-holed (held requests delivered late on ${p.heldDelivered}, ${p.abandonedDelivered} after their client left)`);
  console.log(`  observer: ${r.observer.states} bucket states recorded${v ? `, ${v.gaps} re-lists (possible gaps)` : ''}, ${r.observer.errors} watch errors`);
  if (v) {
    const leaders = new Set(v.intervals.map((i) => i.identity)).size;
    console.log(`  leadership: ${v.intervals.length} terms by ${leaders} replica processes (${v.rounds} rounds), epochs up to ${v.maxEpoch}`);
    console.log(`  increments: ${v.acked} acked, ${v.unknown} unknown; final counter ${v.finalCounter ?? '?'}; client retries ${r.clientRetries}`);
    const times = v.failovers.map((f) => f.ms).sort((a, b) => a - b);
    const byKind = Object.entries(Object.groupBy(v.failovers, (f) => f.kind)).map(([k, list]) => `${k} ${Math.max(...list!.map((f) => f.ms))}`);
    console.log(
      `  failover (fault start to next leader, ${times.length} handovers): p50 ${percentile(times, 0.5) ?? '-'} ms, max ${times.at(-1) ?? '-'} ms` +
        `${byKind.length > 0 ? `; max by fault: ${byKind.join(', ')}` : ''}; ${v.uncheckedFaults} faults too close to the end to check`,
    );
    console.log(`  overlap of leadership intervals: max ${v.maxOverlapMs} ms (${v.maxToleratedOverlapMs} ms of it tolerated: a SIGSTOPped leader)`);
    for (const line of v.violations.slice(0, 20)) console.log(`  violation: ${line}`);
    if (v.violations.length > 20) console.log(`  ... and ${v.violations.length - 20} more (see ${where})`);
    for (const line of v.inconclusive) console.log(`  inconclusive: ${line}`);
  }
  if (r.error) console.log(`  the run broke: ${r.error}`);
  const verdict = ['PASSED', 'VIOLATION', r.error ? 'BROKEN' : 'INCONCLUSIVE'][r.exitCode];
  console.log(`  verdict: ${verdict}${r.kept ? `; run directory ${where}` : ''}`);
}
