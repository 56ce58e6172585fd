/**
 * `npm run bench -- transport`: what kubekv pays per request over what the
 * transport itself costs, side by side against one apiserver (issue "Talk to
 * the apiserver over persistent connections: every request at client-go
 * speed"). kubekv is measured only through its public API (open, put,
 * get { consistent: true }), so a new transport under src/kube can be
 * compared by rerunning this file unchanged.
 *
 * Clients, each in its own process or object:
 * - client-go: a bare, unthrottled clientset (test/controlplane/benchclient/,
 *   driven by go-bench-client.ts): GET and conditional merge PATCH of a small
 *   ConfigMap; the naive store (GET + full Update per put); PATCH of a copy of
 *   kubekv's 10 / 100 / ~900 KiB buckets (same data, same size).
 * - client-node: a bare CoreV1Api, GET and conditional merge PATCH, of the
 *   small ConfigMap and of the bucket copies.
 * - kubekv: sequential put, consistent get, put by bucket size.
 * Every PATCH here carries the resourceVersion of the previous answer, so it
 * is a compare-and-swap like a kubekv put. Latency figures are medians over
 * ROUNDS rounds of each round's p50 / p99 (the clients interleaved within a
 * round, so drift on this shared machine hits them alike; client-node runs
 * last and is followed by a pause, see settle); connections are counted by a
 * TcpProxy per client (test/support/tcp-proxy.ts), over CONN_PUTS sequential
 * puts after a warm-up one. Around each target's phases the API server's own
 * request-time histogram is scraped (apiserver-time.ts), so every run also
 * prints how much of each ratio the server alone accounts for. The last
 * table sets the targets beside the measured ratios; nothing asserts
 * them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore, type BatchOperation } from '../src/index.js';
import type { ControlPlane } from '../test/controlplane/index.js';
import { TcpProxy, serverPort } from '../test/support/tcp-proxy.js';
import { meanMs, scrapeRequestTimes } from './apiserver-time.js';
import { GoBenchClient, ensureGoBenchClient } from './go-bench-client.js';
import { ms, quantile, timeEach } from './stats.js';

const ROUNDS = 3;
/** Sequential requests per client per round, for GET and PATCH/put latency. */
const LATENCY_COUNT = 200;
/** Sequential put throughput: run time per client per round. */
const THROUGHPUT_MS = 2500;
/** Bucket sizes (KiB of incompressible values) for put latency by size. */
const SIZES_KIB = [10, 100, 900];
/** Puts (and Go PATCHes) per size per round. */
const SIZE_COUNT = 30;
/** Sequential puts over which connections are counted. */
const CONN_PUTS = 100;
/** Pause after each client-node phase (see settle). */
const SETTLE_MS = 1000;

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** p50 and p99 of one series, in ms. */
interface Latency {
  p50: number;
  p99: number;
}

/** Runs the transport benchmark and prints its tables. */
export async function benchTransport(cp: ControlPlane): Promise<void> {
  const binary = await ensureGoBenchClient((line) => console.error(`[transport] ${line}`));
  const kc = cp.adminKubeConfig();
  const namespace = await cp.freshNamespace('bench-transport');
  console.log(`\ntransport (one apiserver on loopback TLS; medians of ${ROUNDS} rounds)`);
  const go = GoBenchClient.start(binary, cp.adminKubeconfigPath, namespace);
  try {
    const small = await smallObjects(go, kc, namespace);
    const bySize = await putBySize(go, kc, namespace);
    const connections = await connectionsPerPuts(binary, kc, namespace);
    printTargets(small, bySize, connections);
  } finally {
    await go.stop();
  }
}

/** Figures of {@link smallObjects}. */
interface SmallFigures {
  goGet: Latency;
  goPatch: Latency;
  nodeGet: Latency;
  nodePatch: Latency;
  kubekvGet: Latency;
  kubekvPut: Latency;
  kubekvOps: number;
  naiveOps: number;
  /** Mean ms per request: the API server's own time and the client's, per phase (see apiserver-time.ts). */
  serverSide: ServerSide;
}

/** Server-side and client-side mean ms per request of the phases whose ratios are targets. */
interface ServerSide {
  goPatch: Split;
  kubekvPut: Split;
  naiveGet: number;
  naiveUpdate: number;
  /** One naive put: GET + Update (client: its whole cycle). */
  naivePut: Split;
  /** kubekv put on the 50-key throughput bucket. */
  kubekvBusyPut: Split;
}

/** One phase's mean ms per request at the server and at the client. */
interface Split {
  server: number;
  client: number;
}

