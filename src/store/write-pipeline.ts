/**
 * The store's write path: queue -> group commit -> one CAS patch -> retry.
 *
 * Every write ends in exactly one of three ways, and says which:
 * - resolved: it is stored (exactly once);
 * - rejected with a definite error: it is not stored (a condition failed on
 *   the server's state, DeadlineExceededError, AbortedError, FencedError, a
 *   refused request...);
 * - rejected with OutcomeUnknownError: its deadline passed while a request
 *   that may have applied it could not be resolved by reading the bucket.
 *
 * How:
 * - Every commit is a merge patch carrying the resourceVersion it was planned
 *   on, so the server applies it only to exactly that state. A commit that
 *   lands therefore also proves every condition and no-op planned on that
 *   state. A plan that sends nothing (every write failed its condition or
 *   changes nothing) is settled only on a state read from the server after
 *   those writes were submitted: never on a cache the server may have moved
 *   past.
 * - Contention never fails a write. On 409 the pipeline backs off (full
 *   jitter, 5 ms doubling to a 250 ms window), re-plans every write of the
 *   commit on a newer state and retries (p-retry), until the write's own
 *   deadline (`timeoutMs`, default 30 s).
 * - A lost answer (timeout, reset, 5xx) is resolved by reading, not guessed:
 *   each store is a writer with its own commit numbers, recorded per writer
 *   in the bucket (codec/writers.ts). The re-read tells "landed", "not
 *   landed and never can" (the resourceVersion moved on without it), or "may
 *   still land" (unchanged): then the identical CAS is sent again, which at
 *   most one of the copies can win.
 * - Group commit: writes that queue while a commit is in flight go out
 *   together in the next one, so throughput grows with concurrency. Each
 *   caller gets its own outcome; a failed condition fails only its write.
 * - An AbortSignal withdraws a write while no request that may apply it is
 *   outstanding; after that, its outcome stands and is awaited (bounded by
 *   the deadline).
 */
import { randomBytes } from 'node:crypto';
import { Mutex } from 'async-mutex';
import pRetry from 'p-retry';
import type { ConfigMapObject } from '../kube/types.js';
import { keepingProcessAlive, sleep, type Clock, type TimerHandle } from '../clock.js';
import { MAX_STORED_BYTES, commitStatus } from '../codec/index.js';
import {
  AbortedError,
  BucketFullError,
  BucketNotFoundError,
  ClosedError,
  DeadlineExceededError,
  FormatError,
  KubekvError,
  OutcomeUnknownError,
  UnavailableError,
} from '../errors.js';
import type { PatchResult as ObjectPatchResult } from '../kube/api.js';
import type { BucketApi, BucketPatch } from './bucket-api.js';

type PatchResult = ObjectPatchResult<ConfigMapObject>;
import { certainlyNotApplied, isTooLarge } from '../kube/errors.js';
import type { Logger } from '../logger.js';
import type { RetryReason, StoreObserver } from '../metrics/observer.js';
import { isNewer, type BucketState } from './bucket-state.js';
import type { EtcdBudget } from './etcd-budget.js';
import { planCommit, type CommitPlan, type WriteOp, type WriteResult } from './commit.js';

