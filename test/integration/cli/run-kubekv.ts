/**
 * Runs the kubekv CLI as users do: a separate process (node + tsx on
 * src/cli/main.ts, so a fresh clone needs no build), with arguments, stdin
 * bytes and environment, collecting its exit code, its stdout as BYTES (get
 * writes binary values raw) and its stderr. Also a `kubectl-kv` plugin
 * wrapper for the kubectl tests, and the admin kubeconfig options.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../controlplane/build.js';
import { testControlPlane } from '../../controlplane/remote.js';

/** What a run ended with. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8 text. */
  text: string;
}

/** Entry point of the CLI, run from source. */
export const cliEntry = join(repoRoot, 'src', 'cli', 'main.ts');
/** tsx's loader, by absolute URL: a wrapper run from any directory finds it. */
export const tsxLoader = import.meta.resolve('tsx');

/** `node --import tsx src/cli/main.ts`: the command line that runs the CLI from source. */
export function cliCommand(): [string, string[]] {
  return [process.execPath, ['--import', tsxLoader, cliEntry]];
}

/** Options of a run. */
export interface RunOptions {
  /** Bytes (or text) on stdin; stdin is closed either way. */
  stdin?: Uint8Array | string;
  /** Extra environment (merged over the test process's, KUBEKV_BUCKET and NAMESPACE removed). */
  env?: NodeJS.ProcessEnv;
  /** Kill the process if it runs longer (a hung command fails the test instead of the run). Default 60 s. */
  timeoutMs?: number;
}

/** The environment a run gets: the test process's, without variables that would change the CLI's defaults. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of ['KUBEKV_BUCKET', 'NAMESPACE', 'KUBERNETES_SERVICE_HOST'] as const) if (!(name in extra)) delete env[name];
  return env;
}

/** Runs an executable to completion. */
export function runProcess(command: string, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const child = spawn(command, args, { cwd: repoRoot, env: cliEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, options);
}

/** Runs `kubekv <args>`. */
export function kubekv(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const [node, prefix] = cliCommand();
  return runProcess(node, [...prefix, ...args], options);
}

/** Starts `kubekv <args>` without waiting (watch); `result` settles when it exits. */
export function startKubekv(args: readonly string[], options: RunOptions = {}): { child: ChildProcess; result: Promise<CliResult> } {
  const [node, prefix] = cliCommand();
  const child = spawn(node, [...prefix, ...args], { cwd: repoRoot, env: cliEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  return { child, result: collect(child, options) };
}

function collect(child: ChildProcess, options: RunOptions): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin!.on('error', () => {}); // a command that does not read stdin may exit first
  child.stdin!.end(options.stdin === undefined ? undefined : Buffer.from(options.stdin));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code, signal, stdout, stderr: Buffer.concat(err).toString('utf8'), text: stdout.toString('utf8') });
    });
  });
}

/** `--kubeconfig <admin>` for the shared control plane. */
export function adminArgs(): string[] {
  return ['--kubeconfig', testControlPlane().adminKubeconfigPath];
}

/** A directory holding an executable `kubectl-kv` that runs the CLI from source: put it on PATH for kubectl. */
export async function pluginDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kubekv-plugin-'));
  const [node, prefix] = cliCommand();
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const path = join(dir, 'kubectl-kv');
  await writeFile(path, `#!/bin/sh\nexec ${[node, ...prefix].map(quote).join(' ')} "$@"\n`);
  await chmod(path, 0o755);
  return dir;
}

/** A short description of a result for assertion messages. */
export function describeResult(result: CliResult): string {
  return `exit ${result.code ?? result.signal}; stdout ${JSON.stringify(result.text.slice(0, 400))}; stderr ${JSON.stringify(result.stderr.slice(0, 400))}`;
}
