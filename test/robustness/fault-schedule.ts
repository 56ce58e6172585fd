/**
 * The mechanics both fault schedules (nemesis.ts, state-nemesis.ts) share:
 * parsing `--faults`, the abortable gap between faults, and the two shapes a
 * fault takes (held for a time then healed; a server action run to its end).
 * Which faults exist, how they are weighted and whom they hit stays in each
 * schedule.
 *
 * Guarantee: a held fault is healed whatever ends its hold (its time, the
 * run's signal, an error), and its heal is recorded after the heal ran.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Parses a `--faults` spec: "none", "all" (every kind of `known`), or a
 * comma-separated list of kinds, deduplicated. Throws naming an unknown kind
 * and the known ones; `hint` adds a word on why a kind is unknown (e.g. "needs
 * --ha").
 */
export function parseFaultSpec<K extends string>(spec: string, known: readonly K[], hint: (kind: string) => string = () => ''): K[] {
  if (spec === 'none') return [];
  if (spec === 'all') return [...known];
  const kinds = spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const kind of kinds) {
    if (!(known as readonly string[]).includes(kind)) {
      throw new Error(`unknown fault ${JSON.stringify(kind)}${hint(kind)}; known: ${known.join(', ')}, or none / all`);
    }
  }
  return [...new Set(kinds)] as K[];
}

/** Sleeps `ms`; false if `signal` aborted (at once or meanwhile), so a schedule stops at its next step. */
export async function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * Applies a fault, holds it for `ms` (less if `signal` aborts) and heals it.
 * `record` is told `start` before the fault is applied and `heal` after it
 * was healed, so the history brackets the whole time the fault was in force.
 */
export async function holdFault(
  ms: number,
  signal: AbortSignal,
  apply: () => unknown,
  heal: () => unknown,
  record: (phase: 'start' | 'heal') => void,
): Promise<void> {
  record('start');
  await apply();
  try {
    await sleepUnlessAborted(ms, signal);
  } finally {
    await heal();
    record('heal');
  }
}

/** Runs a control-plane `action` (a restart) to its end, recorded as `start` and `heal`. */
export async function serverFault(action: () => Promise<unknown>, record: (phase: 'start' | 'heal') => void): Promise<void> {
  record('start');
  // Not abortable: a half-restarted control plane is not a state to leave.
  await action();
  record('heal');
}
