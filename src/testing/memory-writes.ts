/**
 * A MemoryStore's write path, the in-memory counterpart of
 * src/store/write-pipeline.ts: queue -> group commit -> one conditional
 * merge patch of the cluster's ConfigMap, planned by the real commit planner
 * (src/store/commit.ts) on the state the cluster holds.
 *
 * Every write ends as a real one does: resolved (stored once), rejected with
 * a definite error (not stored: a condition, the StateManager's guard, a
 * closed store, an aborted signal, a deadline), or OutcomeUnknownError. The
 * last two happen only where a test arranges them: faults
 * (loseNextAnswer, failNextWrite) and interposed writes (beforeNextWrite)
 * queue here and are used by the next commits.
 *
 * Writes submitted in one synchronous run go out in one commit, as they do
 * in the real pipeline (its mutex hands the queue to a promise job).
 */
import { randomBytes } from 'node:crypto';
import type { ConfigMapObject } from '../kube/types.js';
import type { Clock, TimerHandle } from '../clock.js';
import {
  AbortedError,
  BucketNotFoundError,
  ClosedError,
  DeadlineExceededError,
  FormatError,
  OutcomeUnknownError,
  UnavailableError,
} from '../errors.js';
import { parseBucket, type BucketState } from '../store/bucket-state.js';
import { planCommit, type CommitPlan, type WriteOp, type WriteResult } from '../store/commit.js';
import type { WriteHooks } from '../store/configmap-store.js';
import type { ClusterState } from './memory-cluster.js';

/** What the write path needs from its store. */
export interface WriteHost {
  readonly bucket: string;
  readonly namespace: string;
  readonly server: ClusterState;
  readonly clock: Clock;
  /** Default deadline of a write, in ms. */
  readonly timeoutMs: number;
  /** The store's cache (reused as the base when it is the cluster's current state). */
  current(): BucketState;
  /** The StateManager's hooks, if any. */
  hooks(): WriteHooks;
  /** Feeds the patch's answer into the cache (write-through). */
  apply(object: ConfigMapObject): void;
}

/** A fault arranged by a test, used by the next commit that sends a patch. */
export type Fault = { kind: 'lost'; landed: boolean } | { kind: 'fail'; error: Error };

/** Another writer's action, run before the next commit; `run` resolves or rejects its promise. */
export interface Interposed {
  run(): Promise<void>;
  cancel(error: Error): void;
}

type Outcome = { ok: true; result: WriteResult } | { ok: false; error: Error };

interface Pending {
  readonly ops: WriteOp[];
  /** The epoch the epochOf hook gave the write when it was submitted. */
  readonly epoch: number | undefined;
  settled: boolean;
  /** Taken into a commit: from here its outcome stands, an abort no longer withdraws it. */
  committing: boolean;
  settle(outcome: Outcome): void;
}

/** Most writes in one commit, as in the real write pipeline. */
const MAX_WRITES_PER_COMMIT = 512;

/** Serialises and batches one store's writes. */
export class MemoryWrites {
  readonly #host: WriteHost;
  /** This store's writer id in the bucket's writers record (as the real pipeline's). */
  readonly #writer = randomBytes(9).toString('base64url');
  #commitSeq = 0;
  #queue: Pending[] = [];
  #drainScheduled = false;
  /** Commits run one at a time, in this chain. */
  #committing: Promise<void> = Promise.resolve();
  readonly #faults: Fault[] = [];
  readonly #interposed: Interposed[] = [];
  #closed = false;

  /** @param host - the store it writes for */
  constructor(host: WriteHost) {
    this.#host = host;
  }

  /** Queues a fault for the next commit that sends a patch. */
  addFault(fault: Fault): void {
    this.#faults.push(fault);
  }

  /** Queues another writer's action to run before the next commit. */
  addInterposed(interposed: Interposed): void {
    this.#interposed.push(interposed);
  }

