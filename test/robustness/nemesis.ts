/**
 * The fault schedule of a robustness run. From the run's seed it picks, one
 * at a time, a fault and a victim, applies the fault for a bounded time,
 * heals it, waits a short gap, and repeats until the run's signal aborts;
 * a fault in progress is healed at once on abort. Everything is on loopback:
 * client faults act on a client's OS process or on its own fault proxy
 * (a TcpProxy, ../support/tcp-proxy.ts), server faults on the run's own
 * kube-apiserver and etcd.
 *
 * | kind | what happens | how long |
 * | --- | --- | --- |
 * | `kill` | SIGKILL a client, restart it as a new incarnation | down 0.3-2 s |
 * | `pause` | SIGSTOP a client (its connections stay open), then SIGCONT | 1-6 s |
 * | `drop` | reset every connection of a client's proxy (dropConnections) | instant |
 * | `partition` | reset and refuse a client's connections (block) | 1-5 s |
 * | `blackhole` | a client's requests hang; held bytes are delivered late on heal, also those of a client that gave up meanwhile (blackhole with deliverAbandoned) | 1-5 s |
 * | `lose-answers` | a client's requests are applied, their answers lost (loseAnswers) | 40-80 % or 120-180 % of the victim's write deadline |
 * | `restart-apiserver` | restart kube-apiserver (etcd keeps the data) | until /readyz |
 * | `restart-etcd` | restart etcd (same data dir); the apiserver reconnects | until /readyz |
 * | `compact` | compact etcd and restart the apiserver: watches get 410 Gone | until /readyz |
 * | `delete-bucket` | with lost answers on one client 60 % of the time: 0.1-0.8 s later delete the bucket (by a kubekv store's teardown or by hand, half each; bucket-nemesis.ts), leave it absent 0.2-2 s, create it again (by kubekv or by hand, chosen apart), heal the lost answers 0.2-1.5 s later | 0.5-5 s |
 * | `delete-chunk` | the newest chunk the head references deleted by hand (DELETE of its ConfigMap, as `kubectl delete cm`; bucket-nemesis.ts): stores that do not hold it yet (lagging, the slow reader, a process starting) must report ChunkMissingError (status().synced false, open refused) and fail reads, never answer a wrong value. Held 1-5 s, then restored: the bucket deleted (by kubekv half the time, by hand if kubekv cannot) and created again 0.2-1 s later; meanwhile one client's answers are lost (50 %), or it is SIGKILLed and started again at once (25 %) | 1.2-6 s |
 * | `slow-reader` | not in the sequence: the reader client's proxy delays every chunk of bytes 2-10 s each way for 15-40 s, gaps of 2-10 s, in the background for the whole run, so the chunks of a head it fetches may be merged away and collected before its requests arrive (it must re-read the head, or report ChunkMissing, never answer a wrong value) | 15-40 s each |
 * | `edit-bucket` | not in the sequence: hand edits (bucket-nemesis.ts) every 1-4 s in the background, for the whole run, so they land between and during the other faults | instant each |
 *
 * Before the random schedule comes a fixed opening: one `delete-bucket` with
 * lost answers on client 0, then lost answers: on each
 * short-deadline client one shorter and one longer than its write deadline,
 * on each long-deadline client one shorter. A write that landed but whose
 * answer was lost must then be recognised as landed once the bucket can be
 * read again (shorter), or end OUTCOME_UNKNOWN, never a definite failure
 * (longer). Left to chance, a run could miss both paths: the mutation tests
 * of the store found seeds that did.
 *
 * Non-guarantee: a schedule is reproducible from the seed; what the faults hit
 * (which request is in flight) depends on timing and is not.
 */
import type { TcpProxy } from '../support/tcp-proxy.js';
import type { BucketNemesis } from './bucket-nemesis.js';
import { holdFault, parseFaultSpec, serverFault, sleepUnlessAborted } from './fault-schedule.js';
import { Prng } from './prng.js';

/** The kinds of fault, in the order of the table above. */
export const faultKinds = ['kill', 'pause', 'drop', 'partition', 'blackhole', 'lose-answers', 'restart-apiserver', 'restart-etcd', 'compact', 'delete-bucket', 'delete-chunk', 'slow-reader', 'edit-bucket'] as const;
/** One kind of fault. */
export type FaultKind = (typeof faultKinds)[number];

/** Parses `--faults`: "none", "all", or a comma-separated list of kinds; throws naming an unknown kind. */
export function parseFaults(spec: string): FaultKind[] {
  return parseFaultSpec(spec, faultKinds);
}

