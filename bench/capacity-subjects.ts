/**
 * The columns of the capacity benchmark: every kubekv layout
 * (capacity-layouts.ts), measured only through kubekv's public API, and
 * three plain ConfigMaps driven by bare requests on kubekv's own transport,
 * which show what the object's size alone costs and what a read-then-write
 * store pays per round trip:
 * - bare PATCH same: the same values in one ConfigMap's binaryData, one
 *   conditional merge PATCH (metadata.resourceVersion) per put, a CAS like
 *   a kubekv put;
 * - GET+PUT same: the same object, each put a GET then a PUT with the
 *   resourceVersion read, retried on 409 (the k8s-kv / mapstore pattern,
 *   two round trips per put);
 * - bare PATCH 1-key: the PATCH of a ConfigMap holding only the changed
 *   keys (the floor).
 * The bare PATCH columns have no concurrent figures: 64 conditional
 * PATCHes of one object only conflict, and unconditional ones (tried: about
 * 12 puts/s, each attempt the apiserver retries inside being another etcd
 * transaction in the WAL) are no store's figure either. GET+PUT same is
 * measured concurrently, retrying its conflicts as such a store does.
 */
import { randomBytes } from 'node:crypto';
import { Watch, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { Store } from '../src/index.js';
import { HttpStatusError } from '../src/kube/errors.js';
import { KubeTransport } from '../src/kube/transport.js';
import { fillStore, fillValue, valueSize, type BucketShape, type FillResult } from './capacity-fill.js';
import { openLayout, type StoreLayout } from './capacity-layouts.js';

/** Stores (or bare watches) following a bucket while it is written. */
export const FOLLOWERS = 3;
/** The apiserver's limit on a request body (larger ones: 413). */
const MAX_REQUEST_BYTES = 3 * 1024 * 1024;
/** Longest wait for followers to see a write. */
const FOLLOW_TIMEOUT_MS = 60_000;

/** A new 100-byte text value: a write of the value a key already holds would be a no-op the server does not even record. */
const freshValue = () => randomBytes(50).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the benchmark's phases share. */
export interface Context {
  kc: KubeConfig;
  namespace: string;
  transport: KubeTransport;
}

/** A client writing one bucket. Keys are [a-z0-9.] so they are valid ConfigMap keys too. */
export interface Writer {
  /** One put, as a sequential writer makes it; resolves with the version it made (followers compare it). */
  put(key: string, value: string): Promise<number>;
  /**
   * One put among many concurrent ones; undefined for the bare PATCH
   * columns (see the module doc). A GET+PUT put still retrying its
   * conflicts at `deadline` (performance.now()) gives up with {@link GaveUp}.
   */
  putConcurrently: ((key: string, value: string, deadline: number) => Promise<number>) | undefined;
  close(): Promise<void>;
}

/** Followers of a bucket, connected and synced. */
export interface Followers {
  /** Resolves once every follower has seen `version` (or a later one). */
  at: (version: number) => Promise<void>;
  close(): Promise<void>;
}

/** The ConfigMaps making up a bucket, as the API serves them. */
export interface ObjectSizes {
  count: number;
  /** All of them as JSON. */
  bytes: number;
  /** The one CAS'd per commit (the bucket's own ConfigMap). */
  headBytes: number;
  managedFieldsBytes: number;
  annotationBytes: number;
}

/** A filled bucket, ready for the measured puts. */
export interface PreparedBucket {
  fill: FillResult;
  writer: Writer;
  /** Clients sent each commit on a watch while followers run (followers, plus a kubekv writer's own cache). */
  watchers: number;
  /** Starts FOLLOWERS followers; resolves once they are synced. */
  follow(): Promise<Followers>;
  /** A further writer on the bucket through `kc` (a delaying proxy's kubeconfig). */
  writerVia(kc: KubeConfig): Promise<Writer>;
  objects(): Promise<ObjectSizes>;
  close(): Promise<void>;
}

/** Why a column has no figures for a bucket size (the fill's figures when it got that far). */
export interface Unavailable {
  unavailable: string;
  fill?: FillResult;
}

/** One column. */
export interface CostSubject {
  label: string;
  /** The kubekv layout, for kubekv columns. */
  layout?: StoreLayout;
  /** A bucket `name` filled to `shape` (values of bucket `seed`), or why it cannot hold it. */
  prepare(ctx: Context, name: string, seed: string, shape: BucketShape): Promise<PreparedBucket | Unavailable>;
}

/** A read-then-write put that was still losing conflicts when its phase ended (not an error of the store). */
export class GaveUp extends Error {
  constructor() {
    super('still retrying conflicts when the phase ended');
    this.name = 'GaveUp';
  }
}

/** Polls `condition` every 5 ms; throws naming `what` after FOLLOW_TIMEOUT_MS. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = FOLLOW_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`capacity bench: timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A kubekv layout as a column: a writer store and FOLLOWERS follower stores, all through the public API. */
export function kubekvSubject(layout: StoreLayout): CostSubject {
  return {
    label: layout.label,
    layout,
    async prepare(ctx, name, seed, shape) {
      const open = (kubeConfig: KubeConfig, create: boolean) => openLayout(layout, { name, namespace: ctx.namespace, kubeConfig, create });
      const store = await open(ctx.kc, true);
      const fill = await fillStore(store, seed, shape).catch(async (err: unknown) => {
        await store.close();
        throw err;
      });
      if (fill.refusedBy) {
        await store.close();
        return { unavailable: `full: ${fill.refusedBy}`, fill };
      }
      // The measurements write through a store of their own, as an app that
      // starts on a filled bucket would: the fill charged the filling store's
      // etcd budget (store/etcd-budget.ts) with every byte it and its
      // compactions wrote, and measuring on that store would measure the
      // fill's debt (0.04x puts/s at 64 MiB), not what the bucket's size costs.
      await store.close();
      const writer = storeWriter(await open(ctx.kc, false));
      // One put before the measurement: a first write may carry one-time bookkeeping.
      await writer.put('small', freshValue());
      return {
        fill,
        writer,
        watchers: FOLLOWERS + 1,
        async follow() {
          const followers: Store[] = [];
          for (let i = 0; i < FOLLOWERS; i++) followers.push(await open(ctx.kc, false));
          await waitFor(() => followers.every((f) => f.status().connected && f.status().synced), 'followers connected');
          return {
            at: (version) => waitFor(() => followers.every((f) => f.status().revision >= version), 'followers caught up'),
            async close() {
              for (const f of followers) await f.close();
            },
          };
        },
        writerVia: async (kc) => storeWriter(await open(kc, false)),
        objects: () => kubekvObjects(ctx, name),
        close: () => writer.close(),
      };
    },
  };
}

function storeWriter(store: Store): Writer {
  const put = async (key: string, value: string) => (await store.put(key, value)).lastIndex;
  return { put, putConcurrently: put, close: () => store.close() };
}

/** The bucket's ConfigMaps: those labelled kubekv.dev/bucket=<name> (head and any others), or the one named `name`. */
async function kubekvObjects(ctx: Context, name: string): Promise<ObjectSizes> {
  const text = await ctx.transport.sendText({
    method: 'GET',
    path: `/api/v1/namespaces/${ctx.namespace}/configmaps`,
    query: { labelSelector: `kubekv.dev/bucket=${name}` },
  });
  const items = (JSON.parse(text) as { items: V1ConfigMap[] }).items;
  if (!items.some((i) => i.metadata?.name === name)) return objectSizes(ctx, [name]);
  const sizes: ObjectSizes = { count: 0, bytes: 0, headBytes: 0, managedFieldsBytes: 0, annotationBytes: 0 };
  for (const item of items) addSizes(sizes, item, Buffer.byteLength(JSON.stringify(item)), item.metadata?.name === name);
  return sizes;
}

/** Sizes of the ConfigMaps `names` (the first is the head) as the API serves them. */
async function objectSizes(ctx: Context, names: string[]): Promise<ObjectSizes> {
  const sizes: ObjectSizes = { count: 0, bytes: 0, headBytes: 0, managedFieldsBytes: 0, annotationBytes: 0 };
  for (const [i, name] of names.entries()) {
    const text = await ctx.transport.sendText({ method: 'GET', path: `/api/v1/namespaces/${ctx.namespace}/configmaps/${name}` });
    addSizes(sizes, JSON.parse(text) as V1ConfigMap, Buffer.byteLength(text), i === 0);
  }
  return sizes;
}

function addSizes(sizes: ObjectSizes, object: V1ConfigMap, bytes: number, head: boolean): void {
  sizes.count++;
  sizes.bytes += bytes;
  if (head) sizes.headBytes = bytes;
  sizes.managedFieldsBytes += Buffer.byteLength(JSON.stringify(object.metadata?.managedFields ?? []));
  sizes.annotationBytes += Buffer.byteLength(JSON.stringify(object.metadata?.annotations ?? {}));
}

/** How a bare column changes its ConfigMap. */
type BareMode = 'patch-same' | 'get-put-same' | 'patch-1key';

/** A plain ConfigMap changed by bare requests (see the module doc), followed by FOLLOWERS bare client-node watches. */
export function bareSubject(label: string, mode: BareMode): CostSubject {
  return {
    label,
    async prepare(ctx, name, seed, shape) {
      const path = `/api/v1/namespaces/${ctx.namespace}/configmaps`;
      const started = performance.now();
      const notSent = (why: string) => ({ unavailable: `refused: ${why}`, fill: { keys: 0, bytes: 0, commits: 0, seconds: (performance.now() - started) / 1000, refusedBy: why } });
      // A larger request is refused (413) after its body was read, and such a body hung the HTTP/2 upload once: not worth sending.
      const tooLarge = () => notSent('over the 3 MiB request limit (not sent)');
      if (mode !== 'patch-1key' && (shape.bytes * 4) / 3 > MAX_REQUEST_BYTES) return tooLarge();
      const binaryData: Record<string, string> = {};
      let bytes = 0;
      for (let i = 0; mode !== 'patch-1key' && i < shape.keys; i++) {
        const value = fillValue(seed, i, valueSize(shape, i));
        binaryData[`fill.${i}`] = value.toString('base64');
        bytes += value.byteLength;
      }
      const keys = Object.keys(binaryData).length;
      const body = { metadata: { name }, data: { small: freshValue() }, binaryData };
      if (Buffer.byteLength(JSON.stringify(body)) > MAX_REQUEST_BYTES) return tooLarge();
      try {
        await ctx.transport.send<V1ConfigMap>({ method: 'POST', path, body, signal: AbortSignal.timeout(60_000) });
      } catch (err) {
        return notSent(err instanceof HttpStatusError ? `HTTP ${err.status}` : String(err));
      }
      const fill: FillResult = { keys, bytes, commits: 1, seconds: (performance.now() - started) / 1000, refusedBy: undefined };
      const writer = bareWriter(ctx.transport, `${path}/${name}`, mode);
      await writer.put('small', freshValue());
      return {
        fill,
        writer,
        watchers: FOLLOWERS,
        async follow() {
          const seen = Array.from({ length: FOLLOWERS }, () => 0);
          const from = String(await writer.put('small', freshValue()));
          const watches = await Promise.all(
            seen.map((_, i) =>
              new Watch(ctx.kc).watch(
                path,
                { fieldSelector: `metadata.name=${name}`, resourceVersion: from },
                (_type: string, object: V1ConfigMap) => (seen[i] = Math.max(seen[i]!, Number(object.metadata?.resourceVersion ?? 0))),
                (err: unknown) => {
                  if (err && (err as Error).name !== 'AbortError') console.error(`[capacity] a bare watch ended: ${(err as Error).message}`);
                },
              ),
            ),
          );
          // A watch from `from` gets every later event whenever it connects; one probe put shows all are live.
          const probe = await writer.put('small', freshValue());
          await waitFor(() => seen.every((s) => s >= probe), 'bare watches connected');
          return {
            at: (version) => waitFor(() => seen.every((s) => s >= version), 'bare watches caught up'),
            close() {
              for (const watch of watches) watch.abort();
              return Promise.resolve();
            },
          };
        },
        writerVia: (kc) => Promise.resolve(bareWriter(KubeTransport.for(kc), `${path}/${name}`, mode)),
        objects: () => objectSizes(ctx, [name]),
        close: () => Promise.resolve(),
      };
    },
  };
}

/**
 * Bare writes of one ConfigMap (`objectPath`). A write that meets a
 * 409 (another writer, e.g. the concurrent phase, moved the object
 * on) reads the current resourceVersion and tries again.
 */
function bareWriter(transport: KubeTransport, objectPath: string, mode: BareMode): Writer {
  let rv = '';
  const mergePatch = async (key: string, value: string) => {
    const answer = await transport.send<V1ConfigMap>({
      method: 'PATCH',
      path: objectPath,
      contentType: 'application/merge-patch+json',
      body: { metadata: { resourceVersion: rv }, data: { [key]: value } },
    });
    return answer.metadata!.resourceVersion!;
  };
  const getPut = async (key: string, value: string) => {
    const current = await transport.send<V1ConfigMap>({ method: 'GET', path: objectPath });
    current.data = { ...current.data, [key]: value };
    const answer = await transport.send<V1ConfigMap>({ method: 'PUT', path: objectPath, body: current });
    return answer.metadata!.resourceVersion!;
  };
  const retryOnConflict = async (attempt: () => Promise<string>, deadline = Infinity) => {
    for (;;) {
      if (performance.now() > deadline) throw new GaveUp();
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof HttpStatusError && err.status === 409)) throw err;
        if (mode !== 'get-put-same') rv = (await transport.send<V1ConfigMap>({ method: 'GET', path: objectPath })).metadata!.resourceVersion!;
      }
    }
  };
  const conditional = async (key: string, value: string, deadline = Infinity) => {
    if (mode === 'get-put-same') return Number(await retryOnConflict(() => getPut(key, value), deadline));
    if (rv === '') rv = (await transport.send<V1ConfigMap>({ method: 'GET', path: objectPath })).metadata!.resourceVersion!;
    rv = await retryOnConflict(() => mergePatch(key, value));
    return Number(rv);
  };
  return {
    put: (key, value) => conditional(key, value),
    putConcurrently: mode === 'get-put-same' ? (key, value, deadline) => conditional(key, value, deadline) : undefined,
    close: () => Promise.resolve(),
  };
}
