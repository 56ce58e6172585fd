/**
 * Whether a namespace exists. The API server answers a request for an
 * object in a missing namespace with the same 404 as for a missing object
 * (and a create there with 404 too), so on that failure path only, kubekv
 * asks for the namespace to say which it is.
 *
 * @module
 */
import type { KubeConfig } from './types.js';
import { NamespaceNotFoundError } from '../errors.js';
import { isNotFound } from './errors.js';
import { withDeadline } from './signals.js';
import { KubeTransport } from './transport.js';

/** How long the one extra request may take. */
const TIMEOUT_MS = 5_000;

/**
 * `error` (an object not found in `namespace`), or NamespaceNotFoundError
 * when the namespace itself does not exist. Any other answer (the
 * namespace exists, reading it is forbidden, as it is to most apps'
 * namespaced Roles, or the request fails) leaves `error` as it is.
 */
export async function explainNotFound(kc: KubeConfig, namespace: string, error: Error, signal?: AbortSignal): Promise<Error> {
  const transport = KubeTransport.for(kc);
  try {
    await withDeadline(TIMEOUT_MS, signal, (combined) => transport.send({ method: 'GET', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}`, signal: combined }));
    return error;
  } catch (err) {
    return isNotFound(err) ? new NamespaceNotFoundError(namespace, { cause: error }) : error;
  }
}
