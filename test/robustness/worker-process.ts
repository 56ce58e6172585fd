/**
 * The orchestrator's handle on one index of a workload's worker processes
 * (a store client, a state replica): spawns the worker script as an OS
 * process with its job as the one command-line argument, restarts it as a new
 * incarnation, pauses and resumes it, writes commands to its stdin and reads
 * the events it prints, one JSON object per line, on its stdout.
 *
 * Guarantees: every wait is bounded; every process spawned here is SIGKILLed
 * when the orchestrator exits, whatever way it ends. Non-guarantee: a worker
 * that does not answer in time is not retried; the subclass decides (kill it,
 * give up).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../controlplane/build.js';

/** What a worker prints: one JSON object per line, told apart by `event`. */
export interface WorkerEvent {
  event: string;
}

/** Options of a {@link WorkerProcess}. */
export interface WorkerProcessOptions {
  /** Absolute path of the worker script, run with `node --import tsx`. */
  script: string;
  /** The worker index (a client's, a replica's). */
  index: number;
  /** What a worker is called in errors, e.g. "client" (for "client 2 is already running"). */
  noun: string;
  /** File the processes' stderr is appended to, across incarnations. */
  logPath: string;
}

const living = new Set<ChildProcess>();
// Never leave a worker behind, whatever way the orchestrator ends.
process.on('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

/**
 * One worker index and its current process. `E` is the worker's event type,
 * `C` its command type; a subclass supplies the job of each incarnation.
 */
export abstract class WorkerProcess<E extends WorkerEvent, C> {
  readonly index: number;
  readonly #options: WorkerProcessOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();
  #events: E[] = [];
  #waiters = new Set<() => void>();
  #paused = false;
  #expectingExit = false;
  /** The current (or last) incarnation; -1 before the first start. */
  incarnation = -1;
  /** Processes started for this index (1 + restarts). */
  starts = 0;
  /** Exits nobody asked for (a crash: e.g. an unhandled rejection in the worker). */
  crashes = 0;
  /** Called on a crash, with how the process ended. */
  onCrash: ((how: string) => void) | undefined;

  constructor(options: WorkerProcessOptions) {
    this.index = options.index;
    this.#options = options;
  }

  /** The job (the worker's command-line argument, as JSON) of `incarnation`. */
  protected abstract job(incarnation: number): object;

  /** True while a process of this index runs. */
  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** True while SIGSTOPped. */
  get paused(): boolean {
    return this.#paused;
  }

  /** "client 2", "replica 0": how logs and errors name this index. */
  get name(): string {
    return `${this.#options.noun} ${this.index}`;
  }

  /** Starts the next incarnation. */
  start(): void {
    if (this.alive) throw new Error(`${this.name} is already running`);
    this.incarnation++;
    this.starts++;
    this.#events = [];
    this.#paused = false;
    this.#expectingExit = false;
    const log = openSync(this.#options.logPath, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', this.#options.script, JSON.stringify(this.job(this.incarnation))], {
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
    child.stdin!.on('error', () => {}); // a dead worker's pipe; its exit is what matters
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.#events.push(JSON.parse(line) as E);
      } catch {
        return; // not a protocol line
      }
      for (const wake of this.#waiters) wake();
    });
  }

  /** The first `event` the current incarnation printed so far, if any. */
  protected seen<K extends E['event']>(event: K): Extract<E, { event: K }> | undefined {
    return this.#events.find((e) => e.event === event) as Extract<E, { event: K }> | undefined;
  }

  /** Starts the next incarnation unless one runs (after a kill, the nemesis's restart; after the run, the heal). */
  startIfDown(): void {
    if (!this.alive) this.start();
  }

  /**
   * Keeps the workload going after a crash: logs it through `log` and starts
   * the next incarnation a second later, while `running()` says the run goes
   * on. Past 10 crashes the index stays down, so a crash loop stays bounded.
   */
  restartAfterCrash(running: () => boolean, log: (line: string) => void): void {
    this.onCrash = (how) => {
      log(`${this.name} exited on its own (${how}); see ${basename(this.#options.logPath)}`);
      if (running() && this.crashes <= 10) setTimeout(() => running() && !this.alive && this.start(), 1000).unref();
    };
  }

  /** Resolves with the first `event` of the current incarnation, or undefined after `timeoutMs` or if it exits. */
  waitFor<K extends E['event']>(event: K, timeoutMs: number): Promise<Extract<E, { event: K }> | undefined> {
    return new Promise((resolve) => {
      const done = (found: Extract<E, { event: K }> | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(found);
      };
      const check = () => {
        const found = this.seen(event);
        if (found) done(found);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      // The events a worker printed before it exited are still read after the exit: look once more then.
      void this.#exited.then(() => setImmediate(() => done(this.seen(event))));
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

  /** Writes a command to the process's stdin (dropped when none runs). */
  send(command: C): void {
    if (this.alive) this.#child!.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /**
   * Marks the coming exit as asked for (not a crash), e.g. before a command
   * that makes the worker exit by itself.
   */
  protected expectExit(): void {
    this.#expectingExit = true;
  }

  /** True once the current process exited, false if it has not within `timeoutMs`. */
  protected exitWithin(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.#exited.then(() => true), new Promise<boolean>((r) => setTimeout(r, timeoutMs, false))]);
  }
}