/** GET / PATCH / put latency on a small object and sequential put throughput, per client. */
async function smallObjects(go: GoBenchClient, kc: KubeConfig, namespace: string): Promise<SmallFigures> {
  const api = kc.makeApiClient(CoreV1Api);
  await go.ensure('go-small');
  await go.ensure('go-naive');
  await api.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'node-small' }, data: { small: '0' } } });
  let nodeRv = '';
  const nodePatch = async (i: number): Promise<void> => {
    const body = { metadata: { resourceVersion: nodeRv }, data: { small: String(i) } };
    nodeRv = (await api.patchNamespacedConfigMap({ name: 'node-small', namespace, body }, mergePatch)).metadata!.resourceVersion!;
  };
  const store = await ConfigMapStore.open({ name: 'kv-small', namespace, kubeConfig: kc, create: true });
  // Throughput writes 50 keys: on a bucket of its own, as the naive store
  // has its own ConfigMap, so the latency rows compare one-key objects (the
  // API server's cost per write grows with the number of keys).
  const busy = await ConfigMapStore.open({ name: 'kv-throughput', namespace, kubeConfig: kc, create: true });
  try {
    const rounds: SmallFigures[] = [];
    for (let round = 0; round <= ROUNDS; round++) {
      // Round 0 warms every client up (connections, JIT) and is not counted.
      const count = round === 0 ? 20 : LATENCY_COUNT;
      const goGet = await go.get('go-small', count);
      // Each target's phases run alone between two scrapes of the server's
      // request-time histogram (apiserver-time.ts), for the server-side split.
      let times = await scrapeRequestTimes(kc);
      const next = async (verb: string): Promise<number> => {
        const after = await scrapeRequestTimes(kc);
        const mean = meanMs(times, after, verb);
        times = after;
        return mean;
      };
      const goPatch = await go.patch('go-small', count);
      const goPatchServer = await next('PATCH');
      const kubekvPut = await timeEach(count, (i) => store.put('small', String(i)));
      const kubekvPutServer = await next('PATCH');
      const kubekvGet = await timeEach(count, () => store.get('small', { consistent: true }));
      await next('GET');
      const kubekvOps = await opsPerSecond(round === 0 ? 300 : THROUGHPUT_MS, (i) => busy.put(`k${i % 50}`, `v${i}`));
      const kubekvBusyServer = await next('PATCH');
      const naive = await go.naive('go-naive', round === 0 ? 300 : THROUGHPUT_MS);
      const afterNaive = await scrapeRequestTimes(kc);
      const naiveGet = meanMs(times, afterNaive, 'GET');
      const naiveUpdate = meanMs(times, afterNaive, 'PUT');
      // client-node last, then a pause (see settle).
      const nodeGet = await timeEach(count, () => api.readNamespacedConfigMap({ name: 'node-small', namespace }));
      nodeRv = (await api.readNamespacedConfigMap({ name: 'node-small', namespace })).metadata!.resourceVersion!;
      const nodePatches = await timeEach(count, nodePatch);
      await settle();
      if (round === 0) continue;
      rounds.push({
        goGet: latency(goGet),
        goPatch: latency(goPatch),
        nodeGet: latency(nodeGet),
        nodePatch: latency(nodePatches),
        kubekvGet: latency(kubekvGet),
        kubekvPut: latency(kubekvPut),
        kubekvOps,
        naiveOps: naive.ops / naive.seconds,
        serverSide: {
          goPatch: { server: goPatchServer, client: mean(goPatch) },
          kubekvPut: { server: kubekvPutServer, client: mean(kubekvPut) },
          naiveGet,
          naiveUpdate,
          naivePut: { server: naiveGet + naiveUpdate, client: (naive.seconds * 1000) / naive.ops },
          kubekvBusyPut: { server: kubekvBusyServer, client: 1000 / kubekvOps },
        },
      });
    }
    const figures: SmallFigures = {
      goGet: medianLatency(rounds.map((r) => r.goGet)),
      goPatch: medianLatency(rounds.map((r) => r.goPatch)),
      nodeGet: medianLatency(rounds.map((r) => r.nodeGet)),
      nodePatch: medianLatency(rounds.map((r) => r.nodePatch)),
      kubekvGet: medianLatency(rounds.map((r) => r.kubekvGet)),
      kubekvPut: medianLatency(rounds.map((r) => r.kubekvPut)),
      kubekvOps: median(rounds.map((r) => r.kubekvOps)),
      naiveOps: median(rounds.map((r) => r.naiveOps)),
      serverSide: medianServerSide(rounds.map((r) => r.serverSide)),
    };
    console.log(`  small object, ${LATENCY_COUNT} sequential requests per client per round:`);
    console.log('    client                            GET p50    GET p99   write p50  write p99');
    const row = (name: string, get: Latency, write: Latency): void =>
      console.log(`    ${name.padEnd(32)} ${ms(get.p50).padStart(8)} ${ms(get.p99).padStart(10)} ${ms(write.p50).padStart(11)} ${ms(write.p99).padStart(10)}`);
    row('client-go bare (GET / PATCH)', figures.goGet, figures.goPatch);
    row('client-node bare (GET / PATCH)', figures.nodeGet, figures.nodePatch);
    row('kubekv (consistent get / put)', figures.kubekvGet, figures.kubekvPut);
    console.log(`  sequential put throughput (${THROUGHPUT_MS / 1000} s per round):`);
    console.log(`    kubekv put                          ${figures.kubekvOps.toFixed(0).padStart(6)} ops/s`);
    console.log(`    naive client-go store (GET+Update)  ${figures.naiveOps.toFixed(0).padStart(6)} ops/s`);
    printServerSide(figures.serverSide);
    return figures;
  } finally {
    await store.close();
    await busy.close();
  }
}

