/**
 * Which cluster, identity and namespace a command talks to, resolved as
 * kubectl resolves them: `--kubeconfig` (else kubekv's usual order: in a Pod
 * the service account, else KUBECONFIG, else ~/.kube/config), `--context`
 * (else the kubeconfig's current context), `-n` (else kubectl's order: the
 * context's namespace; then kubekv's: the NAMESPACE env var, the Pod's
 * namespace, "default"). Also the two ways a command reaches a bucket: a one-shot
 * quorum read of its state (reads), or a ConfigMapStore (writes and watch).
 * The Kubernetes client loads on first use, not when the CLI starts.
 *
 * @module
 */
import type { BucketKind } from '../codec/bucket-kind.js';
import type { KubeConfig } from '../kube/types.js';
import { BucketNotFoundError, InvalidOptionError } from '../errors.js';
import { contextNamespace, loadKubeConfig, loadKubeConfigFile, preloadClientNode, resolveNamespace, validateName } from '../kube/config.js';
import type { BucketState } from '../store/bucket-state.js';
import type { ConfigMapStore } from '../store/configmap-store.js';
import type { CliOptions } from './args.js';

/** A resolved cluster and namespace. */
export interface Connection {
  kc: KubeConfig;
  namespace: string;
}

/** Resolves `--kubeconfig`, `--context` and `-n` (see the module doc), loading the Kubernetes client. Makes no request. */
export async function connect(options: Pick<CliOptions, 'kubeconfig' | 'context' | 'namespace'>): Promise<Connection> {
  await preloadClientNode();
  let kc: KubeConfig;
  if (options.kubeconfig !== undefined) {
    try {
      kc = loadKubeConfigFile(options.kubeconfig);
    } catch (err) {
      throw new InvalidOptionError('kubeconfig', options.kubeconfig, `a readable kubeconfig file (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
  } else {
    kc = loadKubeConfig();
  }
  if (options.context !== undefined) {
    if (!kc.getContextObject(options.context)) {
      const names = kc.getContexts().map((c) => c.name);
      throw new InvalidOptionError('context', options.context, names.length ? `one of the kubeconfig's contexts: ${names.join(', ')}` : 'a context of the kubeconfig, which has none');
    }
    kc.setCurrentContext(options.context);
  }
  // kubectl's order: the context's namespace before kubekv's NAMESPACE env
  // (which a Pod sets for the library) and the Pod's own.
  const fromContext = contextNamespace(kc);
  const namespace = options.namespace ?? (fromContext === undefined ? resolveNamespace(kc) : validateName('namespace', fromContext, 'kubeconfig context'));
  return { kc, namespace };
}

/** The bucket a command names: `-b` (or KUBEKV_BUCKET), else the positional `fromArgument`. */
export function bucketName(options: Pick<CliOptions, 'bucket'>, fromArgument?: string): string {
  const name = fromArgument ?? options.bucket;
  if (name === undefined) throw new InvalidOptionError('bucket', undefined, 'required: name the bucket with -b <name> (or the KUBEKV_BUCKET env var)');
  return validateName('bucket', name);
}

/**
 * The bucket's state from one quorum GET of its head (no watch is started),
 * or undefined when it does not exist. `kind`: the object kind the bucket is
 * stored in (`--kind`).
 *
 * @throws FormatError when the bucket cannot be decoded, and the request's errors (ForbiddenError, UnavailableError, ...)
 */
export async function readBucketIfExists(conn: Connection, name: string, signal: AbortSignal, kind: BucketKind = 'ConfigMap'): Promise<BucketState | undefined> {
  const [{ BucketApi }, { ChunkSet, loadBucketState }] = await Promise.all([import('../store/bucket-api.js'), import('../store/chunk-set.js')]);
  const api = new BucketApi(conn.kc, conn.namespace, name, { kind });
  const object = await api.get({ signal });
  // A chunked bucket is read whole: its head and every chunk it references.
  return object ? loadBucketState(api, new ChunkSet(api.client, name), object, signal) : undefined;
}

/** As {@link readBucketIfExists}, but a missing bucket is a BucketNotFoundError (NamespaceNotFoundError when its namespace is missing). */
export async function readBucket(conn: Connection, name: string, signal: AbortSignal, kind: BucketKind = 'ConfigMap'): Promise<BucketState> {
  const state = await readBucketIfExists(conn, name, signal, kind);
  if (!state) throw await notFound(conn, new BucketNotFoundError(conn.namespace, name), signal);
  return state;
}

/**
 * `error` (a bucket or Lease not found), or NamespaceNotFoundError when
 * the namespace itself is missing: the API server answers both with the
 * same 404, so the namespace is asked for (one more request, on this
 * failure path only).
 */
export async function notFound(conn: Connection, error: Error, signal: AbortSignal): Promise<Error> {
  const { explainNotFound } = await import('../kube/namespaces.js');
  return explainNotFound(conn.kc, conn.namespace, error, signal);
}

/** Opens the bucket as a store (for writes and watch); `create` makes a missing one. */
export async function openStore(conn: Connection, name: string, options: { create?: boolean; signal: AbortSignal; timeoutMs?: number | undefined; kind?: BucketKind | undefined }): Promise<ConfigMapStore> {
  const { ConfigMapStore } = await import('../store/configmap-store.js');
  return ConfigMapStore.open({
    name,
    namespace: conn.namespace,
    kubeConfig: conn.kc,
    create: options.create ?? false,
    kind: options.kind ?? 'ConfigMap',
    signal: options.signal,
    // A command's store lives for one write: it leaves expiry to the app's stores.
    sweep: false,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}