/** What the pipeline needs from its store. */
export interface PipelineHost {
  readonly bucket: string;
  readonly api: BucketApi;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Default deadline of a write, in ms. */
  readonly timeoutMs: number;
  /** The newest state the store knows (its cache). */
  current(): BucketState;
  /**
   * Feeds a server response or fresh read into the cache (loading the
   * chunks it references first); returns the newest state the store now
   * holds (this one, or a newer one from the watch).
   */
  apply(object: ConfigMapObject): Promise<BucketState>;
  /**
   * Called for each write before it is first planned, with the state it
   * will be planned on, and again when a re-plan is on another incarnation
   * of the bucket (another uid): may replace its ops (a large value is
   * written into value chunks owned by that incarnation, and its put then
   * carries a reference; value-chunks.ts). Throws to refuse the write
   * (nothing of it is referenced by the bucket).
   */
  prepare?(ops: WriteOp[], base: BucketState, signal: AbortSignal): Promise<void>;
  /** Called once per write after its commit ended (it settled): what prepare() holds for it may go. */
  release?(ops: readonly WriteOp[]): void;
  /**
   * Called after each commit, under the commit lock: the store's
   * maintenance (compaction, garbage collection), its own commits in the
   * same pipeline. Never throws; writes that queue meanwhile go out together
   * in the next commit.
   */
  afterCommit?(signal: AbortSignal): Promise<void>;
  /**
   * A write's answer at `resourceVersion`, left unparsed because the cache
   * already held that version (see holds): notes the write like apply() and
   * returns the cache's state if it still is exactly that version.
   */
  acknowledge(resourceVersion: string): BucketState | undefined;
  /** True when the cache holds exactly `resourceVersion` (a write's answer at it need not be parsed). */
  holds(resourceVersion: string): boolean;
  /**
   * Called once when a write is submitted; the number it returns travels
   * with the write to every guard call (the StateManager binds each write
   * to the leader epoch it was made under, so a write outliving its term
   * can never be sent under the next one).
   */
  epochOf?(): number | undefined;
  /** Checked for each write before each plan, with the epoch epochOf() gave it: throws to refuse that write (e.g. fenced, not leader). */
  guard?(base: BucketState, ops: readonly WriteOp[], epoch: number | undefined): void;
  /** Metrics hooks (src/metrics); they never throw and never wait. */
  readonly observer?: StoreObserver | undefined;
  /** What the store may make etcd store over time (see etcd-budget.ts); none: no limit. */
  readonly budget?: EtcdBudget | undefined;
}

type Outcome = { ok: true; result: WriteResult } | { ok: false; error: Error };

interface Pending {
  readonly ops: WriteOp[];
  readonly signal: AbortSignal | undefined;
  /** The epoch host.epochOf() gave the write when it was submitted (the leadership it is made under). */
  readonly epoch: number | undefined;
  /** Value of the request counter when the write was submitted (see Base.seq). */
  readonly submittedSeq: number;
  /** The commit it belongs to, once taken from the queue. */
  commit: Commit | undefined;
  settled: boolean;
  settle(outcome: Outcome): void;
}

/**
 * A state of the bucket and where it came from: `seq` is the number of the
 * request whose answer it is (0: the cache, of unknown age). A state with
 * seq > p.submittedSeq was on the server after write p was submitted.
 */
interface Base {
  readonly state: BucketState;
  readonly seq: number;
}

/** One commit in progress: its writes and whether a request that may apply them is outstanding. */
interface Commit {
  members: Pending[];
  /** A patch request is on the wire. */
  inFlight: boolean;
  /** A sent attempt's outcome is unknown and it may still land. */
  ambiguous: boolean;
  /** Aborted when every member is settled: the commit stops working. */
  readonly done: AbortController;
}

/** Reason of commit.done: preallocated (abort() without one builds a DOMException per commit). */
const COMMIT_SETTLED = new Error('every write of the commit is settled');

/** Most writes in one commit; bounds the patch size and the cost of a re-plan. */
const MAX_WRITES_PER_COMMIT = 512;

/** Refusals as too large one commit takes (each halves the size it may add) before it fails whole. */
const MAX_TOO_LARGE_REFUSALS = 20;

/** Thrown inside a retry iteration to wait (backoff) and go again. */
class Retry extends Error {}

/**
 * Backoff after a conflict: full jitter, uniform in [0, min(cap, base * 2^n)].
 * The window reaches its cap after a few conflicts and stays there, so every
 * contending writer draws from the same window: no writer is starved for
 * having lost more often (as one would be if windows kept growing), and
 * contenders spread out instead of waking in lock-step.
 */