/** kubekv put latency beside bare PATCHes of the same-size object, by bucket size. */
interface SizeFigures {
  kib: number;
  kubekvPut: Latency;
  goPatch: Latency;
  nodePatch: Latency;
  /** Mean ms per PATCH at the API server (apiserver-time.ts): kubekv's puts, client-go's PATCHes. */
  kubekvServer: number;
  goServer: number;
}

/**
 * Put latency (one small key rewritten) in a bucket filled with `kib` KiB of
 * incompressible values, next to client-go and client-node PATCHing one
 * small key of a copy of that bucket (same data, so the same object size on
 * the wire and in etcd; nobody watches the copy, while kubekv's own watch
 * receives every version of its bucket).
 */
async function putBySize(go: GoBenchClient, kc: KubeConfig, namespace: string): Promise<SizeFigures[]> {
  const api = kc.makeApiClient(CoreV1Api);
  const figures: SizeFigures[] = [];
  console.log(`  put latency by bucket size (one small key rewritten; ${SIZE_COUNT} per client per round):`);
  console.log('     KiB   kubekv put p50     p99   client-go PATCH p50     p99   client-node PATCH p50     p99   kubekv/client-go p50');
  for (const kib of SIZES_KIB) {
    const name = `kv-size-${kib}`;
    const store = await ConfigMapStore.open({ name, namespace, kubeConfig: kc, create: true });
    try {
      await fill(store, kib);
      await store.put('small', 'x');
      await go.copy(name, `go-size-${kib}`);
      const copy = `go-size-${kib}`;
      let rv = '';
      const nodePatch = async (i: number): Promise<void> => {
        const body = { metadata: { resourceVersion: rv }, data: { small: `n${i}` } };
        rv = (await api.patchNamespacedConfigMap({ name: copy, namespace, body }, mergePatch)).metadata!.resourceVersion!;
      };
      const kubekv: Latency[] = [];
      const bare: Latency[] = [];
      const node: Latency[] = [];
      const kubekvServer: number[] = [];
      const goServer: number[] = [];
      for (let round = 0; round <= ROUNDS; round++) {
        const count = round === 0 ? 3 : SIZE_COUNT;
        const t0 = await scrapeRequestTimes(kc);
        const puts = await timeEach(count, (i) => store.put('small', String(i)));
        const t1 = await scrapeRequestTimes(kc);
        const patches = await go.patch(copy, count);
        const t2 = await scrapeRequestTimes(kc);
        // The Go PATCHes moved the copy on: start from its current version.
        rv = (await api.readNamespacedConfigMap({ name: copy, namespace })).metadata!.resourceVersion!;
        const nodePatches = await timeEach(count, nodePatch);
        await settle();
        if (round === 0) continue;
        kubekv.push(latency(puts));
        bare.push(latency(patches));
        node.push(latency(nodePatches));
        kubekvServer.push(meanMs(t0, t1, 'PATCH'));
        goServer.push(meanMs(t1, t2, 'PATCH'));
      }
      const row: SizeFigures = {
        kib,
        kubekvPut: medianLatency(kubekv),
        goPatch: medianLatency(bare),
        nodePatch: medianLatency(node),
        kubekvServer: median(kubekvServer),
        goServer: median(goServer),
      };
      figures.push(row);
      console.log(
        `    ${String(kib).padStart(4)}   ${ms(row.kubekvPut.p50).padStart(14)} ${ms(row.kubekvPut.p99).padStart(7)}   ${ms(row.goPatch.p50).padStart(19)} ${ms(row.goPatch.p99).padStart(7)}   ${ms(row.nodePatch.p50).padStart(21)} ${ms(row.nodePatch.p99).padStart(7)}   ${(row.kubekvPut.p50 / row.goPatch.p50).toFixed(2).padStart(19)}x`,
      );
    } finally {
      await store.close();
    }
  }
  console.log('  API server\'s own time per write by bucket size (mean; kubekv\'s bucket also feeds its watch):');
  console.log('     KiB   kubekv put   client-go PATCH   kubekv/client-go');
  for (const row of figures) {
    console.log(`    ${String(row.kib).padStart(4)}   ${ms(row.kubekvServer).padStart(10)}   ${ms(row.goServer).padStart(15)}   ${(row.kubekvServer / row.goServer).toFixed(2).padStart(15)}x`);
  }
  return figures;
}

