/**
 * The store's write path: queue -> group commit -> one CAS patch -> retry.
 *
 * Guarantees:
 * - No lost update: every commit is a merge patch carrying the resourceVersion
 *   it was planned on; on 409 the pipeline re-reads, re-plans every queued
 *   write against the new state (re-checking conditions) and tries again,
 *   with p-retry's bounded, jittered backoff.
 * - Group commit: writes that queue while a commit is in flight go out
 *   together in the next one, so throughput grows with concurrency instead of
 *   being capped at one round trip per write. Each caller gets its own
 *   outcome; a failed condition fails only its own write.
 * - A write that resolved is in the ConfigMap; a write that rejected is not.
 *   When a request's outcome is unknown (connection lost mid-request), the
 *   pipeline re-reads and looks for its commit id in the recent-writes
 *   annotation before deciding.
 * - An AbortSignal withdraws a write only while it is still queued; once sent,
 *   its outcome stands (so the promise never lies about what happened).
 */
import { randomBytes } from 'node:crypto';
import { Mutex } from 'async-mutex';
import pRetry, { AbortError as StopRetrying } from 'p-retry';
import type { V1ConfigMap } from '@kubernetes/client-node';
import {
  AbortedError,
  BucketNotFoundError,
  ClosedError,
  ConflictError,
  KubekvError,
  UnavailableError,
} from '../errors.js';
import type { CasResult, ConfigMapApi } from '../kube/configmap-api.js';
import type { Logger } from '../logger.js';
import type { BucketState } from './bucket-state.js';
import { planCommit, type WriteOp, type WriteResult } from './commit.js';

/** What the pipeline needs from its store. */
export interface PipelineHost {
  readonly bucket: string;
  readonly api: ConfigMapApi;
  readonly logger: Logger;
  /** Most attempts of one commit. */
  readonly maxAttempts: number;
  /** The newest state the store knows (its cache). */
  current(): BucketState;
  /** Feeds a server response or fresh read into the cache; returns the parsed state. */
  apply(object: V1ConfigMap): BucketState;
  /** Checked before each attempt: throws to refuse every write (e.g. fenced, not leader). */
  guard?(base: BucketState): void;
  /** Extra annotations every commit sets (e.g. the leader epoch). */
  annotations?(): Record<string, string> | undefined;
}

interface Pending {
  ops: WriteOp[];
  resolve: (result: WriteResult) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  sent: boolean;
}

/** Most writes in one commit; bounds the patch size and the cost of a re-plan. */
const MAX_WRITES_PER_COMMIT = 512;

/** Serialises and batches a store's writes. */
export class WritePipeline {
  readonly #host: PipelineHost;
  #queue: Pending[] = [];
  /** One commit at a time: what queues meanwhile goes out together in the next. */
  readonly #commitLock = new Mutex();
  /** A drain is waiting for the lock; it will take whatever is queued when it gets it. */
  #drainScheduled = false;
  #closed = false;

  /** @param host - the store it writes for */
  constructor(host: PipelineHost) {
    this.#host = host;
  }

