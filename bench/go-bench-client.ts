/**
 * Drives the client-go reference program (test/controlplane/benchclient/,
 * built and cached like the robustness checker): one process per kubeconfig,
 * one JSON command per line on stdin, one JSON answer per line on stdout. See
 * the program's doc for the commands. Every command is bounded: one that
 * does not answer in time kills the process and rejects.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { buildCachedGoBinary, controlPlaneModuleDir } from '../test/controlplane/build.js';

/** Directory of the program's Go package (inside the control plane's Go module). */
const packageDir = join(controlPlaneModuleDir, 'benchclient');

/** Most a command may take before the process is killed. */
const COMMAND_TIMEOUT_MS = 120_000;

/** Returns the cached binary, building it first if its sources, go.mod, go.sum or the Go version changed. */
export async function ensureGoBenchClient(log: (line: string) => void): Promise<string> {
  const sources = (await readdir(packageDir)).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go')).sort();
  const built = await buildCachedGoBinary({
    name: 'kubekv-benchclient',
    cacheDir: 'benchclient',
    pkg: './benchclient',
    inputs: [
      ...sources.map((file) => ({ label: `benchclient/${file}`, path: join(packageDir, file) })),
      ...['go.mod', 'go.sum'].map((file) => ({ label: file, path: join(controlPlaneModuleDir, file) })),
    ],
    what: 'client-go reference client',
    log,
  });
  return built.path;
}

/** Result of the `naive` command. */
export interface NaiveResult {
  ops: number;
  seconds: number;
  ms: number[];
}

/** A running client-go process. */
export class GoBenchClient {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: Interface;
  readonly #answers: string[] = [];
  #waiting: ((line: string | undefined) => void) | undefined;
  #exited = false;
  #stderr = '';

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    child.stderr.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-4000)));
    child.on('exit', () => {
      this.#exited = true;
      this.#waiting?.(undefined);
    });
    this.#lines = createInterface({ input: child.stdout });
    this.#lines.on('line', (line) => {
      if (this.#waiting) this.#waiting(line);
      else this.#answers.push(line);
    });
  }

  /** Starts the program against `kubeconfig` (a path), working on ConfigMaps of `namespace`. */
  static start(binary: string, kubeconfig: string, namespace: string): GoBenchClient {
    return new GoBenchClient(spawn(binary, ['--kubeconfig', kubeconfig, '--namespace', namespace], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /** Creates a small ConfigMap `name` unless it exists. */
  async ensure(name: string): Promise<void> {
    await this.#command({ op: 'ensure', name });
  }

  /** (Re)creates ConfigMap `to` with the data, binaryData and annotations of `from`. */
  async copy(from: string, to: string): Promise<void> {
    await this.#command({ op: 'copy', from, to });
  }

  /** Latencies (ms) of `count` sequential GETs. */
  async get(name: string, count: number): Promise<number[]> {
    return ((await this.#command({ op: 'get', name, count })) as { ms: number[] }).ms;
  }

  /** Latencies (ms) of `count` sequential conditional merge PATCHes of one small key. */
  async patch(name: string, count: number): Promise<number[]> {
    return ((await this.#command({ op: 'patch', name, count })) as { ms: number[] }).ms;
  }

  /** The naive store (GET + full Update per put) for `durationMs`, sequentially. */
  async naive(name: string, durationMs: number): Promise<NaiveResult> {
    return (await this.#command({ op: 'naive', name, durationMs })) as NaiveResult;
  }

  /** Ends the process (closing stdin ends its command loop). */
  async stop(): Promise<void> {
    this.#lines.close();
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async #command(command: Record<string, unknown>): Promise<unknown> {
    if (this.#exited) throw new Error(`kubekv-benchclient has exited; stderr:\n${this.#stderr}`);
    this.#child.stdin.write(`${JSON.stringify(command)}\n`);
    const line =
      this.#answers.shift() ??
      (await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => {
          this.#child.kill('SIGKILL');
          resolve(undefined);
        }, COMMAND_TIMEOUT_MS);
        this.#waiting = (answer) => {
          clearTimeout(timer);
          this.#waiting = undefined;
          resolve(answer);
        };
      }));
    if (line === undefined) throw new Error(`kubekv-benchclient gave no answer to ${command.op as string}; stderr:\n${this.#stderr}`);
    const answer = JSON.parse(line) as { error?: string };
    if (answer.error !== undefined) throw new Error(`kubekv-benchclient ${command.op as string}: ${answer.error}`);
    return answer;
  }
}