/** After a client-node phase: its new TLS connection per request leaves the server garbage to collect, which would tax whichever client came next. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

/** Fills a bucket with `kib` KiB of random 8 KiB values, a few batches of about 96 KiB. */
async function fill(store: ConfigMapStore, kib: number): Promise<void> {
  let ops: BatchOperation[] = [];
  for (let filled = 0; filled < kib; filled += 8) {
    ops.push({ op: 'put', key: `fill/${filled}`, value: randomBytes(Math.min(8, kib - filled) * 1024) });
    if (ops.length === 12) {
      await store.batch(ops);
      ops = [];
    }
  }
  if (ops.length > 0) await store.batch(ops);
}

/** TCP connections each client opened over {@link CONN_PUTS} sequential puts. */
interface ConnectionFigures {
  kubekv: number;
  kubekvOpen: number;
  node: number;
  go: number;
}

/** Counts connections per client, each through a TcpProxy of its own. */
async function connectionsPerPuts(binary: string, kc: KubeConfig, namespace: string): Promise<ConnectionFigures> {
  const port = serverPort(kc);
  const proxies = await Promise.all([TcpProxy.start(port), TcpProxy.start(port), TcpProxy.start(port)]);
  const [kvProxy, nodeProxy, goProxy] = proxies;
  const dir = await mkdtemp(join(tmpdir(), 'kubekv-bench-transport-'));
  try {
    // kubekv: open (its watch connection included), one warm-up put, then the counted puts.
    const kvKc = kvProxy.kubeConfigFor(kc);
    const store = await ConfigMapStore.open({ name: 'kv-conns', namespace, kubeConfig: kvKc, create: true });
    let kubekv: number;
    let kubekvOpen: number;
    try {
      await store.put('small', 'warm');
      kubekvOpen = kvProxy.counters.connections;
      await timeEach(CONN_PUTS, (i) => store.put('small', String(i)));
      kubekv = kvProxy.counters.connections - kubekvOpen;
    } finally {
      await store.close();
    }

    const api = nodeProxy.kubeConfigFor(kc).makeApiClient(CoreV1Api);
    let rv = (await api.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'node-conns' }, data: { small: '0' } } })).metadata!.resourceVersion!;
    const nodeBefore = nodeProxy.counters.connections;
    await timeEach(CONN_PUTS, async (i) => {
      const body = { metadata: { resourceVersion: rv }, data: { small: String(i) } };
      rv = (await api.patchNamespacedConfigMap({ name: 'node-conns', namespace, body }, mergePatch)).metadata!.resourceVersion!;
    });
    const node = nodeProxy.counters.connections - nodeBefore;

    const kubeconfig = join(dir, 'go-proxied.kubeconfig');
    await writeFile(kubeconfig, goProxy.kubeConfigFor(kc).exportConfig(), { mode: 0o600 });
    const goProxied = GoBenchClient.start(binary, kubeconfig, namespace);
    let goConns: number;
    try {
      await goProxied.ensure('go-conns');
      await goProxied.patch('go-conns', 1);
      const goBefore = goProxy.counters.connections;
      await goProxied.patch('go-conns', CONN_PUTS);
      goConns = goProxy.counters.connections - goBefore;
    } finally {
      await goProxied.stop();
    }

    console.log(`  TCP connections opened per ${CONN_PUTS} sequential puts (after a warm-up one):`);
    console.log(`    kubekv put                 ${String(kubekv).padStart(4)}   (open + first put: ${kubekvOpen})`);
    console.log(`    client-node bare PATCH     ${String(node).padStart(4)}`);
    console.log(`    client-go bare PATCH       ${String(goConns).padStart(4)}`);
    return { kubekv, kubekvOpen, node, go: goConns };
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** The targets beside the measured ratios. */
function printTargets(small: SmallFigures, bySize: SizeFigures[], conns: ConnectionFigures): void {
  const largest = bySize[bySize.length - 1]!;
  const rows: [string, number, string, 'max' | 'min', number, string][] = [
    ['kubekv put p50 / client-go PATCH p50', small.kubekvPut.p50 / small.goPatch.p50, 'x', 'max', 1.3, `${ms(small.kubekvPut.p50)} / ${ms(small.goPatch.p50)}`],
    [`connections per ${CONN_PUTS} sequential kubekv puts`, conns.kubekv, '', 'max', 2, `client-node ${conns.node}, client-go ${conns.go}`],
    ['kubekv put ops/s / naive client-go ops/s', small.kubekvOps / small.naiveOps, 'x', 'min', 1.5, `${small.kubekvOps.toFixed(0)} / ${small.naiveOps.toFixed(0)}`],
    [
      `${largest.kib} KiB-bucket put p50 / client-go PATCH p50`,
      largest.kubekvPut.p50 / largest.goPatch.p50,
      'x',
      'max',
      1.2,
      `${ms(largest.kubekvPut.p50)} / ${ms(largest.goPatch.p50)}`,
    ],
  ];
  console.log('  targets (issue: every request at client-go speed):');
  console.log('    figure                                          measured   target   met   from');
  for (const [name, value, unit, kind, target, from] of rows) {
    const met = kind === 'max' ? value <= target : value >= target;
    const shown = unit === 'x' ? `${value.toFixed(2)}x` : String(value);
    const wanted = `${kind === 'max' ? '<=' : '>='} ${target}${unit}`;
    console.log(`    ${name.padEnd(46)} ${shown.padStart(9)}   ${wanted.padEnd(7)}  ${(met ? 'yes' : 'no').padEnd(4)}  ${from}`);
  }
}