/** What the nemesis acts on. */
export interface NemesisTarget {
  /** Number of clients; faults pick a victim index below it. */
  clients: number;
  proxy(index: number): TcpProxy;
  /** The write deadline of client `index`, in ms (lost answers are sized from it). */
  deadlineMs(index: number): number;
  /** SIGKILL client `index` and wait for its exit. */
  kill(index: number): Promise<void>;
  /** Start client `index` again (next incarnation). */
  restart(index: number): void;
  pause(index: number): void;
  resume(index: number): void;
  restartApiserver(): Promise<void>;
  restartEtcd(): Promise<void>;
  compact(): Promise<number>;
  /** Deletes, creates and edits the bucket and deletes its chunks (delete-bucket, delete-chunk, edit-bucket). */
  bucket: BucketNemesis;
  /** The reader client's index (its proxy is the one `slow-reader` slows); undefined: no reader. */
  reader?: number | undefined;
}

/** One line of the fault log. */
export interface NemesisEvent {
  kind: FaultKind;
  phase: 'start' | 'heal' | 'error';
  client?: number;
  /** delete-bucket: whether answers of `client` were being lost meanwhile; who deleted and who created. */
  losing?: boolean;
  deletedBy?: string;
  createdBy?: string;
  /** delete-chunk: the chunk deleted (none when the head referenced none), and whether it held a value part. */
  chunk?: string;
  valueChunk?: boolean;
  /** delete-chunk: the client was SIGKILLed and started again right after the deletion (its open must be refused until the bucket is restored). */
  restarted?: boolean;
  /** Planned duration (start) or what went wrong (error). */
  ms?: number;
  error?: string;
}

/** Timing of a schedule, all in ms. */
export interface NemesisTiming {
  /** Quiet time between two faults, uniform in [min, max]. Default [1000, 4000]. */
  gapMs?: [number, number];
  /** Duration of partition and blackhole, uniform in [min, max]. Default [1000, 5000]. */
  faultMs?: [number, number];
  /** How long a paused client stays stopped. Default [1000, 6000]. */
  pauseMs?: [number, number];
  /** How long a killed client stays down. Default [300, 2000]. */
  downMs?: [number, number];
}

// Server faults stop everyone for seconds; client faults are cheap and many.
const weights: Record<FaultKind, number> = {
  kill: 3,
  pause: 3,
  drop: 3,
  partition: 3,
  blackhole: 3,
  'lose-answers': 3,
  'restart-apiserver': 1,
  'restart-etcd': 1,
  compact: 1,
  'delete-bucket': 5,
  'delete-chunk': 3,
  // In the background (Nemesis.run), not drawn.
  'slow-reader': 0,
  'edit-bucket': 0,
};

/** Gap between two hand edits, ms. */
const editGapMs: [number, number] = [1000, 4000];
/** slow-reader: gap between two slow spells, their length, and the delay each way, ms. */
const slowGapMs: [number, number] = [2000, 10_000];
const slowSpellMs: [number, number] = [15_000, 40_000];
const slowDelayMs: [number, number] = [2000, 10_000];

/** A seeded schedule of bounded faults; see the module doc. */
export class Nemesis {
  /** Faults applied, by kind. */
  readonly counts: Record<FaultKind, number> = Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** Faults whose action failed (e.g. a restart that timed out), by kind. */
  readonly errors: Record<FaultKind, number> = Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<FaultKind, number>;
  readonly #target: NemesisTarget;
  readonly #kinds: readonly FaultKind[];
  readonly #rng: Prng;
  readonly #seed: number;
  readonly #timing: Required<NemesisTiming>;
  readonly #record: (event: NemesisEvent) => void;

