/**
 * The README's store example as a program (type-checked with the repo).
 * Run against any cluster:
 *   node --import tsx examples/store-basics.ts [--kubeconfig <path>] [--namespace <ns>]
 * (without --kubeconfig: in-cluster, KUBECONFIG, else ~/.kube/config).
 */
import { parseArgs } from 'node:util';
import { ConfigMapStore, KeyExistsError, KeyModifiedError, OutcomeUnknownError } from 'kubekv';
import { clusterFlags, clusterOptions } from './cli.js';

const { values } = parseArgs({ options: clusterFlags });
await using store = await ConfigMapStore.open({ name: 'app-state', create: true, ...clusterOptions(values) });

await store.put('config/db/host', 'db.internal');
const pair = await store.get('config/db/host');
console.log(pair?.text, pair?.lastIndex);

// Optimistic read-modify-write of one key.
for (;;) {
  const current = await store.get('counter', { consistent: true });
  const next = String(Number(current?.text ?? '0') + 1);
  try {
    await store.atomicPut('counter', next, current); // current undefined: create-only
    break;
  } catch (err) {
    if (!(err instanceof KeyModifiedError || err instanceof KeyExistsError)) throw err;
  }
}
console.log('counter', (await store.get('counter'))?.text);

// Several keys atomically, with per-key conditions: all or nothing.
await store.batch([
  { op: 'put', key: `jobs/${Date.now()}`, value: 'running', expect: 'absent' },
  { op: 'delete', key: 'queue/42' },
]);

// Three endings: resolved = stored; a definite error = not stored;
// OutcomeUnknownError = the deadline passed while the outcome was unknown.
try {
  await store.put('jobs/last-run', new Date().toISOString(), { timeoutMs: 5_000 });
} catch (err) {
  if (!(err instanceof OutcomeUnknownError)) throw err; // definitely not stored: err.code says why
  // May or may not be stored: read before deciding to write again.
  console.log('last-run is now', (await store.get('jobs/last-run', { consistent: true }))?.text);
}

// Watches: first the current state, then every change (here for one second).
for await (const event of store.watchTree('jobs/', { signal: AbortSignal.timeout(1000) })) {
  console.log(event.type, event.type === 'snapshot' ? event.pairs.length : '');
}
