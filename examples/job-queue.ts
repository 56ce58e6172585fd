/**
 * A small job queue in one bucket, with atomic claims.
 *
 * Producers enqueue jobs; workers, each with its own store as separate
 * processes would have, claim them. A job moves between three prefixes, each
 * move one atomic batch:
 *
 *   queue/<id>    the payload, waiting            (enqueue: create, KeyExistsError if queued)
 *   claimed/<id>  {worker, payload}, being run    (claim: delete queue/<id> at its lastIndex + create claimed/<id>)
 *   done/<id>     {worker, ok, result | error}    (complete: delete claimed/<id> at its lastIndex + create done/<id>)
 *
 * The conditions are decided on the server's state, not on a worker's cache:
 * when several workers claim the same job at once, exactly one batch lands
 * and the others reject (KeyNotFoundError or KeyModifiedError on the queue
 * key), so no job is claimed twice. Workers do not poll: they wake on a
 * watch of queue/.
 *
 * Not covered here: a worker that dies leaves its job in claimed/. A reaper
 * can move claims older than a deadline back to queue/ with the same kind of
 * batch, conditioned on the claim's lastIndex so it never races complete().
 * A bucket holds at most 1 MiB: delete done/ entries once they are consumed.
 *
 * Run against a cluster (2 producers, 3 workers, 20 jobs, then exit):
 *   node --import tsx examples/job-queue.ts [--workers 3] [--jobs 20] [--namespace ns] [--kubeconfig path]
 */
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore, KeyModifiedError, KeyNotFoundError, type KVPair, type Store } from 'kubekv';
import { clusterFlags, clusterOptions, isMain, stopSignal } from './cli.js';

/** A job a worker holds. */
export interface ClaimedJob {
  /** The job's id (its key under queue/ without the prefix). */
  id: string;
  /** What the producer enqueued. */
  payload: string;
  /** lastIndex of claimed/<id>: complete() removes the claim only at this revision. */
  claimIndex: number;
}

/** What a worker does with a job: resolves with its result. */
export type JobHandler = (job: ClaimedJob, worker: string) => Promise<string> | string;

/** Adds a job. Rejects with KeyExistsError if a job with this id is already queued. */
export async function enqueue(store: Store, id: string, payload: string): Promise<void> {
  await store.atomicPut(`queue/${id}`, payload);
}

/**
 * Claims `pending` (a pair read from queue/) for `worker`: resolves with the
 * job, or undefined when another worker claimed it first.
 */
export async function claim(store: Store, pending: KVPair, worker: string): Promise<ClaimedJob | undefined> {
  const id = pending.key.slice('queue/'.length);
  try {
    const revision = await store.batch([
      // Only if nobody moved the job since we read it...
      { op: 'delete', key: pending.key, expect: pending },
      // ...and nobody holds a claim on this id.
      { op: 'put', key: `claimed/${id}`, value: JSON.stringify({ worker, payload: pending.text }), expect: 'absent' },
    ]);
    // Every key a batch sets gets the batch's revision as its lastIndex.
    return { id, payload: pending.text, claimIndex: revision };
  } catch (err) {
    if (err instanceof KeyNotFoundError || err instanceof KeyModifiedError) return undefined; // lost the race
    throw err;
  }
}

/** Records the outcome of a claimed job and releases its claim, in one batch. */
export async function complete(store: Store, job: ClaimedJob, worker: string, outcome: { result: string } | { error: string }): Promise<void> {
  await store.batch([
    { op: 'delete', key: `claimed/${job.id}`, expect: job.claimIndex },
    { op: 'put', key: `done/${job.id}`, value: JSON.stringify({ worker, ok: 'result' in outcome, ...outcome }), expect: 'absent' },
  ]);
}

/** Claims one of the queued jobs, trying them in random order (fewer collisions); undefined when none is left. */
export async function claimNext(store: Store, worker: string): Promise<ClaimedJob | undefined> {
  const pending = await store.list('queue/');
  while (pending.length > 0) {
    const [candidate] = pending.splice(randomInt(pending.length), 1);
    const job = await claim(store, candidate!, worker);
    if (job) return job;
  }
  return undefined;
}

