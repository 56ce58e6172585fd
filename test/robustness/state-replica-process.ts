/**
 * The orchestrator's handle on one replica index of the state workload:
 * spawns state-replica.ts as an OS process (worker-process.ts), restarts it
 * as a new incarnation (a new identity, as a Deployment's new Pod), pauses
 * and resumes it, sends it commands and knows its HTTP port and clock rate.
 * Every wait is bounded; every process is SIGKILLed when the orchestrator
 * exits.
 */
import { join } from 'node:path';
import { repoRoot } from '../controlplane/build.js';
import { replicaIdentity, type ReplicaCommand, type ReplicaEvent, type ReplicaJob } from './state-protocol.js';
import { WorkerProcess } from './worker-process.js';

const replicaScript = join(repoRoot, 'test', 'robustness', 'state-replica.ts');

/** One replica index and its current process. */
export class ReplicaProcess extends WorkerProcess<ReplicaEvent, ReplicaCommand> {
  readonly #job: Omit<ReplicaJob, 'incarnation' | 'rate'>;
  /** Clock rate the next incarnation starts with, and the current one runs at. */
  rate = 1;

  /** `logPath` receives the processes' stderr. */
  constructor(job: Omit<ReplicaJob, 'incarnation' | 'rate'>, logPath: string) {
    super({ script: replicaScript, index: job.index, noun: 'replica', logPath });
    this.#job = job;
  }

  protected job(incarnation: number): ReplicaJob {
    return { ...this.#job, incarnation, rate: this.rate };
  }

  /** The identity of the current incarnation. */
  get identity(): string {
    return replicaIdentity(this.index, this.incarnation);
  }

  /** The HTTP port of the current incarnation, once it listens. */
  get port(): number | undefined {
    const listening = this.seen('listening');
    return listening && this.alive ? listening.port : undefined;
  }

  /** Asks the running process to resign (the resign fault). */
  resign(coolDownMs: number): void {
    this.send({ cmd: 'resign', coolDownMs });
  }

  /** Asks the running process to hand leadership to `to` (the handoff fault). */
  handoff(to: string): void {
    this.send({ cmd: 'handoff', to });
  }

  /** Sets the clock rate of the running process and of later incarnations. */
  setRate(rate: number): void {
    this.rate = rate;
    this.send({ cmd: 'rate', rate });
  }

  /** Asks the process to close its StateManager and exit; kills it if it has not exited within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.alive) return;
    this.resume();
    this.expectExit();
    this.send({ cmd: 'stop' });
    if (!(await this.exitWithin(timeoutMs))) await this.kill();
  }
}
