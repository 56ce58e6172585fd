/**
 * A StateManager replica as a process of its own, for the TTL benchmark
 * (ttl.bench.ts): its leader sweeps the bucket's expired keys. Prints
 * `{"event":"leader","identity":...,"at":unixMillis}` when it starts
 * leading; SIGKILL is how the benchmark ends it.
 *
 * Usage: node --import tsx bench/ttl-replica.ts --kubeconfig K --namespace N --name APP --identity ID
 */
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { StateManager } from '../src/index.js';

const { values } = parseArgs({ options: { kubeconfig: { type: 'string' }, namespace: { type: 'string' }, name: { type: 'string' }, identity: { type: 'string' } } });
if (!values.kubeconfig || !values.namespace || !values.name || !values.identity) {
  console.error('--kubeconfig, --namespace, --name and --identity are required');
  process.exit(2);
}
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(values.kubeconfig);
const identity = values.identity;
const state = await StateManager.start({
  name: values.name,
  namespace: values.namespace,
  kubeConfig,
  identity,
  // Short timings, as election.bench.ts's: a failover takes about 3 s.
  leaseDurationMs: 3000,
  renewDeadlineMs: 2000,
  retryPeriodMs: 500,
});
state.onLeader(() => {
  process.stdout.write(`${JSON.stringify({ event: 'leader', identity, at: Date.now() })}\n`);
});
setInterval(() => {}, 60_000);