  /** Queues one write (its ops apply atomically) and resolves with its result. */
  submit(ops: WriteOp[], signal?: AbortSignal): Promise<WriteResult> {
    if (this.#closed) return Promise.reject(new ClosedError(`store ${this.#host.bucket}`));
    if (signal?.aborted) return Promise.reject(new AbortedError('write', { cause: signal.reason }));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (pending.sent) return;
        this.#queue = this.#queue.filter((p) => p !== pending);
        reject(new AbortedError('write', { cause: signal?.reason }));
      };
      // Settling removes the listener, so a long-lived signal shared by many
      // writes does not collect one listener per write.
      const settle = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A) => {
        signal?.removeEventListener('abort', onAbort);
        fn(...args);
      };
      const pending: Pending = { ops, resolve: settle(resolve), reject: settle(reject), signal, sent: false };
      this.#queue.push(pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (!this.#drainScheduled) {
        this.#drainScheduled = true;
        void this.#drain();
      }
    });
  }

  /** Refuses new writes, rejects queued ones with ClosedError, waits for the in-flight commit. */
  async close(): Promise<void> {
    this.#closed = true;
    const queued = this.#queue;
    this.#queue = [];
    for (const pending of queued) pending.reject(new ClosedError(`store ${this.#host.bucket}`));
    // Taking the lock waits for the commit in flight.
    await this.#commitLock.runExclusive(() => {});
  }

  /** Commits until the queue is empty; a write queued while this runs joins the next commit. */
  #drain(): Promise<void> {
    return this.#commitLock.runExclusive(async () => {
      // From here on a new write schedules another drain (which waits for
      // this one), so none is ever left in the queue unattended.
      this.#drainScheduled = false;
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_WRITES_PER_COMMIT);
        for (const pending of batch) pending.sent = true;
        await this.#commit(batch);
      }
    });
  }

  async #commit(writes: Pending[]): Promise<void> {
    const host = this.#host;
    const commitId = randomBytes(8).toString('base64url');
    const landed = (state: BucketState) => state.recentWrites.includes(commitId);
    let base = host.current();
    let open = writes;
    const finish = (results: WriteResult[]) => {
      open.forEach((pending, i) => pending.resolve(results[i]!));
      open = [];
    };

    const attempt = async (): Promise<void> => {
      try {
        host.guard?.(base);
      } catch (err) {
        throw new StopRetrying(err as Error);
      }
      const plan = planCommit(base, open.map((w) => w.ops), { bucket: host.bucket, commitId, annotations: host.annotations?.() ?? {} });
      const results: WriteResult[] = [];
      const still: Pending[] = [];
      plan.outcomes.forEach((outcome, i) => {
        if (outcome.ok) {
          still.push(open[i]!);
          results.push(outcome.result);
        } else {
          // The condition was false on a real state of the bucket: final.
          open[i]!.reject(outcome.error);
        }
      });
      open = still;
      if (!plan.patch) return finish(results);

      let response: CasResult;
      try {
        response = await host.api.patch(plan.patch);
      } catch (err) {
        // The request may or may not have been applied: look for our commit
        // before trying it again (a retry on the old base would 409 anyway).
        const fresh = await this.#reread();
        if (fresh && landed(fresh)) return finish(results);
        if (fresh) base = fresh;
        throw err;
      }
      if (response.ok) {
        host.apply(response.object);
        return finish(results);
      }
      const fresh = response.reason === 'conflict' ? await this.#reread() : undefined;
      if (!fresh) throw new StopRetrying(new BucketNotFoundError(host.api.namespace, host.bucket));
      // An earlier attempt whose response was lost may have landed after all.
      if (landed(fresh)) return finish(results);
      base = fresh;
      throw new ConflictError(`bucket ${host.bucket} kept changing under concurrent writers (${host.maxAttempts} attempts)`);
    };

    try {
      await pRetry(attempt, {
        retries: host.maxAttempts - 1,
        factor: 2,
        minTimeout: 5,
        maxTimeout: 500,
        randomize: true,
        shouldRetry: ({ error }) => (error instanceof KubekvError ? error.retryable : true),
        onFailedAttempt: ({ error, attemptNumber }) => {
          if (!(error instanceof ConflictError)) {
            host.logger.warn({ bucket: host.bucket, attempt: attemptNumber, code: (error as Partial<KubekvError>).code }, 'write attempt failed; retrying');
          }
        },
      });
    } catch (err) {
      const error = err instanceof KubekvError ? err : new UnavailableError(`write to bucket ${host.bucket} failed`, { cause: err });
      for (const pending of open) pending.reject(error);
    }
  }

  async #reread(): Promise<BucketState | undefined> {
    const object = await this.#host.api.get();
    return object ? this.#host.apply(object) : undefined;
  }
}