  constructor(target: NemesisTarget, kinds: readonly FaultKind[], seed: number, record: (event: NemesisEvent) => void, timing: NemesisTiming = {}) {
    this.#target = target;
    this.#kinds = kinds;
    // A stream of its own, apart from the clients' (which mix in their index).
    this.#rng = new Prng(seed, 0x6e656d);
    this.#seed = seed;
    this.#record = record;
    this.#timing = {
      gapMs: timing.gapMs ?? [1000, 4000],
      faultMs: timing.faultMs ?? [1000, 5000],
      pauseMs: timing.pauseMs ?? [1000, 6000],
      downMs: timing.downMs ?? [300, 2000],
    };
  }

  /** Applies faults until `signal` aborts; resolves once the last one is healed. */
  async run(signal: AbortSignal): Promise<void> {
    const editing = this.#kinds.includes('edit-bucket') ? this.#edits(signal) : Promise.resolve();
    const slowing = this.#kinds.includes('slow-reader') && this.#target.reader !== undefined ? this.#slowReader(this.#target.reader, signal) : Promise.resolve();
    try {
      await this.#sequence(signal);
    } finally {
      await editing;
      await slowing;
    }
  }

  /** Hand edits every 1-4 s until `signal` aborts (a PRNG stream of their own). */
  async #edits(signal: AbortSignal): Promise<void> {
    const rng = new Prng(this.#seed, 0x65646974);
    while (await sleepUnlessAborted(rng.int(...editGapMs), signal)) {
      this.counts['edit-bucket']++;
      try {
        await this.#target.bucket.edit();
      } catch (err) {
        this.errors['edit-bucket']++;
        this.#record({ kind: 'edit-bucket', phase: 'error', error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  /** Slow spells of the reader's proxy until `signal` aborts (a PRNG stream of their own). */
  async #slowReader(reader: number, signal: AbortSignal): Promise<void> {
    const rng = new Prng(this.#seed, 0x736c6f77);
    const proxy = this.#target.proxy(reader);
    while (await sleepUnlessAborted(rng.int(...slowGapMs), signal)) {
      this.counts['slow-reader']++;
      const delay = rng.int(...slowDelayMs);
      await holdFault(rng.int(...slowSpellMs), signal, () => proxy.delay(delay), () => proxy.heal(), (phase) =>
        this.#record(phase === 'start' ? { kind: 'slow-reader', phase, client: reader, ms: delay } : { kind: 'slow-reader', phase, client: reader }));
    }
  }

  async #sequence(signal: AbortSignal): Promise<void> {
    const choices = this.#kinds.filter((k) => weights[k] > 0).map((k) => [k, weights[k]] as const);
    if (choices.length === 0) return;
    // One deletion first, on lost answers: the rest of the opening takes a while.
    if (this.#kinds.includes('delete-bucket')) {
      if (!(await sleepUnlessAborted(this.#rng.int(...this.#timing.gapMs), signal))) return;
      this.counts['delete-bucket']++;
      await this.#deleteBucket(0, signal, true).catch((err: unknown) => {
        this.errors['delete-bucket']++;
        this.#record({ kind: 'delete-bucket', phase: 'error', client: 0, error: err instanceof Error ? err.message : String(err) });
      });
    }
    if (this.#kinds.includes('lose-answers') && !(await this.#opening(signal))) return;
    // The first fault waits a gap too, so the clients get going first.
    while (await sleepUnlessAborted(this.#rng.int(...this.#timing.gapMs), signal)) {
      const kind = this.#rng.weighted(choices);
      const client = this.#rng.int(0, this.#target.clients - 1);
      this.counts[kind]++;
      try {
        await this.#apply(kind, client, signal);
      } catch (err) {
        this.errors[kind]++;
        this.#record({ kind, phase: 'error', client, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  /** The fixed opening of lost answers (see the module doc); false if the signal aborted. */
  async #opening(signal: AbortSignal): Promise<boolean> {
    const shortest = Math.min(...Array.from({ length: this.#target.clients }, (_, i) => this.#target.deadlineMs(i)));
    for (let client = 0; client < this.#target.clients; client++) {
      const deadline = this.#target.deadlineMs(client);
      const lengths = deadline === shortest ? ['within', 'beyond'] as const : ['within'] as const;
      for (const length of lengths) {
        if (!(await sleepUnlessAborted(this.#rng.int(...this.#timing.gapMs), signal))) return false;
        this.counts['lose-answers']++;
        await this.#loseAnswers(client, this.#lostAnswersMs(deadline, length), signal);
      }
    }
    return true;
  }

  /** How long answers stay lost: within (40-80 %) or beyond (120-180 %) the victim's write deadline. */
  #lostAnswersMs(deadlineMs: number, length: 'within' | 'beyond'): number {
    return Math.round(deadlineMs * (length === 'within' ? 0.4 + 0.4 * this.#rng.next() : 1.2 + 0.6 * this.#rng.next()));
  }

  async #loseAnswers(client: number, ms: number, signal: AbortSignal): Promise<void> {
    const proxy = this.#target.proxy(client);
    this.#record({ kind: 'lose-answers', phase: 'start', client, ms });
    proxy.loseAnswers();
    try {
      await sleepUnlessAborted(ms, signal);
    } finally {
      proxy.heal();
      this.#record({ kind: 'lose-answers', phase: 'heal', client });
    }
  }

  async #apply(kind: FaultKind, client: number, signal: AbortSignal): Promise<void> {
    const t = this.#target;
    const rng = this.#rng;
    const timed = (ms: number, apply: () => void | Promise<void>, heal: () => void | Promise<void>) =>
      holdFault(ms, signal, apply, heal, (phase) => this.#record(phase === 'start' ? { kind, phase, client, ms } : { kind, phase, client }));
    const server = (action: () => Promise<unknown>) => serverFault(action, (phase) => this.#record({ kind, phase }));
    switch (kind) {
      case 'kill':
        return timed(rng.int(...this.#timing.downMs), () => t.kill(client), () => t.restart(client));
      case 'pause':
        return timed(rng.int(...this.#timing.pauseMs), () => t.pause(client), () => t.resume(client));
      case 'drop':
        return timed(0, () => t.proxy(client).dropConnections(), () => {});
      case 'partition':
        return timed(rng.int(...this.#timing.faultMs), () => t.proxy(client).block(), () => t.proxy(client).heal());
      case 'blackhole':
        return timed(rng.int(...this.#timing.faultMs), () => t.proxy(client).blackhole({ deliverAbandoned: true }), () => t.proxy(client).heal());
      case 'lose-answers':
        return this.#loseAnswers(client, this.#lostAnswersMs(t.deadlineMs(client), rng.chance(0.5) ? 'within' : 'beyond'), signal);
      case 'restart-apiserver':
        return server(() => t.restartApiserver());
      case 'restart-etcd':
        return server(() => t.restartEtcd());
      case 'compact':
        return server(() => t.compact());
      case 'delete-bucket':
        return this.#deleteBucket(client, signal);
      case 'delete-chunk':
        return this.#deleteChunk(client, signal);
      case 'slow-reader':
        return;
      case 'edit-bucket':
        return t.bucket.edit();
    }
  }

  /**
   * Deletes the bucket and creates it again while writes are in flight, and
   * (60 %) while the answers of `client` are being lost, so its writes that
   * land just before the deletion are read back only after the recreation.
   * The bucket is always created again, whatever aborts.
   */
  async #deleteBucket(client: number, signal: AbortSignal, lose?: boolean): Promise<void> {
    const t = this.#target;
    const rng = this.#rng;
    const losing = lose ?? rng.chance(0.6);
    const deletedBy = rng.chance(0.5) ? 'kubekv' : 'hand';
    const createdBy = rng.chance(0.5) ? 'kubekv' : 'hand';
    const [before, absent, after] = [rng.int(100, 800), rng.int(200, 2000), rng.int(200, 1500)];
    this.#record({ kind: 'delete-bucket', phase: 'start', client, ms: before + absent + after, losing, deletedBy, createdBy });
    if (losing) t.proxy(client).loseAnswers();
    try {
      await sleepUnlessAborted(before, signal);
      await t.bucket.deleteBucket(deletedBy);
      await sleepUnlessAborted(absent, signal);
    } finally {
      try {
        if (!t.bucket.present) await t.bucket.createBucket(createdBy);
        if (!t.bucket.present) await t.bucket.ensurePresent();
        await sleepUnlessAborted(after, signal);
      } finally {
        if (losing) t.proxy(client).heal();
        this.#record({ kind: 'delete-bucket', phase: 'heal', client });
      }
    }
  }

  /**
   * Deletes a chunk the head references, by hand; holds 1-5 s while the
   * stores find out (50 % of the time while the answers of `client` are
   * lost, so a write that lands meanwhile must be recognised, or end
   * unknown); then restores the bucket: deleted (by kubekv, or by hand when
   * kubekv cannot open it) and created again. Nothing is restored when the
   * head referenced no chunk. The bucket exists again whatever aborts.
   */
  async #deleteChunk(client: number, signal: AbortSignal): Promise<void> {
    const t = this.#target;
    const rng = this.#rng;
    const losing = rng.chance(0.5);
    const restarted = !losing && rng.chance(0.5);
    const deletedBy = rng.chance(0.5) ? 'kubekv' : 'hand';
    const createdBy = rng.chance(0.5) ? 'kubekv' : 'hand';
    const [hold, absent] = [rng.int(1000, 5000), rng.int(200, 1000)];
    let deleted: { name: string; value: boolean } | undefined;
    try {
      deleted = await t.bucket.deleteChunk();
      this.#record({ kind: 'delete-chunk', phase: 'start', client, ms: hold + absent, losing, restarted, deletedBy, createdBy, ...(deleted ? { chunk: deleted.name, valueChunk: deleted.value } : {}) });
      if (losing) t.proxy(client).loseAnswers();
      if (restarted && deleted) {
        await t.kill(client);
        t.restart(client);
      }
      if (deleted) await sleepUnlessAborted(hold, signal);
    } finally {
      try {
        if (deleted) {
          await t.bucket.deleteBucket(deletedBy);
          // kubekv opens the bucket to tear it down, which a missing chunk may refuse.
          if (t.bucket.present) await t.bucket.deleteBucket('hand');
          await sleepUnlessAborted(absent, signal);
          if (!t.bucket.present) await t.bucket.createBucket(createdBy);
          if (!t.bucket.present) await t.bucket.ensurePresent();
        }
      } finally {
        if (losing) t.proxy(client).heal();
        this.#record({ kind: 'delete-chunk', phase: 'heal', client });
      }
    }
  }
}