const CONFLICT_BACKOFF = { baseMs: 5, capMs: 250 };
/** Backoff after a failed or unanswered request: the server may be down or overloaded. */
const FAILURE_BACKOFF = { baseMs: 50, capMs: 1000 };

function fullJitter(backoff: { baseMs: number; capMs: number }, n: number): number {
  return Math.random() * Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(n, 20));
}

/** Serialises and batches a store's writes. */
export class WritePipeline {
  readonly #host: PipelineHost;
  /** This store's writer id in the bucket's writers record. */
  readonly #writer = randomBytes(9).toString('base64url');
  /** Commit numbers of this writer; one commit at a time, so at most one in flight. */
  #commitSeq = 0;
  /** Numbers every request the pipeline sends (reads and patches), see Base.seq. */
  #requestSeq = 0;
  /** The last state the server answered this pipeline with. */
  #lastAnswer: Base | undefined;
  #queue: Pending[] = [];
  /** One commit at a time: what queues meanwhile goes out together in the next. */
  readonly #commitLock = new Mutex();
  /** A drain is waiting for the lock; it will take whatever is queued when it gets it. */
  #drainScheduled = false;
  #closed = false;
  /** Aborted by close(): ends a wait for the etcd budget and stops maintenance in progress. */
  readonly #closing = new AbortController();
  /**
   * Most bytes etcd takes for the object, as far as this pipeline knows:
   * etcd's default, lowered below a commit's estimate when etcd refused it
   * as too large (a cluster with a smaller `--max-request-bytes`, or an
   * estimate that fell short), so the next plan refuses the writes that do
   * not fit, each with its own BucketFullError, instead of sending them.
   */
  #maxStoredBytes = MAX_STORED_BYTES;

  /** @param host - the store it writes for */
  constructor(host: PipelineHost) {
    this.#host = host;
  }

  /**
   * Queues one write (its ops apply atomically) and resolves with its result.
   *
   * @param timeoutMs - the write's deadline; default the store's
   */
  submit(ops: WriteOp[], signal?: AbortSignal, timeoutMs?: number): Promise<WriteResult> {
    if (this.#closed) return Promise.reject(new ClosedError(`store ${this.#host.bucket}`));
    if (signal?.aborted) return Promise.reject(new AbortedError('write', { cause: signal.reason }));
    const deadlineMs = timeoutMs ?? this.#host.timeoutMs;
    return new Promise((resolve, reject) => {
      // Assigned right below; settle() may only run after that.
      const timers: { deadline?: TimerHandle } = {};
      const submittedAt = this.#host.observer ? this.#host.clock.monotonic() : 0;
      const onAbort = () => this.#withdraw(pending, new AbortedError('write', { cause: signal?.reason }));
      const pending: Pending = {
        ops,
        signal,
        epoch: this.#host.epochOf?.(),
        submittedSeq: this.#requestSeq,
        commit: undefined,
        settled: false,
        settle: (outcome) => {
          if (pending.settled) return;
          pending.settled = true;
          timers.deadline?.cancel();
          // A long-lived signal shared by many writes keeps no listener per write.
          signal?.removeEventListener('abort', onAbort);
          if (outcome.ok) resolve(outcome.result);
          else reject(outcome.error);
          this.#host.observer?.written(outcome.ok ? undefined : outcome.error, this.#host.clock.monotonic() - submittedAt);
          const commit = pending.commit;
          if (commit && commit.members.every((m) => m.settled)) commit.done.abort(COMMIT_SETTLED);
        },
      };
      timers.deadline = this.#host.clock.setTimer(() => this.#expire(pending, deadlineMs), deadlineMs);
      this.#queue.push(pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (!this.#drainScheduled) {
        this.#drainScheduled = true;
        void this.#drain();
      }
    });
  }

  /** Sets what the pipeline believes etcd takes for the object (see #maxStoredBytes); for tests. */
  setMaxStoredBytes(bytes: number): void {
    this.#maxStoredBytes = bytes;
  }