/** The server-side split, and the ratios a client with no overhead of its own would reach. */
function printServerSide(side: ServerSide): void {
  console.log('  API server\'s own time per request (apiserver_request_duration_seconds, mean per phase) beside the client\'s mean:');
  console.log('    request                                  apiserver     client   client - apiserver');
  const row = (name: string, split: Split): void =>
    console.log(`    ${name.padEnd(40)} ${ms(split.server).padStart(9)} ${ms(split.client).padStart(10)} ${ms(split.client - split.server).padStart(12)}`);
  row('client-go PATCH, one-key object', side.goPatch);
  row('kubekv put, one-key bucket', side.kubekvPut);
  console.log(`    ${'naive store GET, 50 keys'.padEnd(40)} ${ms(side.naiveGet).padStart(9)}`);
  console.log(`    ${'naive store Update, 50 keys'.padEnd(40)} ${ms(side.naiveUpdate).padStart(9)}`);
  row('naive store put (GET + Update)', side.naivePut);
  row('kubekv put, 50-key bucket', side.kubekvBusyPut);
  console.log('  with zero client overhead (API server time alone):');
  console.log(`    kubekv put / client-go PATCH             ${(side.kubekvPut.server / side.goPatch.server).toFixed(2)}x`);
  console.log(`    kubekv put ops/s / naive store ops/s     ${(side.naivePut.server / side.kubekvBusyPut.server).toFixed(2)}x`);
}

/** Sequential calls of `op` for `durationMs`; returns completed calls per second. */
async function opsPerSecond(durationMs: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let done = 0;
  while (performance.now() - started < durationMs) await op(done++);
  return done / ((performance.now() - started) / 1000);
}

function latency(samples: readonly number[]): Latency {
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

function medianLatency(rounds: readonly Latency[]): Latency {
  return { p50: median(rounds.map((r) => r.p50)), p99: median(rounds.map((r) => r.p99)) };
}

function medianServerSide(rounds: readonly ServerSide[]): ServerSide {
  const split = (pick: (r: ServerSide) => Split): Split => ({ server: median(rounds.map((r) => pick(r).server)), client: median(rounds.map((r) => pick(r).client)) });
  return {
    goPatch: split((r) => r.goPatch),
    kubekvPut: split((r) => r.kubekvPut),
    naiveGet: median(rounds.map((r) => r.naiveGet)),
    naiveUpdate: median(rounds.map((r) => r.naiveUpdate)),
    naivePut: split((r) => r.naivePut),
    kubekvBusyPut: split((r) => r.kubekvBusyPut),
  };
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}
