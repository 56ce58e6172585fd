/**
 * Steps of a run that both workloads (harness.ts, state-workload.ts) take
 * the same way: where the run directory goes, which control plane the run
 * uses, the fault window, the retries of the final read, and removing the
 * directory of a run that passed.
 *
 * Non-guarantee: nothing here bounds a step by itself except where said; the
 * workloads bound the rest (the control plane's own ready timeout, the
 * nemesis's bounded faults).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../controlplane/build.js';
import { ControlPlane, type ControlPlaneHandle, type ControlPlaneOptions } from '../controlplane/index.js';
import { controlPlaneEnv, testControlPlane } from '../controlplane/remote.js';

/** `out`, or a new directory .cache/robustness/<timestamp>-<label>, e.g. label "seed3", "state-seed3". */
export function runDir(out: string | undefined, label: string): string {
  return out ?? join(repoRoot, '.cache', 'robustness', `${new Date().toISOString().replace(/[:.]/g, '-')}-${label}`);
}

/** The control plane of a run; `owned` is set when the run started it, and must stop it. */
export interface RunControlPlane {
  cp: ControlPlaneHandle;
  owned: ControlPlane | undefined;
}

/**
 * `npm test`'s control plane when the run is inside it (KUBEKV_TEST_CONTROLPLANE)
 * and needs no HA topology; otherwise one of the run's own, its progress
 * lines logged with a `[controlplane]` prefix.
 */
export async function runControlPlane(log: (line: string) => void, ha?: ControlPlaneOptions['ha']): Promise<RunControlPlane> {
  if (process.env[controlPlaneEnv] && !ha) {
    const cp = testControlPlane();
    log(`using the control plane of npm test at ${cp.server}`);
    return { cp, owned: undefined };
  }
  const owned = await ControlPlane.start({ log: (line) => log(`[controlplane] ${line}`), ...(ha ? { ha } : {}) });
  return { cp: owned, owned };
}

/**
 * Runs a fault schedule for `durationMs`: aborts its signal when the time is
 * up and resolves once the schedule healed its last fault. A schedule without
 * faults returns at once; the wait for the time still holds, since the
 * workload runs the whole duration either way.
 */
export async function runFaultWindow(schedule: { run(signal: AbortSignal): Promise<void> }, durationMs: number): Promise<void> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), durationMs);
  await schedule.run(stop.signal);
  await new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve())));
  clearTimeout(timer);
}

/**
 * The final read of a run: `read` tried up to 20 times, a second apart,
 * since the control plane may still be coming back from the last fault.
 * Throws with the last error after the 20th failure.
 */
export async function finalReadWithRetries<T>(read: () => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 20; attempt++) {
    try {
      return await read();
    } catch (err) {
      lastError = err;
      await sleep(1000);
    }
  }
  throw new Error(`the final read failed 20 times; last: ${String(lastError)}`);
}

/**
 * Removes the run directory of a passing run (exit code 0) unless the caller
 * chose it (`out`); returns whether the directory is kept.
 */
export async function discardPassingRun(outDir: string, out: string | undefined, exitCode: number): Promise<boolean> {
  if (exitCode !== 0 || out) return true;
  await rm(outDir, { recursive: true, force: true });
  return false;
}
