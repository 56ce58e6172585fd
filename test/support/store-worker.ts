/**
 * A separate OS process that works on a bucket, for contention tests.
 * Usage: node --import tsx test/support/store-worker.ts '<json>' where json is
 * { kubeconfig, namespace, bucket, mode: 'increment' | 'puts', count, id }.
 * Prints one JSON line with what it did, then exits.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore, KeyExistsError, KeyModifiedError } from '../../src/index.js';

interface Job {
  kubeconfig: string;
  namespace: string;
  bucket: string;
  mode: 'increment' | 'puts';
  count: number;
  id: string;
}

const job = JSON.parse(process.argv[2]!) as Job;
const kc = new KubeConfig();
kc.loadFromFile(job.kubeconfig);
const store = await ConfigMapStore.open({ name: job.bucket, namespace: job.namespace, kubeConfig: kc });
let retries = 0;
if (job.mode === 'increment') {
  // Read-modify-write with a per-key CAS: a stale read is refused
  // (KeyModifiedError) and retried from a quorum read.
  let fresh = false;
  for (let done = 0; done < job.count; ) {
    const current = await store.get('counter', { consistent: fresh });
    const next = String((current ? Number(current.text) : 0) + 1);
    try {
      await (current ? store.atomicPut('counter', next, current) : store.atomicPut('counter', next));
      done++;
      fresh = false;
    } catch (err) {
      if (!(err instanceof KeyModifiedError || err instanceof KeyExistsError)) throw err;
      retries++;
      fresh = true;
    }
  }
} else {
  await Promise.all(Array.from({ length: job.count }, (_, i) => store.put(`${job.id}/${i}`, `${job.id}-${i}`)));
}
await store.close();
console.log(JSON.stringify({ id: job.id, done: job.count, retries }));
