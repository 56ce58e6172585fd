/**
 * `npm run bench -- follower`: issue 19's follower target alone, quickly: a
 * follower's RSS on a 64 MiB bucket of 100,000 incompressible values must
 * be at most 3x the data. The capacity benchmark measures the same
 * follower (capacity-follower.ts) but only after filling every size and
 * column under the etcd budget (minutes); this one fills one bucket once,
 * as fast as etcd takes it, then runs the follower a few times.
 *
 * Steps:
 * 1. fill a bucket of the layout (capacity-fill.ts values, batches as the
 *    capacity fill makes them) with `etcdBudget: false`, then PUTS
 *    sequential 100-byte puts so the head has been compacted into chunks
 *    as in the capacity run;
 * 2. RUNS follower processes (capacity-follower.ts), each opening the
 *    bucket fresh: open-to-synced, and RSS, V8 heap used, external and
 *    ArrayBuffers growth at synced and after one list of every key (each
 *    after a GC), RSS relative to the data (keys + values);
 * 3. a table of each run and the medians; JSON in .bench/follower-*.json.
 *
 * Run against a control plane that outlives the run, so the fill is paid
 * once: `npm run controlplane -- --dir <dir>` in another shell, then
 * `KUBEKV_BENCH_KUBECONFIG=<dir>/admin.kubeconfig node --import tsx
 * bench/follower.bench.ts`; the bucket (namespace bench-follower) is found
 * filled and reused by the next run. Through `npm run bench` it starts its
 * own control plane and fills every time. Environment knobs:
 * KUBEKV_BENCH_FOLLOWER_SIZE (one shape as in capacity's SIZES, default
 * 64M:100000), KUBEKV_BENCH_FOLLOWER_RUNS (default 3),
 * KUBEKV_BENCH_FOLLOWER_LAYOUT (a layout id of capacity-layouts.ts, default
 * chunked), KUBEKV_BENCH_HEAP_SNAPSHOT=<dir> (heap snapshots of each run).
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { BucketNotFoundError, type Store } from '../src/index.js';
import type { ControlPlaneHandle } from '../test/controlplane/index.js';
import { fillKey, fillStore, parseShapes, type BucketShape, type FillResult } from './capacity-fill.js';
import { layoutById, openLayout, type StoreLayout } from './capacity-layouts.js';
import { medianOf, runFollower, type FollowerFigures } from './follower-process.js';
import { fixed, int, printTable, writeJsonReport } from './report.js';

const MIB = 1024 * 1024;
const SHAPE = parseShapes(process.env.KUBEKV_BENCH_FOLLOWER_SIZE ?? '64M:100000')[0]!;
const RUNS = Number(process.env.KUBEKV_BENCH_FOLLOWER_RUNS ?? 3);
const LAYOUT_ID = process.env.KUBEKV_BENCH_FOLLOWER_LAYOUT ?? 'chunked';
/** Sequential 100-byte puts after the fill. */
const PUTS = 100;
/** The key a finished fill writes last: a bucket holding it was filled whole. */
const FILLED_KEY = 'bench/filled';
/** Namespace of the reusable bucket (direct runs only). */
const REUSED_NAMESPACE = 'bench-follower';

/** Runs the follower benchmark on `cp` (a fresh namespace: fills every time). */
export async function benchFollower(cp: Pick<ControlPlaneHandle, 'adminKubeConfig' | 'adminKubeconfigPath' | 'freshNamespace'>): Promise<void> {
  await measure(cp.adminKubeConfig(), cp.adminKubeconfigPath, await cp.freshNamespace('bench-follower'));
}