  /** Refuses new writes, rejects queued ones with ClosedError, waits for the in-flight commit. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort(new ClosedError(`store ${this.#host.bucket}`));
    const queued = this.#queue;
    this.#queue = [];
    for (const pending of queued) pending.settle({ ok: false, error: new ClosedError(`store ${this.#host.bucket}`) });
    // Taking the lock waits for the commit in flight (bounded by its writes' deadlines).
    await this.#commitLock.runExclusive(() => {});
  }

  /** True while a request that may apply `pending` is outstanding or unresolved. */
  #maybeSent(pending: Pending): boolean {
    const commit = pending.commit;
    return commit !== undefined && (commit.inFlight || commit.ambiguous);
  }

  /** The caller's signal fired: withdraw the write unless it may already be applied. */
  #withdraw(pending: Pending, error: AbortedError): void {
    if (pending.settled || this.#maybeSent(pending)) return;
    this.#queue = this.#queue.filter((p) => p !== pending);
    pending.settle({ ok: false, error });
  }

  /** The write's deadline passed: say what is known. */
  #expire(pending: Pending, deadlineMs: number): void {
    if (pending.settled) return;
    const bucket = this.#host.bucket;
    if (this.#maybeSent(pending)) {
      pending.settle({
        ok: false,
        error: new OutcomeUnknownError(
          `write to bucket ${bucket}: deadline of ${deadlineMs} ms passed while a request that may have applied it could not be resolved; it may or may not be stored`,
        ),
      });
      return;
    }
    this.#queue = this.#queue.filter((p) => p !== pending);
    pending.settle({
      ok: false,
      error: new DeadlineExceededError(`write to bucket ${bucket} was not applied within its deadline of ${deadlineMs} ms; nothing was stored`),
    });
  }

  /** Commits until the queue is empty; a write queued while this runs joins the next commit. */
  #drain(): Promise<void> {
    // The clock's timers (deadlines, backoff) do not keep the process alive;
    // a write in progress must, or a process waiting on it could exit with
    // the write unsettled (say, while the API server refuses connections).
    return keepingProcessAlive(() => this.#commitLock
      .runExclusive(async () => {
        // From here on a new write schedules another drain (which waits for
        // this one), so none is ever left in the queue unattended.
        this.#drainScheduled = false;
        while (this.#queue.length > 0) {
          // Over the etcd budget: wait (writes queue meanwhile and go out
          // together; each still ends by its own deadline, which takes it
          // out of the queue).
          if (!(await this.#budgetAllows())) return;
          if (this.#queue.length === 0) return;
          const members = this.#queue.splice(0, MAX_WRITES_PER_COMMIT);
          const commit: Commit = { members, inFlight: false, ambiguous: false, done: new AbortController() };
          for (const pending of members) pending.commit = commit;
          try {
            await this.#commit(commit);
          } finally {
            for (const pending of members) this.#host.release?.(pending.ops);
          }
          if (this.#host.afterCommit && !this.#closed) await this.#host.afterCommit(this.#closing.signal);
        }
      }));
  }

  /** Waits until the etcd budget lets a commit go; false when the store closed meanwhile. */
  async #budgetAllows(): Promise<boolean> {
    const budget = this.#host.budget;
    if (!budget || budget.waitMs() === 0) return true;
    try {
      const waited = await budget.ready(this.#closing.signal);
      this.#host.observer?.budgetWaited(waited);
      return true;
    } catch {
      return false;
    }
  }

  /** The state a commit starts from: the pipeline's last answer if the cache still holds it, else the cache. */
  #startingBase(): Base {
    const cached = this.#host.current();
    const last = this.#lastAnswer;
    return last && last.state.resourceVersion === cached.resourceVersion ? last : { state: cached, seq: 0 };
  }

  async #commit(commit: Commit): Promise<void> {
    const host = this.#host;
    const seq = ++this.#commitSeq;
    let base = this.#startingBase();
    // The plan of the outstanding attempt (sent, or about to be), and its base.
    let attempt: { plan: CommitPlan & { patch: BucketPatch }; base: Base; refusedAsTooLarge?: boolean } | undefined;
    // The resourceVersion of the last attempt refused with 409 (a newer state is needed).
    let conflictedOn: string | undefined;
    let conflicts = 0;
    let failures = 0;
    let tooLarge = 0;
    const open = () => commit.members.filter((m) => !m.settled);
    const settleAll = (outcome: (i: number) => Outcome) => commit.members.forEach((m, i) => m.settle(outcome(i)));
    const settlePlan = (plan: CommitPlan) =>
      settleAll((i) => {
        const o = plan.outcomes[i]!;
        return o.ok ? { ok: true, result: o.result } : { ok: false, error: o.error };
      });
    const fail = (error: unknown) =>
      settleAll(() => ({ ok: false, error: error instanceof Error ? error : new UnavailableError(`write to bucket ${host.bucket} failed: ${String(error)}`) }));
    const unknown = (why: string, cause?: unknown) =>
      fail(new OutcomeUnknownError(`write to bucket ${host.bucket}: ${why}; it may or may not be stored`, { cause }));

    const iteration = async (): Promise<void> => {
      for (;;) {
        if (open().length === 0) return;

        if (commit.ambiguous && attempt) {
          // Learn what became of the sent attempt by reading, never by guessing.
          const fresh = await this.#readOrRetry(commit);
          if (!fresh) return unknown('the bucket was deleted while the outcome of a sent request was unknown');
          // Another ConfigMap under the same name (deleted and recreated):
          // whatever the sent request did went with the old one, and the new
          // one can neither show it landed nor prove it did not.
          if (fresh.state.uid !== attempt.base.state.uid) {
            return unknown('the bucket was deleted and recreated while the outcome of a sent request was unknown');
          }
          const status = commitStatus(fresh.state, this.#writer, seq, attempt.base.state.revision);
          if (status === 'landed') return settlePlan(attempt.plan);
          if (status === 'unknown') {
            return unknown('the bucket no longer records which commits landed (its kubekv.dev/writers annotation was removed or pruned)');
          }
          if (fresh.state.resourceVersion !== attempt.base.state.resourceVersion || attempt.refusedAsTooLarge) {
            // The bucket moved on without it, or the server refused this very
            // patch on this very state as too large: it can never land.
            commit.ambiguous = false;
            attempt = undefined;
            base = fresh;
          }
          // Else it may still land: send the identical CAS again (below);
          // at most one copy can win, and either way we learn the outcome.
        }

        if (!attempt) {
          if (conflictedOn !== undefined) {
            // After a conflict: the cache usually already holds the winner's
            // commit (the watch is fast); else read it. Either is fine to
            // plan a CAS on; a plan that sends nothing reads again below.
            const cached = host.current();
            if (cached.resourceVersion !== '' && isNewer(cached.resourceVersion, conflictedOn)) base = { state: cached, seq: 0 };
            else {
              const fresh = await this.#readOrRetry(commit);
              if (!fresh) return fail(new BucketNotFoundError(host.api.namespace, host.bucket));
              base = fresh;
            }
            conflictedOn = undefined;
          }
          if (base.state.resourceVersion === '') {
            // The cache saw the bucket deleted: never plan on that (a patch
            // without a resourceVersion would be unconditional).
            const fresh = await this.#readOrRetry(commit);
            if (!fresh) return fail(new BucketNotFoundError(host.api.namespace, host.bucket));
            base = fresh;
            continue;
          }
          // Large values go into value chunks before the plan; a re-plan
          // reuses them while they are recent enough to reference and owned
          // by this incarnation of the bucket (see prepare in
          // chunk-maintenance.ts).
          if (host.prepare) {
            for (const member of open()) {
              try {
                await host.prepare(member.ops, base.state, commit.done.signal);
              } catch (err) {
                member.settle({ ok: false, error: err instanceof Error ? err : new UnavailableError(String(err)) });
              }
            }
          }
          // Writes withdrawn or expired before any live attempt leave the
          // commit. From here to the send nothing awaits, so no write can be
          // told "not stored" and still be in the plan that is sent.
          for (const member of open()) {
            try {
              host.guard?.(base.state, member.ops, member.epoch);
            } catch (err) {
              member.settle({ ok: false, error: err instanceof Error ? err : new UnavailableError(String(err)) });
            }
          }
          commit.members = open();
          if (commit.members.length === 0) return;
          const plan = planCommit(base.state, commit.members.map((m) => m.ops), {
            bucket: host.bucket,
            writer: { id: this.#writer, seq },
            maxStoredBytes: this.#maxStoredBytes,
          });
          if (!plan.patch) {
            // Nothing to send: settle only on a state the server had after
            // every one of these writes was submitted.
            const newest = Math.max(...commit.members.map((m) => m.submittedSeq));
            if (base.seq > newest) return settlePlan(plan);
            const fresh = await this.#readOrRetry(commit);
            if (!fresh) return fail(new BucketNotFoundError(host.api.namespace, host.bucket));
            base = fresh;
            continue;
          }
          attempt = { plan: plan as CommitPlan & { patch: BucketPatch }, base };
        }

        const sent = await this.#send(commit, attempt.plan);
        if (sent.kind === 'answer') {
          const response = sent.result;
          if (response.ok) {
            try {
              const state = response.object ? await host.apply(response.object) : host.acknowledge(response.resourceVersion);
              if (state) this.#lastAnswer = { state, seq: sent.seq };
            } catch {
              // The commit landed whatever the cache makes of the answer (a
              // decode failure is reported by the store's status()).
            }
            return settlePlan(attempt.plan);
          }
          if (response.reason === 'not-found') {
            if (commit.ambiguous) return unknown('the bucket was deleted while the outcome of a sent request was unknown');
            return fail(new BucketNotFoundError(host.api.namespace, host.bucket));
          }
          // 409: the bucket changed. If an earlier copy of this attempt
          // landed, the re-read shows it; otherwise back off, then re-plan
          // on a newer state (read after the pause, so it is as new as can be).
          host.observer?.conflict();
          if (commit.ambiguous) continue;
          conflictedOn = attempt.base.state.resourceVersion;
          attempt = undefined;
          throw new Retry('conflict');
        }
        // The request failed.
        if (isTooLarge(sent.error)) {
          // Refused before it was stored, so etcd's real limit lies between
          // the base and this plan: re-plan under the midpoint, so the writes
          // that do not fit fail with BucketFullError and the rest go ahead
          // (each further refusal halves the gap again). If an earlier copy's
          // answer was lost, the re-read settles it first (that copy was the
          // same patch on the same state, so it was refused too, unless the
          // bucket moved on).
          const { baseStoredBytes, storedBytes } = attempt.plan;
          this.#maxStoredBytes = Math.min(this.#maxStoredBytes, Math.floor((baseStoredBytes + storedBytes) / 2));
          host.logger.warn({ bucket: host.bucket, maxStoredBytes: this.#maxStoredBytes }, 'etcd refused a commit as too large; lowering the size limit');
          if (commit.ambiguous) {
            attempt.refusedAsTooLarge = true;
            continue;
          }
          if (++tooLarge > MAX_TOO_LARGE_REFUSALS) {
            // The estimate is far off for this cluster: every write still in
            // the commit is definitely not stored.
            return fail(new BucketFullError(host.bucket, 0, this.#maxStoredBytes, { limitName: 'etcd', cause: sent.error }));
          }
          attempt = undefined;
          continue;
        }
        if (commit.ambiguous || !certainlyNotApplied(sent.error)) {
          commit.ambiguous = true;
          throw new Retry('outcome unknown', { cause: sent.error });
        }
        const error = sent.error;
        if (error instanceof KubekvError && !error.retryable) return fail(error);
        // Refused before anything happened (connection refused, 429): re-plan
        // after the pause, so writes withdrawn or expired meanwhile (told
        // "not stored") are left out and the guard is checked again.
        attempt = undefined;
        throw new Retry('refused', { cause: error });
      }
    };

    try {
      await pRetry(iteration, {
        retries: Number.POSITIVE_INFINITY,
        // The pause is taken in onFailedAttempt (full jitter, on the injected clock).
        minTimeout: 0,
        maxTimeout: 0,
        signal: commit.done.signal,
        shouldRetry: ({ error }) => error instanceof Retry,
        onFailedAttempt: async ({ error, attemptNumber }) => {
          if (!(error instanceof Retry)) return;
          host.observer?.retry(error.message as RetryReason);
          let delay: number;
          if (error.message === 'conflict') {
            delay = fullJitter(CONFLICT_BACKOFF, conflicts++);
          } else {
            delay = fullJitter(FAILURE_BACKOFF, failures++);
            const code = (error.cause as Partial<KubekvError> | undefined)?.code;
            host.logger.warn({ bucket: host.bucket, attempt: attemptNumber, code, delayMs: Math.round(delay) }, `write attempt failed (${error.message}); retrying`);
          }
          await sleep(host.clock, delay, commit.done.signal).catch(() => {});
        },
      });
    } catch (err) {
      if (commit.done.signal.aborted) return; // every write already has its outcome
      // Not a Retry: a bug or an unexpected failure. Say what is known.
      if (commit.inFlight || commit.ambiguous) unknown('an unexpected error ended the commit', err);
      else fail(err instanceof KubekvError ? err : new UnavailableError(`write to bucket ${host.bucket} failed`, { cause: err }));
    }
  }

  /**
   * Sends one plan's patch; `inFlight` is set while it is on the wire. What
   * it may have made etcd store (landed, or its answer lost) is charged to
   * the budget and reported; a refusal costs etcd nothing.
   */
  async #send(commit: Commit, plan: CommitPlan & { patch: BucketPatch }): Promise<{ kind: 'answer'; result: PatchResult; seq: number } | { kind: 'error'; error: unknown }> {
    const seq = ++this.#requestSeq;
    commit.inFlight = true;
    let sent: { kind: 'answer'; result: PatchResult; seq: number } | { kind: 'error'; error: unknown };
    try {
      const alreadyHeld = (resourceVersion: string) => this.#host.holds(resourceVersion);
      sent = { kind: 'answer', result: await this.#host.api.patch(plan.patch, { signal: commit.done.signal, alreadyHeld }), seq };
    } catch (error) {
      sent = { kind: 'error', error };
    } finally {
      commit.inFlight = false;
    }
    const mayHaveLanded = sent.kind === 'answer' ? sent.result.ok : !certainlyNotApplied(sent.error) && !isTooLarge(sent.error);
    if (mayHaveLanded) {
      this.#host.budget?.charge(plan.storedBytes);
      this.#host.observer?.etcdBytes(plan.storedBytes);
    }
    return sent;
  }

  /**
   * A quorum read of the bucket, fed into the cache. Undefined when the
   * bucket does not exist; a failed read becomes a Retry (backoff, again).
   */
  async #readOrRetry(commit: Commit): Promise<Base | undefined> {
    const seq = ++this.#requestSeq;
    let object;
    try {
      object = await this.#host.api.get({ signal: commit.done.signal });
    } catch (err) {
      throw new Retry('read failed', { cause: err });
    }
    if (!object) return undefined;
    let state;
    try {
      state = await this.#host.apply(object);
    } catch (err) {
      // A state this kubekv cannot decode (a newer format) is final for its
      // writes. One that could not be loaded whole (a chunk missing, a
      // chunk fetch failed) may be superseded: try again after a pause.
      if (err instanceof FormatError) throw err;
      throw new Retry('read failed', { cause: err });
    }
    if (state.resourceVersion === '') return undefined; // the cache holds a deletion newer than this answer
    const base = { state, seq };
    this.#lastAnswer = base;
    return base;
  }
}
