/**
 * The orchestrator's side of one client index: spawns client.ts as an OS
 * process, restarts it after a SIGKILL as a new incarnation (same history
 * file, new op ids), pauses and resumes it, and runs the two-step stop
 * (quiesce, then end after the final read). Every wait is bounded; a client
 * that does not answer in time is SIGKILLed (its pending operation stays an
 * invoke without completion: unknown, which is what it is).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../controlplane/build.js';
import type { ClientCommand, ClientEvent, ClientJob } from './client-protocol.js';

const clientScript = join(repoRoot, 'test', 'robustness', 'client.ts');

const living = new Set<ChildProcess>();
// Never leave a client behind, whatever way the orchestrator ends.
process.on('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

/** One client index and its current process. */
export class ClientProcess {
  readonly index: number;
  readonly #job: Omit<ClientJob, 'incarnation'>;
  readonly #logPath: string;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();
  #events: ClientEvent[] = [];
  #waiters = new Set<() => void>();
  #incarnation = -1;
  #paused = false;
  #expectingExit = false;
  /** Processes started for this index (1 + restarts). */
  starts = 0;
  /** Exits nobody asked for (a crash: e.g. an unhandled rejection in the store). */
  crashes = 0;
  /** Called on a crash, with how the process ended. */
  onCrash: ((how: string) => void) | undefined;

  /** `logPath` receives the processes' stderr. */
  constructor(job: Omit<ClientJob, 'incarnation'>, logPath: string) {
    this.index = job.index;
    this.#job = job;
    this.#logPath = logPath;
  }

  /** True while a process of this index runs. */
  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts the next incarnation. */
  start(): void {
    if (this.alive) throw new Error(`client ${this.index} is already running`);
    this.#incarnation++;
    this.starts++;
    this.#events = [];
    this.#paused = false;
    this.#expectingExit = false;
    const job: ClientJob = { ...this.#job, incarnation: this.#incarnation };
    const log = openSync(this.#logPath, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', clientScript, JSON.stringify(job)], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', log],
    });
    closeSync(log);
    living.add(child);
    this.#child = child;
    this.#exited = once(child, 'exit')
      .then(([code, signal]) => {
        if (this.#expectingExit) return;
        this.crashes++;
        this.onCrash?.(signal ? `signal ${String(signal)}` : `exit code ${String(code)}`);
      })
      .catch(() => {}) // a failed spawn: 'exit' never comes, the waits below time out
      .finally(() => living.delete(child));
    child.stdin!.on('error', () => {}); // a dead client's pipe; its exit is what matters
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.#events.push(JSON.parse(line) as ClientEvent);
      } catch {
        return; // not a protocol line
      }
      for (const wake of this.#waiters) wake();
    });
  }

  /** Resolves with the first `event` of the current incarnation, or undefined after `timeoutMs` or if it exits. */
  waitFor<E extends ClientEvent['event']>(event: E, timeoutMs: number): Promise<Extract<ClientEvent, { event: E }> | undefined> {
    return new Promise((resolve) => {
      const done = (found: ClientEvent | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(found as Extract<ClientEvent, { event: E }> | undefined);
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

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.#expectingExit = true;
    this.#child!.kill('SIGKILL');
    await this.#exited;
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

  /** Stops the workload; false (and the process killed) if it did not settle its operation within `timeoutMs`. */
  async quiesce(timeoutMs: number): Promise<boolean> {
    if (!this.alive) return false;
    this.resume();
    this.#send({ cmd: 'quiesce' });
    if (await this.waitFor('quiesced', timeoutMs)) return true;
    await this.kill();
    return false;
  }

  /** Lets the client wait for `finalRevision`, write client-end and exit; kills it if it does not exit in time. */
  async end(finalRevision: number, waitMs: number): Promise<Extract<ClientEvent, { event: 'ended' }> | undefined> {
    if (!this.alive) return undefined;
    this.#expectingExit = true;
    this.#send({ cmd: 'end', finalRevision, waitMs });
    const ended = await this.waitFor('ended', waitMs + 15_000);
    const exited = await Promise.race([this.#exited.then(() => true), new Promise((r) => setTimeout(r, 5_000, false))]);
    if (!exited) await this.kill();
    return ended;
  }

  #send(command: ClientCommand): void {
    this.#child?.stdin?.write(`${JSON.stringify(command)}\n`);
  }
}