async function measure(kc: KubeConfig, kubeconfigPath: string, namespace: string): Promise<void> {
  if (!(Number.isInteger(RUNS) && RUNS >= 1 && RUNS <= 20)) throw new Error(`KUBEKV_BENCH_FOLLOWER_RUNS must be 1-20, got ${RUNS}`);
  const layout = layoutById(LAYOUT_ID);
  const bucket = `follower-${layout.id}-${SHAPE.bytes}-${SHAPE.keys}`;
  console.log(`\n### follower: ${SHAPE.label}, layout ${layout.label}, bucket ${namespace}/${bucket}\n`);
  const fill = await ensureFilled(kc, namespace, bucket, layout, SHAPE);
  console.log(fill ? `filled: ${fixed(fill.bytes / MIB, 2)} MiB, ${int(fill.keys)} keys, ${int(fill.commits)} commits, ${fixed(fill.seconds, 1)} s (+${PUTS} puts)` : 'reusing the bucket filled by an earlier run');

  const runs: FollowerFigures[] = [];
  for (let i = 0; i < RUNS; i++) {
    const env: Record<string, string> = {};
    if (process.env.KUBEKV_BENCH_HEAP_SNAPSHOT) env.KUBEKV_BENCH_HEAP_SNAPSHOT = process.env.KUBEKV_BENCH_HEAP_SNAPSHOT;
    runs.push(await runFollower({ kubeconfigPath, namespace, layout, bucket, env }));
  }
  const median = medianOf(runs);
  const data = (f: FollowerFigures) => f.keyBytes + f.valueBytes;
  const mib = (n: number) => fixed(n / MIB, 1);
  const row = (label: string, f: FollowerFigures) => [
    label,
    f.synced ? `${fixed(f.openMs, 0)} / ${fixed(f.syncedMs, 0)}` : 'NOT SYNCED',
    int(f.keys),
    mib(data(f)),
    `${mib(f.atSynced.rss)} (${fixed(f.atSynced.rss / data(f), 2)}x)`,
    `${mib(f.atSynced.heapUsed)} / ${mib(f.atSynced.external)} / ${mib(f.atSynced.arrayBuffers)}`,
    `${mib(f.afterList.rss)} (${fixed(f.afterList.rss / data(f), 2)}x)`,
    `${mib(f.afterList.heapUsed)} / ${mib(f.afterList.external)} / ${mib(f.afterList.arrayBuffers)}`,
  ];
  printTable(
    `growth from before the open (MiB, after a GC); data = keys + values; target: RSS at most 3x the data`,
    ['run', 'open / synced ms', 'keys', 'data MiB', 'RSS synced', 'heap / ext / AB synced', 'RSS after list', 'heap / ext / AB after list'],
    [...runs.map((f, i) => row(String(i + 1), f)), row('median', median)],
  );
  const path = await writeJsonReport('follower', { shape: SHAPE, layout, namespace, bucket, fill, runs, median });
  console.log(`\nfigures as JSON: ${path}`);
}

/** Fills `bucket` unless an earlier run did (it holds {@link FILLED_KEY}); returns the fill, or undefined when reused. */
async function ensureFilled(kc: KubeConfig, namespace: string, bucket: string, layout: StoreLayout, shape: BucketShape): Promise<FillResult | undefined> {
  // The fill goes as fast as etcd takes it: the budget would make it minutes.
  const open = (create: boolean) => openLayout({ ...layout, options: { ...layout.options, etcdBudget: false } }, { name: bucket, namespace, kubeConfig: kc, create });
  let store: Store;
  try {
    store = await open(false);
    if (await store.exists(FILLED_KEY)) {
      await store.close();
      return undefined;
    }
    // A fill cut short: start over.
    await store.teardown();
  } catch (err) {
    if (!(err instanceof BucketNotFoundError)) throw err;
  }
  store = await open(true);
  try {
    const fill = await fillStore(store, bucket, shape);
    if (fill.refusedBy) throw new Error(`the fill was refused at ${int(fill.keys)} keys: ${fill.refusedBy}`);
    for (let i = 0; i < PUTS; i++) await store.put('small', randomBytes(50).toString('hex'));
    if (!(await store.exists(fillKey(shape.keys - 1)))) throw new Error('the fill did not land whole');
    await store.put(FILLED_KEY, new Date().toISOString());
    return fill;
  } finally {
    await store.close();
  }
}

// Run directly against a running control plane (see the module doc).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const path = process.env.KUBEKV_BENCH_KUBECONFIG;
  if (!path) {
    console.error('set KUBEKV_BENCH_KUBECONFIG to the admin kubeconfig of a running control plane (npm run controlplane -- --dir <dir>), or run `npm run bench -- follower`');
    process.exit(2);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  // Made once and kept (namespaces never finish deleting on the test control plane).
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: REUSED_NAMESPACE } } })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  await measure(kc, path, REUSED_NAMESPACE);
}
