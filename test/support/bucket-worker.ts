/**
 * A separate OS process with its own ConfigMapStore, for the contention tests
 * of test/integration/store/contention-bucket.test.ts: it does `puts` puts of
 * its own keys (`<id>/<i>`, one after the other) while, concurrently,
 * `increments` read-modify-write increments of the shared key `counter`
 * (get, then atomicPut conditioned on what was read; a KeyModified/KeyExists
 * refusal is the caller's CAS losing and is retried from a consistent read).
 * Every other rejection is recorded, never retried: the test asserts there
 * are none.
 *
 * Usage: node --import tsx test/support/bucket-worker.ts '<json>' where json is
 * { kubeconfig, namespace, bucket, id, puts, increments, timeoutMs?, startAt? }.
 * Prints one JSON line ({@link WorkerReport}), then exits.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore, KeyExistsError, KeyModifiedError, KubekvError } from '../../src/index.js';

/** What a worker is asked to do. */
export interface WorkerJob {
  kubeconfig: string;
  namespace: string;
  bucket: string;
  id: string;
  puts: number;
  increments: number;
  /** Per-write deadline passed to the store (default: the store's). */
  timeoutMs?: number;
  /** Epoch ms to start writing at (after opening), so that the workers overlap. */
  startAt?: number;
}

/** What a worker did. */
export interface WorkerReport {
  id: string;
  putsResolved: number;
  incrementsDone: number;
  /** Conditional increments refused because another writer got there first (expected under contention). */
  casRetries: number;
  /** Writes that rejected with anything else: `<op>: <code> <message>`. */
  failures: string[];
  ms: number;
}

const job = JSON.parse(process.argv[2]!) as WorkerJob;
const kc = new KubeConfig();
kc.loadFromFile(job.kubeconfig);
const started = Date.now();
const store = await ConfigMapStore.open({
  name: job.bucket,
  namespace: job.namespace,
  kubeConfig: kc,
  ...(job.timeoutMs ? { timeoutMs: job.timeoutMs } : {}),
});
if (job.startAt) await new Promise((resolve) => setTimeout(resolve, Math.max(0, job.startAt! - Date.now())));
const report: WorkerReport = { id: job.id, putsResolved: 0, incrementsDone: 0, casRetries: 0, failures: [], ms: 0 };
const describe = (err: unknown) => (err instanceof KubekvError ? `${err.code} ${err.message}` : String(err));

const puts = (async () => {
  for (let i = 0; i < job.puts; i++) {
    try {
      await store.put(`${job.id}/${i}`, `${job.id}-${i}`);
      report.putsResolved++;
    } catch (err) {
      report.failures.push(`put ${job.id}/${i}: ${describe(err)}`);
    }
  }
})();

const increments = (async () => {
  let consistent = false;
  while (report.incrementsDone < job.increments) {
    let current;
    try {
      current = await store.get('counter', { consistent });
      const next = String((current ? Number(current.text) : 0) + 1);
      await (current ? store.atomicPut('counter', next, current) : store.atomicPut('counter', next));
      report.incrementsDone++;
      consistent = false;
    } catch (err) {
      if (err instanceof KeyModifiedError || err instanceof KeyExistsError) {
        report.casRetries++;
        consistent = true;
        continue;
      }
      // Anything else ends the increments: the outcome of this one is not
      // known to the caller, so the counter could not be checked exactly.
      report.failures.push(`increment from ${current?.text ?? 'absent'}: ${describe(err)}`);
      return;
    }
  }
})();

await Promise.all([puts, increments]);
await store.close();
report.ms = Date.now() - started;
console.log(JSON.stringify(report));
