/**
 * The orchestrator's handle on one replica index of the state workload:
 * spawns state-replica.ts as an OS process, restarts it as a new incarnation
 * (a new identity, as a Deployment's new Pod), pauses and resumes it, sends
 * it commands and knows its HTTP port. Every wait is bounded; every process
 * is SIGKILLed when the orchestrator exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../controlplane/build.js';
import { replicaIdentity, type ReplicaCommand, type ReplicaEvent, type ReplicaJob } from './state-protocol.js';

const replicaScript = join(repoRoot, 'test', 'robustness', 'state-replica.ts');

const living = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

/** One replica index and its current process. */
export class ReplicaProcess {
  readonly index: number;
  readonly #job: Omit<ReplicaJob, 'incarnation' | 'rate'>;
  readonly #logPath: string;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();
  #events: ReplicaEvent[] = [];
  #waiters = new Set<() => void>();
  #paused = false;
  #expectingExit = false;
  /** The current (or last) incarnation; -1 before the first start. */
  incarnation = -1;
  /** Clock rate the next incarnation starts with, and the current one runs at. */
  rate = 1;
  /** Processes started (1 + restarts). */
  starts = 0;
  /** Exits nobody asked for. */
  crashes = 0;
  /** Called on a crash. */
  onCrash: ((how: string) => void) | undefined;

  /** `logPath` receives the processes' stderr. */
  constructor(job: Omit<ReplicaJob, 'incarnation' | 'rate'>, logPath: string) {
    this.index = job.index;
    this.#job = job;
    this.#logPath = logPath;
  }

  /** True while a process of this index runs. */
  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** True while SIGSTOPped. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The identity of the current incarnation. */
  get identity(): string {
    return replicaIdentity(this.index, this.incarnation);
  }

  /** The HTTP port of the current incarnation, once it listens. */
  get port(): number | undefined {
    const e = this.#events.find((x) => x.event === 'listening');
    return e?.event === 'listening' && this.alive ? e.port : undefined;
  }

  /** Starts the next incarnation. */
  start(): void {
    if (this.alive) throw new Error(`replica ${this.index} is already running`);
    this.incarnation++;
    this.starts++;
    this.#events = [];
    this.#paused = false;
    this.#expectingExit = false;
    const job: ReplicaJob = { ...this.#job, incarnation: this.incarnation, rate: this.rate };
    const log = openSync(this.#logPath, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', replicaScript, JSON.stringify(job)], { cwd: repoRoot, stdio: ['pipe', 'pipe', log] });
    closeSync(log);
    living.add(child);
    this.#child = child;
    this.#exited = once(child, 'exit')
      .then(([code, signal]) => {
        if (this.#expectingExit) return;
        this.crashes++;
        this.onCrash?.(signal ? `signal ${String(signal)}` : `exit code ${String(code)}`);
      })
      .catch(() => {})
      .finally(() => living.delete(child));
    child.stdin!.on('error', () => {});
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.#events.push(JSON.parse(line) as ReplicaEvent);
      } catch {
        return;
      }
      for (const wake of this.#waiters) wake();
    });
  }

  /** The first `event` of the current incarnation, or undefined after `timeoutMs` or if it exits. */
  waitFor<E extends ReplicaEvent['event']>(event: E, timeoutMs: number): Promise<Extract<ReplicaEvent, { event: E }> | undefined> {
    return new Promise((resolve) => {
      const done = (found: ReplicaEvent | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(found as Extract<ReplicaEvent, { event: E }> | undefined);
      };
      const check = () => {
        const found = this.#events.find((e) => e.event === event);
        if (found) done(found);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      void this.#exited.then(() => setImmediate(() => done(this.#events.find((e) => e.event === event))));
      this.#waiters.add(check);
      check();
    });
  }

  /** SIGKILL (a stopped process too), and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.#expectingExit = true;
    this.#child!.kill('SIGKILL');
    await this.#exited;
    this.#paused = false;
  }

  /** SIGSTOP: the process freezes with its connections open. */
  pause(): void {
    if (!this.alive || this.#paused) return;
    this.#paused = true;
    this.#child!.kill('SIGSTOP');
  }

  /** SIGCONT after {@link pause}. */
  resume(): void {
    if (!this.alive || !this.#paused) return;
    this.#paused = false;
    this.#child!.kill('SIGCONT');
  }

  /** Sets the clock rate of the running process and of later incarnations. */
  setRate(rate: number): void {
    this.rate = rate;
    this.send({ cmd: 'rate', rate });
  }

  /** Writes a command to the process's stdin (dropped when none runs). */
  send(command: ReplicaCommand): void {
    if (this.alive) this.#child!.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** Asks the process to close its StateManager and exit; kills it if it has not exited within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.alive) return;
    this.resume();
    this.#expectingExit = true;
    this.send({ cmd: 'stop' });
    const exited = await Promise.race([this.#exited.then(() => true), new Promise((r) => setTimeout(r, timeoutMs, false))]);
    if (!exited) await this.kill();
  }
}