  /** Queues one write (its ops apply atomically) and resolves with its result. */
  submit(ops: WriteOp[], signal?: AbortSignal, timeoutMs?: number): Promise<WriteResult> {
    const host = this.#host;
    if (this.#closed) return Promise.reject(new ClosedError(`store ${host.bucket}`));
    if (signal?.aborted) return Promise.reject(new AbortedError('write', { cause: signal.reason }));
    const deadlineMs = timeoutMs ?? host.timeoutMs;
    return new Promise((resolve, reject) => {
      const timers: { deadline?: TimerHandle } = {};
      const withdraw = (error: Error) => {
        if (pending.settled || pending.committing) return;
        this.#queue = this.#queue.filter((p) => p !== pending);
        pending.settle({ ok: false, error });
      };
      const onAbort = () => withdraw(new AbortedError('write', { cause: signal?.reason }));
      const pending: Pending = {
        ops,
        epoch: host.hooks().epochOf?.(),
        settled: false,
        committing: false,
        settle: (outcome) => {
          if (pending.settled) return;
          pending.settled = true;
          timers.deadline?.cancel();
          signal?.removeEventListener('abort', onAbort);
          if (outcome.ok) resolve(outcome.result);
          else reject(outcome.error);
        },
      };
      // Only an interposed action that does not return can hold a write this long.
      timers.deadline = host.clock.setTimer(
        () => withdraw(new DeadlineExceededError(`write to bucket ${host.bucket} was not applied within its deadline of ${deadlineMs} ms; nothing was stored`)),
        deadlineMs,
      );
      this.#queue.push(pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#scheduleDrain();
    });
  }

  /** Refuses new writes, rejects queued ones (and interposed actions) with ClosedError, waits for the commit in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    const queued = this.#queue;
    this.#queue = [];
    for (const pending of queued) pending.settle({ ok: false, error: new ClosedError(`store ${this.#host.bucket}`) });
    for (const interposed of this.#interposed.splice(0)) interposed.cancel(new ClosedError(`store ${this.#host.namespace}/${this.#host.bucket}`));
    await this.#committing;
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    // A promise job, like the real pipeline's mutex: every write submitted
    // in the current synchronous run joins the first commit.
    this.#committing = this.#committing.then(async () => {
      this.#drainScheduled = false;
      while (this.#queue.length > 0) {
        const interposed = this.#interposed.shift();
        if (interposed) await interposed.run();
        const members = this.#queue.splice(0, MAX_WRITES_PER_COMMIT);
        if (members.length > 0) this.#commit(members);
      }
    });
  }

  /**
   * One commit, planned on the bucket's state as the cluster holds it and
   * applied as one conditional merge patch. Synchronous: nothing can change
   * the bucket in between, so the patch never meets a conflict (the real
   * pipeline retries those; its callers never see them).
   */
  #commit(members: Pending[]): void {
    const host = this.#host;
    for (const member of members) member.committing = true;
    const open = () => members.filter((m) => !m.settled);
    const failAll = (error: Error) => open().forEach((m) => m.settle({ ok: false, error }));
    const object = host.server.getConfigMap(host.namespace, host.bucket);
    if (!object) return failAll(new BucketNotFoundError(host.namespace, host.bucket));
    let base: BucketState;
    try {
      const cached = host.current();
      base = object.metadata?.resourceVersion === cached.resourceVersion ? cached : parseBucket(object);
    } catch (err) {
      return failAll(err instanceof Error ? err : new FormatError('bucket content cannot be decoded'));
    }
    for (const member of open()) {
      try {
        host.hooks().guard?.(base, member.ops, member.epoch);
      } catch (err) {
        member.settle({ ok: false, error: err instanceof Error ? err : new UnavailableError(String(err)) });
      }
    }
    const live = open();
    if (live.length === 0) return;
    const plan = planCommit(base, live.map((m) => m.ops), { bucket: host.bucket, writer: { id: this.#writer, seq: ++this.#commitSeq } });
    if (!plan.patch) return settlePlan(live, plan);
    const fault = this.#faults.shift();
    if (fault?.kind === 'fail') return failAll(fault.error);
    if (fault?.kind === 'lost' && !fault.landed) return failAll(this.#unknown());
    let answer;
    try {
      answer = host.server.patchConfigMap(host.namespace, host.bucket, plan.patch);
    } catch (err) {
      return failAll(err instanceof Error ? err : new UnavailableError(String(err)));
    }
    if (!answer.ok) {
      // Nothing else runs between the read above and the patch.
      return failAll(answer.reason === 'not-found' ? new BucketNotFoundError(host.namespace, host.bucket) : new UnavailableError(`write to bucket ${host.bucket} met a conflict it cannot have`));
    }
    try {
      host.apply(answer.object);
    } catch {
      // The commit landed whatever the cache makes of it (a decode failure is reported by status()).
    }
    if (fault?.kind === 'lost') return failAll(this.#unknown());
    settlePlan(live, plan);
  }

  #unknown(): OutcomeUnknownError {
    return new OutcomeUnknownError(
      `write to bucket ${this.#host.bucket}: the answer was lost and the outcome could not be read back; it may or may not be stored (simulated by MemoryStore.loseNextAnswer)`,
    );
  }
}

function settlePlan(members: Pending[], plan: CommitPlan): void {
  members.forEach((member, i) => {
    const outcome = plan.outcomes[i]!;
    member.settle(outcome.ok ? { ok: true, result: outcome.result } : { ok: false, error: outcome.error });
  });
}

/**
 * Raises the leader epoch of a bucket as another replica's StateManager
 * would (its own writer, one conditional patch): what
 * MemoryStateManager.fence() does to each bucket. Throws FencedError when
 * the bucket already holds a higher epoch.
 */
export function raiseEpochAs(server: ClusterState, namespace: string, name: string, epoch: number, leader: string): void {
  const object = server.getConfigMap(namespace, name);
  if (!object) throw new BucketNotFoundError(namespace, name);
  const writer = { id: `elsewhere-${randomBytes(6).toString('base64url')}`, seq: 1 };
  const plan = planCommit(parseBucket(object), [[{ kind: 'epoch', epoch, leader }]], { bucket: name, writer });
  const outcome = plan.outcomes[0]!;
  if (!outcome.ok) throw outcome.error;
  if (plan.patch) server.patchConfigMap(namespace, name, plan.patch);
}
