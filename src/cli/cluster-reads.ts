/**
 * The read-only collection queries the CLI needs beside the library's
 * per-object calls: bucket heads (ConfigMaps or Secrets) by their
 * `kubekv.dev/bucket` label, and
 * Leases (all of a namespace, or a bucket's lock Leases by label), each
 * Lease as the client-go election record. Quorum reads through kubekv's
 * shared transport, each bounded by a timeout and mapped to kubekv errors.
 * The transport and the Lease reader load on the first request (so
 * `kubekv --help` loads no Kubernetes client).
 *
 * @module
 */
import type { LeaseObject } from '../kube/types.js';
import { BUCKET_LABEL, CHUNK_LABEL, bucketForm, type BucketKind, type BucketObject } from '../codec/index.js';
import type { fromSpec as FromSpec } from '../election/lease-lock.js';
import { ApiError, UnavailableError } from '../errors.js';
import { RequestTimedOut, withDeadline } from '../kube/signals.js';
import type { Connection } from './connection.js';

/** Most ms one list may take. */
const REQUEST_TIMEOUT_MS = 10_000;

/** A Lease's election record (client-go's fields) and where it lives. */
export interface LeaseInfo {
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  /** "" when released. */
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date | undefined;
  renewTime: Date | undefined;
  leaseTransitions: number;
  /** spec.preferredHolder, when the API server keeps it (see election/lease-lock.ts for kubekv's annotation). */
  preferredHolder?: string | undefined;
}

/**
 * Bucket heads of `kind` (objects with a kubekv.dev/bucket label, but not
 * the chunks of a bucket, which carry it too) in the connection's
 * namespace, or in all with `allNamespaces`, in bucket form
 * (codec/bucket-kind.ts), sorted by namespace and name.
 */
export async function listBucketHeads(conn: Connection, kind: BucketKind, allNamespaces: boolean, signal: AbortSignal): Promise<BucketObject[]> {
  const form = bucketForm(kind);
  const path = allNamespaces ? `/api/v1/${form.resource}` : `/api/v1/namespaces/${encodeURIComponent(conn.namespace)}/${form.resource}`;
  const items = await list<unknown>(conn, path, `${BUCKET_LABEL},!${CHUNK_LABEL}`, form.resource, allNamespaces ? undefined : conn.namespace, signal);
  return items.map((item) => form.toBucket(item)).sort((a, b) => compare(a.metadata?.namespace, b.metadata?.namespace) || compare(a.metadata?.name, b.metadata?.name));
}

/** Leases of the connection's namespace (or of all, with `allNamespaces`), optionally by label selector, sorted by name. */
export async function listLeases(conn: Connection, labelSelector: string | undefined, signal: AbortSignal, allNamespaces = false): Promise<LeaseInfo[]> {
  const path = allNamespaces ? '/apis/coordination.k8s.io/v1/leases' : `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(conn.namespace)}/leases`;
  const items = await list<LeaseObject>(conn, path, labelSelector, 'leases', allNamespaces ? undefined : conn.namespace, signal);
  const { fromSpec } = await import('../election/lease-lock.js');
  return items.map((lease) => leaseInfo(lease, fromSpec)).sort((a, b) => compare(a.name, b.name));
}

/** One Lease, or undefined when it does not exist. */
export async function getLease(conn: Connection, name: string, signal: AbortSignal): Promise<LeaseInfo | undefined> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(conn.namespace)}/leases/${encodeURIComponent(name)}`;
  const lease = await request<LeaseObject | undefined>(conn, path, undefined, { verb: 'get', resource: 'leases', name, namespace: conn.namespace }, signal, true);
  return lease ? leaseInfo(lease, (await import('../election/lease-lock.js')).fromSpec) : undefined;
}

async function list<T>(conn: Connection, path: string, labelSelector: string | undefined, resource: string, namespace: string | undefined, signal: AbortSignal): Promise<T[]> {
  const answer = await request<{ items?: T[] } | undefined>(conn, path, labelSelector, { verb: 'list', resource, namespace }, signal, false);
  return answer?.items ?? [];
}

async function request<T>(
  conn: Connection,
  path: string,
  labelSelector: string | undefined,
  what: { verb: string; resource: string; name?: string; namespace: string | undefined },
  signal: AbortSignal,
  notFoundIsUndefined: boolean,
): Promise<T | undefined> {
  const [{ KubeTransport }, { toKubekvError }] = await Promise.all([import('../kube/transport.js'), import('../kube/errors.js')]);
  const transport = KubeTransport.for(conn.kc);
  try {
    return await withDeadline(REQUEST_TIMEOUT_MS, signal, (combined) => transport.send<T>({ method: 'GET', path, query: { labelSelector }, signal: combined }));
  } catch (err) {
    if (err instanceof RequestTimedOut && !signal.aborted) {
      throw new UnavailableError(`${what.verb} ${what.resource} timed out after ${REQUEST_TIMEOUT_MS} ms`, { cause: err });
    }
    const mapped = toKubekvError(err, what);
    if (notFoundIsUndefined && mapped instanceof ApiError && mapped.status === 404) return undefined;
    throw mapped;
  }
}

/** The record as client-go reads it (the elector's own reading: absent numbers are 0). */
function leaseInfo(lease: LeaseObject, fromSpec: typeof FromSpec): LeaseInfo {
  return {
    namespace: lease.metadata?.namespace ?? '',
    name: lease.metadata?.name ?? '',
    labels: lease.metadata?.labels ?? {},
    annotations: lease.metadata?.annotations ?? {},
    ...fromSpec(lease.spec),
  };
}

function compare(a: string | undefined, b: string | undefined): number {
  const x = a ?? '';
  const y = b ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}
