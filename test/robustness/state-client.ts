/**
 * The increment client of the state workload, in the orchestrator's process
 * (it is never faulted): a loop that sends increments with unique op ids,
 * one at a time, to whoever leads, the way examples/counter/replicas.ts's
 * `increment` does: it follows a NOT_LEADER refusal's leader name, tries the replicas in turn
 * otherwise, and retries the SAME id across refusals, timeouts and failovers
 * until a replica acknowledges it (the leader dedupes by id).
 *
 * History: `invoke` before the first attempt of an id, `ack` when a replica
 * answered 200, `give-up` when the end of the run came first (outcome
 * unknown: an earlier attempt may have been applied).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Prng } from './prng.js';
import type { StateHistoryWriter } from './state-history.js';
import { replicaOfIdentity, type IncrementAck, type IncrementRefusal } from './state-protocol.js';

/** What the client needs of a replica: where it listens now. */
export interface IncrementTarget {
  readonly index: number;
  readonly port: number | undefined;
}

/** One client loop. */
export class IncrementClient {
  readonly #index: number;
  readonly #targets: readonly IncrementTarget[];
  readonly #history: StateHistoryWriter;
  readonly #rng: Prng;
  readonly #thinkMs: [number, number];
  #seq = 0;
  #leader: number | undefined;
  #stopping = false;
  #giveUpAt = Infinity;
  #running: Promise<void> | undefined;
  /** Acknowledged increments. */
  acked = 0;
  /** Attempts that were refused or failed (each retried). */
  retries = 0;

  constructor(index: number, targets: readonly IncrementTarget[], history: StateHistoryWriter, seed: number, thinkMs: [number, number] = [10, 60]) {
    this.#index = index;
    this.#targets = targets;
    this.#history = history;
    this.#rng = new Prng(seed, 0x636c69, index);
    this.#thinkMs = thinkMs;
  }

  /** Starts the loop. */
  start(): void {
    this.#running ??= this.#loop();
  }

  /** Stops issuing new ids; the id in flight is retried until acknowledged or `giveUpMs` passed. */
  async quiesce(giveUpMs: number): Promise<void> {
    this.#stopping = true;
    this.#giveUpAt = Date.now() + giveUpMs;
    await this.#running;
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      const id = `c${this.#index}-${++this.#seq}`;
      this.#history.append({ t: 'invoke', client: this.#index, id });
      const ack = await this.#send(id);
      if (ack) {
        this.acked++;
        this.#history.append({ t: 'ack', client: this.#index, id, epoch: ack.epoch, value: ack.value, by: ack.by });
      } else {
        this.#history.append({ t: 'give-up', client: this.#index, id });
      }
      await sleep(this.#rng.int(...this.#thinkMs));
    }
  }

  async #send(id: string): Promise<IncrementAck | undefined> {
    let target = this.#leader;
    for (let attempt = 0; Date.now() < this.#giveUpAt; attempt++) {
      if (target === undefined || this.#targets[target]?.port === undefined) {
        const up = this.#targets.filter((t) => t.port !== undefined);
        target = up.length > 0 ? up[(attempt + this.#index) % up.length]!.index : undefined;
      }
      const port = target === undefined ? undefined : this.#targets[target]?.port;
      if (port !== undefined) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/increment?id=${encodeURIComponent(id)}`, { method: 'POST', signal: AbortSignal.timeout(3000) });
          const body = (await res.json()) as IncrementAck & IncrementRefusal;
          if (res.status === 200) {
            this.#leader = target;
            return body;
          }
          // Follow the redirect unless it names the replica that sent it (a cut-off one believes its stale record).
          const named = res.status === 409 ? replicaOfIdentity(body.leader) : undefined;
          target = named !== undefined && named !== target ? named : undefined;
        } catch {
          target = undefined; // no answer in time (a paused or dead replica): try another
        }
        this.retries++;
      }
      this.#leader = undefined;
      await sleep(Math.min(300, 20 * (attempt + 1)));
    }
    return undefined;
  }
}
