/**
 * Builds and runs the robustness harness's history checker, the Go program
 * in test/controlplane/checker/ (porcupine + watch validators; see README.md
 * "What the checker claims").
 *
 * The binary is cached like the control plane's (test/controlplane/build.ts):
 * under .cache/checker/<key>/, where the key hashes the checker's sources,
 * go.mod, go.sum and the Go version, so it is compiled once and again only
 * when one of them changes.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildCachedGoBinary, controlPlaneModuleDir, type BuiltBinary } from '../controlplane/build.js';

const run = promisify(execFile);

/** Directory of the checker's Go package (inside the control plane's Go module). */
export const checkerPackageDir = join(controlPlaneModuleDir, 'checker');

/** Name of the built binary. */
export const checkerBinaryName = 'kubekv-check';

/** Result of {@link ensureChecker}: the binary's path, and whether (and how long) this call compiled it. */
export type BuiltChecker = BuiltBinary;

/** The JSON line the checker prints (README, "What the checker claims"). */
export interface CheckSummary {
  /** Recorded outcomes of every invoked operation (an invoke without completion counts as unknown). */
  operations: { ok: number; fail: number; unknown: number };
  /** The bucket nemesis's deletions, creations and hand edits, by outcome (not in `operations`). */
  bucketOps?: { ok: number; fail: number; unknown: number };
  /** Porcupine's verdict on writes and consistent gets; "inconclusive" = timed out or bad input, never a pass. */
  linearizable: 'ok' | 'violation' | 'inconclusive';
  /** Cache reads (`consistent:false`) that broke what is promised of them. */
  cacheReadViolations: number;
  /** Violations found by the per-client watch validators. */
  watchViolations: number;
  /** Endings that contradict what the server said (an unknown outcome for a write it refused as too large). */
  outcomeViolations?: number;
  /** How many violations were found in all. */
  violationCount?: number;
  /** Short descriptions, at most about 20; the full list is in `<out>/violations.txt`. */
  violations: string[];
  /** Wall time of the check. */
  checkMs: number;
  /** Why the check could not decide: bad input, or the linearizability search timed out (exit 2 unless a violation was found anyway). */
  error?: string;
}

/** Result of {@link runChecker}. */
export interface CheckResult {
  /** The parsed summary line. */
  summary: CheckSummary;
  /** 0: every claim holds; 1: a violation; 2: inconclusive (timeout) or bad input. */
  exitCode: number;
  /** What the checker wrote to stderr (diagnostics only). */
  stderr: string;
}

/** Options of {@link runChecker}. */
export interface RunCheckerOptions {
  /** The history file (JSON lines). */
  history: string;
  /** Directory for linearizability.html and violations.txt (created if missing). */
  out: string;
  /** Time limit of the linearizability search; exceeding it makes the result inconclusive. Default 120000. */
  timeoutMs?: number;
  /** The binary to run. Default: {@link ensureChecker}'s. */
  binary?: string;
}

/**
 * Returns the cached checker binary, building it first if its sources, the
 * module's dependencies or the Go version changed (a few seconds once the
 * module cache holds porcupine). Progress goes to `log`.
 */
export async function ensureChecker(log: (line: string) => void = () => {}): Promise<BuiltChecker> {
  const sources = (await readdir(checkerPackageDir)).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go')).sort();
  return buildCachedGoBinary({
    name: checkerBinaryName,
    cacheDir: 'checker',
    pkg: './checker',
    inputs: [
      ...sources.map((file) => ({ label: `checker/${file}`, path: join(checkerPackageDir, file) })),
      ...['go.mod', 'go.sum'].map((file) => ({ label: file, path: join(controlPlaneModuleDir, file) })),
    ],
    what: 'porcupine history checker',
    log,
  });
}

/**
 * Runs the checker on a history. Resolves with the summary and exit code
 * whatever the verdict (a violation is a result, not an error); rejects only
 * when the checker could not run or printed no summary.
 */
export async function runChecker(options: RunCheckerOptions): Promise<CheckResult> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const binary = options.binary ?? (await ensureChecker()).path;
  const args = ['--history', options.history, '--out', options.out, '--timeout', `${timeoutMs}ms`];
  let stdout: string;
  let stderr: string;
  let exitCode = 0;
  try {
    ({ stdout, stderr } = await run(binary, args, {
      maxBuffer: 64 * 1024 * 1024,
      // porcupine stops at its own timeout; this only guards against a hang.
      timeout: timeoutMs + 120_000,
      killSignal: 'SIGKILL',
    }));
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; killed?: boolean };
    if (typeof e.code !== 'number' || e.killed) throw new Error(`the checker did not run to completion: ${String(err)}`, { cause: err });
    exitCode = e.code;
    stdout = e.stdout ?? '';
    stderr = e.stderr ?? '';
  }
  const line = stdout.trim().split('\n').pop() ?? '';
  let summary: CheckSummary;
  try {
    summary = JSON.parse(line) as CheckSummary;
  } catch (err) {
    throw new Error(`the checker (exit ${exitCode}) printed no summary; stderr:\n${stderr.slice(-4000)}`, { cause: err });
  }
  return { summary, exitCode, stderr };
}
