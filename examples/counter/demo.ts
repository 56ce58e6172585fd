/**
 * `npm run demo`: three replicas of examples/counter share one counter
 * through kubekv. Traffic flows while the leader is killed (SIGKILL) and
 * then stopped gracefully (SIGTERM); the demo shows each failover and checks
 * that no acknowledged increment was lost or counted twice.
 *
 * By default it starts the repo's local control plane (a real kube-apiserver
 * + etcd; the first run builds it). `--kubeconfig <path>` uses your cluster
 * instead (namespace `--namespace`, default kubekv-demo, created if missing).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore } from 'kubekv';
import { ControlPlane } from '../../test/controlplane/index.js';
import { Replica, increment, waitForLeader, type Ack, type Timings } from './replicas.js';

const { values: args } = parseArgs({ options: { kubeconfig: { type: 'string' }, namespace: { type: 'string' } } });
const timings: Timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const say = (line: string) => console.log(`[demo ${new Date().toISOString().slice(11, 23)}] ${line}`);

let controlPlane: ControlPlane | undefined;
let kc: KubeConfig;
let namespace: string;
if (args.kubeconfig) {
  kc = new KubeConfig();
  kc.loadFromFile(args.kubeconfig);
  namespace = args.namespace ?? 'kubekv-demo';
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } }).catch(() => {});
  say(`using ${kc.getCurrentCluster()?.server}, namespace ${namespace}`);
} else {
  say('starting the local control plane (real kube-apiserver + etcd; the first run builds it, a few minutes)');
  controlPlane = await ControlPlane.start({ log: (line) => say(`controlplane: ${line}`) });
  kc = controlPlane.adminKubeConfig();
  namespace = await controlPlane.freshNamespace('demo');
}

const replicas: Replica[] = [];
const acks: Ack[] = [];
let traffic = true;
let exitCode = 1;
try {
  const run = randomBytes(2).toString('hex');
  for (const name of ['alpha', 'bravo', 'charlie']) replicas.push(await Replica.start(kc, namespace, `${name}-${run}`, timings));
  say(`3 replicas up (lease ${timings.leaseDurationMs} ms, renew deadline ${timings.renewDeadlineMs} ms, retry ${timings.retryPeriodMs} ms)`);
  const first = await waitForLeader(replicas);
  say(`leader: ${first.identity}`);

  let sequence = 0;
  const client = (async () => {
    while (traffic) acks.push(await increment(replicas, `demo-${run}-${++sequence}`));
  })();
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await pause(2000);
  say(`${acks.length} increments acknowledged so far; counter = ${acks.at(-1)?.value}`);

  say(`SIGKILL the leader ${first.identity} (no goodbye: the others must wait for its lease to expire)`);
  const killedAt = Date.now();
  first.signal('SIGKILL');
  const second = await waitForLeader(replicas, 30_000, first);
  const failoverMs = Date.now() - killedAt;
  say(`new leader: ${second.identity} after ${failoverMs} ms`);
  await pause(2000);

  say(`SIGTERM the leader ${second.identity} (graceful: it releases the Lease)`);
  const termAt = Date.now();
  second.signal('SIGTERM');
  const third = await waitForLeader(replicas, 30_000, second);
  const handoverMs = Date.now() - termAt;
  say(`new leader: ${third.identity} after ${handoverMs} ms`);
  await pause(2000);
  traffic = false;
  await client;

  const store = await ConfigMapStore.open({ name: 'counter-state', namespace, kubeConfig: kc });
  const counter = Number((await store.get('counter', { consistent: true }))?.text ?? 0);
  const stored = new Map((await store.list('ops/')).map((p) => [p.key.slice(4), JSON.parse(p.text) as Ack]));
  await store.close();
  const lost = acks.filter((a) => stored.get(a.id)?.value !== a.value);
  const values = [...stored.values()].map((o) => o.value).sort((a, b) => a - b);
  const duplicates = values.length - new Set(values).size;

  console.log('\nSummary');
  console.log(`  acknowledged increments   ${acks.length}`);
  console.log(`  counter in the ConfigMap  ${counter}`);
  console.log(`  lost acknowledged         ${lost.length}`);
  console.log(`  counted twice             ${duplicates}`);
  console.log(`  failover after SIGKILL    ${failoverMs} ms  (bound: lease ${timings.leaseDurationMs} ms + 1.2 x retry)`);
  console.log(`  handover after SIGTERM    ${handoverMs} ms`);
  console.log(`  leaders                   ${first.identity} -> ${second.identity} -> ${third.identity}`);
  const ok = lost.length === 0 && duplicates === 0 && counter === stored.size && acks.length > 0;
  console.log(ok ? '\nOK: no acknowledged increment was lost or counted twice.' : '\nFAILED: see the figures above.');
  exitCode = ok ? 0 : 1;
} finally {
  traffic = false;
  for (const replica of replicas) await replica.stop();
  await controlPlane?.stop();
}
process.exit(exitCode);
