/**
 * The orchestrator's side of one client index: spawns client.ts as an OS
 * process (worker-process.ts), restarts it after a SIGKILL as a new
 * incarnation (same history file, new op ids), pauses and resumes it, and
 * runs the two-step stop (quiesce, then end after the final read). Every wait
 * is bounded; a client that does not answer in time is SIGKILLed (its pending
 * operation stays an invoke without completion: unknown, which is what it is).
 */
import { join } from 'node:path';
import { repoRoot } from '../controlplane/build.js';
import type { ClientCommand, ClientEvent, ClientJob } from './client-protocol.js';
import { WorkerProcess } from './worker-process.js';

const clientScript = join(repoRoot, 'test', 'robustness', 'client.ts');

/** One client index and its current process. */
export class ClientProcess extends WorkerProcess<ClientEvent, ClientCommand> {
  readonly #job: Omit<ClientJob, 'incarnation'>;

  /** `logPath` receives the processes' stderr. */
  constructor(job: Omit<ClientJob, 'incarnation'>, logPath: string) {
    super({ script: clientScript, index: job.index, noun: 'client', logPath });
    this.#job = job;
  }

  protected job(incarnation: number): ClientJob {
    return { ...this.#job, incarnation };
  }

  /** Stops the workload; false (and the process killed) if it did not settle its operation within `timeoutMs`. */
  async quiesce(timeoutMs: number): Promise<boolean> {
    if (!this.alive) return false;
    this.resume();
    this.send({ cmd: 'quiesce' });
    if (await this.waitFor('quiesced', timeoutMs)) return true;
    await this.kill();
    return false;
  }

  /** Lets the client wait for `finalRevision`, write client-end and exit; kills it if it does not exit in time. */
  async end(finalRevision: number, waitMs: number): Promise<Extract<ClientEvent, { event: 'ended' }> | undefined> {
    if (!this.alive) return undefined;
    this.expectExit();
    this.send({ cmd: 'end', finalRevision, waitMs });
    const ended = await this.waitFor('ended', waitMs + 15_000);
    if (!(await this.exitWithin(5_000))) await this.kill();
    return ended;
  }
}