/** A worker: runs jobs until `signal` aborts; resolves with how many it ran. */
export async function work(store: Store, worker: string, handle: JobHandler, signal: AbortSignal): Promise<number> {
  let ran = 0;
  // The first event is the current queue; each later one a change to it.
  for await (const _event of store.watchTree('queue/', { signal })) {
    // Claim and run until the queue is empty; the next event wakes us again.
    for (let job = await claimNext(store, worker); job; job = signal.aborted ? undefined : await claimNext(store, worker)) {
      let outcome: { result: string } | { error: string };
      try {
        outcome = { result: await handle(job, worker) };
      } catch (err) {
        outcome = { error: err instanceof Error ? err.message : String(err) };
      }
      await complete(store, job, worker, outcome);
      ran++;
    }
  }
  return ran;
}

/** Options of {@link main}. */
export interface JobQueueOptions {
  /** Stops early: workers finish the job in hand and main() returns. */
  signal: AbortSignal;
  /** Number of workers. Default 3. */
  workers?: number;
  /** Number of producers. Default 2. */
  producers?: number;
  /** Jobs each producer enqueues. Default 10. */
  jobsPerProducer?: number;
  /** What a worker does with a job. Default: reverse the payload. */
  handle?: JobHandler;
  /** Bucket name. Default "job-queue". */
  bucket?: string;
  /** Namespace; default kubekv's (NAMESPACE env, service account, kubeconfig context). */
  namespace?: string;
  /** Cluster access; default in-cluster, KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
}

/** What {@link main} saw: each worker's count of jobs, and every done/ record. */
export interface JobQueueSummary {
  /** Jobs run, by worker name. */
  ranBy: Record<string, number>;
  /** The done/ records at the end, by job id. */
  done: Map<string, { worker: string; ok: boolean; result?: string; error?: string }>;
}

/**
 * Empties the bucket, starts the workers and producers (each with a store of
 * its own, as separate processes would), waits until every job is done (or
 * `signal` aborts), then stops the workers.
 */
export async function main(options: JobQueueOptions): Promise<JobQueueSummary> {
  const open = () => ConfigMapStore.open({
    name: options.bucket ?? 'job-queue',
    create: true,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options.kubeConfig === undefined ? {} : { kubeConfig: options.kubeConfig }),
    signal: options.signal,
  });
  const workerCount = options.workers ?? 3;
  const producerCount = options.producers ?? 2;
  const perProducer = options.jobsPerProducer ?? 10;
  const handle: JobHandler = options.handle ?? ((job) => [...job.payload].reverse().join(''));
  await using monitor = await open();
  // A demo run starts from an empty queue: forget what an earlier run left.
  await monitor.deleteTree('');
  const stores: ConfigMapStore[] = [];
  const stopWorkers = new AbortController();
  const workersStop = AbortSignal.any([options.signal, stopWorkers.signal]);
  try {
    for (let i = 0; i < workerCount + producerCount; i++) stores.push(await open());
    const workers = stores.slice(0, workerCount).map((store, i) => work(store, `worker-${i + 1}`, handle, workersStop));
    // A failed worker stops the run; its error is thrown below.
    for (const worker of workers) worker.catch(() => stopWorkers.abort());
    // Producers enqueue concurrently with the workers running; ids are unique per producer.
    await Promise.all(stores.slice(workerCount).map(async (store, p) => {
      for (let j = 1; j <= perProducer; j++) await enqueue(store, `p${p + 1}-${String(j).padStart(4, '0')}`, `job ${j} from producer ${p + 1}`);
    }));
    // Done when done/ holds every job.
    const total = producerCount * perProducer;
    for await (const _event of monitor.watchTree('done/', { signal: workersStop })) {
      if ((await monitor.list('done/')).length >= total) break;
    }
    stopWorkers.abort();
    const ran = await Promise.all(workers);
    const done = new Map((await monitor.list('done/', { consistent: true })).map((pair) => [pair.key.slice('done/'.length), JSON.parse(pair.text) as { worker: string; ok: boolean }]));
    return { ranBy: Object.fromEntries(ran.map((n, i) => [`worker-${i + 1}`, n])), done };
  } finally {
    stopWorkers.abort();
    for (const store of stores) await store.close();
  }
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { ...clusterFlags, workers: { type: 'string', default: '3' }, jobs: { type: 'string', default: '20' } } });
  const summary = await main({ ...clusterOptions(values), workers: Number(values.workers), producers: 2, jobsPerProducer: Math.ceil(Number(values.jobs) / 2), signal: stopSignal() });
  for (const [id, record] of summary.done) console.log(`${id}: ${record.worker} -> ${record.ok ? record.result : `failed: ${record.error}`}`);
  console.log('jobs run per worker:', summary.ranBy);
}
