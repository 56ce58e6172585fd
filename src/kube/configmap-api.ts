/**
 * The ConfigMap calls the store makes, each mapped to kubekv errors at this
 * boundary. Every mutation here is conditional: `patch` always carries
 * metadata.resourceVersion (a merge patch with it is a precondition: 409 on
 * mismatch), `remove` carries a resourceVersion precondition. There is no
 * unconditional update in this module on purpose.
 *
 * Every request has a timeout (`requestTimeoutMs`): a black-holed connection
 * cannot hold a caller (or the store's commit lock) for client-node's 300 s
 * default. A timed-out request is reported as UnavailableError; whether a
 * timed-out write was applied is unknown, and callers find out by reading
 * (see certainlyNotApplied in errors.ts).
 */
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import { InvalidOptionError, UnavailableError } from '../errors.js';
import { toKubekvError, isNotFound, isConflict } from './errors.js';
import { RequestTimedOut, withDeadline } from './signals.js';
import { KubeTransport, type KubeRequest } from './transport.js';
import { objectVersion } from './version-prefix.js';
import type { ObjectList } from '../watch/object-watcher.js';

/** A merge patch of a ConfigMap; null deletes a field or map entry. */
export interface ConfigMapPatch {
  metadata: {
    resourceVersion: string;
    annotations?: Record<string, string | null>;
    labels?: Record<string, string | null>;
  };
  data?: Record<string, string | null>;
  binaryData?: Record<string, string | null>;
}

/** Result of a conditional write: the new object, or 'conflict' when the precondition failed. */
export type CasResult = { ok: true; object: V1ConfigMap } | { ok: false; reason: 'conflict' | 'not-found' };

/** Result of a patch: a CasResult, or only the new resourceVersion when the caller said it already holds that version. */
export type PatchResult = CasResult | { ok: true; object: undefined; resourceVersion: string };

/** Options of one request. */
export interface RequestOptions {
  /** Abandons the request (its outcome, for a write, is then unknown). */
  signal?: AbortSignal | undefined;
}

/** Options of a patch. */
export interface PatchOptions extends RequestOptions {
  /**
   * True when the caller already holds the object at this resourceVersion
   * (the watch delivered the commit before its answer arrived): the answer
   * is then not parsed, and the result carries only the version.
   */
  alreadyHeld?: ((resourceVersion: string) => boolean) | undefined;
}

/** Default of {@link ConfigMapApiOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Options of {@link ConfigMapApi}. */
export interface ConfigMapApiOptions {
  /** Most ms one request may take, response body included. Default 10000. */
  requestTimeoutMs?: number;
}

/** ConfigMap operations for one bucket, as plain JSON over the shared transport. */
export class ConfigMapApi {
  readonly #transport: KubeTransport;
  readonly #timeoutMs: number;
  readonly #collection: string;
  readonly #object: string;
  readonly namespace: string;
  readonly name: string;

  /**
   * @param kc - cluster access
   * @param namespace - bucket namespace
   * @param name - bucket (ConfigMap) name
   * @param options - request timeout
   */
  constructor(kc: KubeConfig, namespace: string, name: string, options: ConfigMapApiOptions = {}) {
    this.#transport = KubeTransport.for(kc);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.namespace = namespace;
    this.name = name;
    this.#collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
    this.#object = `${this.#collection}/${encodeURIComponent(name)}`;
  }

  /** Quorum read; undefined when the ConfigMap does not exist. */
  async get(options: RequestOptions = {}): Promise<V1ConfigMap | undefined> {
    return this.#call('get', options, async (signal) => {
      try {
        return await this.#transport.send<V1ConfigMap>({ method: 'GET', path: this.#object, signal });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  /** Lists with a field selector (the watch loop's relist); a quorum read. */
  async list(fieldSelector: string, options: RequestOptions = {}): Promise<ObjectList<V1ConfigMap>> {
    return this.#call('list', options, async (signal) => {
      const list = await this.#transport.send<{ items?: V1ConfigMap[]; metadata?: { resourceVersion?: string } }>({
        method: 'GET', path: this.#collection, query: { fieldSelector }, signal,
      });
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
    });
  }

  /** Creates the ConfigMap; 'conflict' when it already exists. */
  async create(body: V1ConfigMap, options: RequestOptions = {}): Promise<CasResult> {
    // Without alreadyHeld every answer is parsed: always a CasResult.
    return this.#write('create', options, { method: 'POST', path: this.#collection, body: { apiVersion: 'v1', kind: 'ConfigMap', ...body } }) as Promise<CasResult>;
  }

  /** Merge-patches the ConfigMap if its resourceVersion still is `patch.metadata.resourceVersion`. */
  async patch(patch: ConfigMapPatch, options: PatchOptions = {}): Promise<PatchResult> {
    // Without a resourceVersion a merge patch is last-write-wins: never send one.
    if (!patch.metadata.resourceVersion) throw new InvalidOptionError('patch.metadata.resourceVersion', patch.metadata.resourceVersion, 'the resourceVersion the patch was planned on');
    return this.#write('patch', options, { method: 'PATCH', path: this.#object, body: patch, contentType: 'application/merge-patch+json' }, options.alreadyHeld);
  }

  /** Deletes the ConfigMap if its resourceVersion still is `resourceVersion`. */
  async remove(resourceVersion: string, options: RequestOptions = {}): Promise<CasResult | { ok: true; object: undefined }> {
    const result = await this.#write('delete', options, {
      method: 'DELETE', path: this.#object, body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } },
    });
    return result.ok ? { ok: true, object: undefined } : result;
  }

  /** A conditional write: its answer, or the race it lost (409 conflict, 404 not found). */
  async #write(verb: string, options: RequestOptions, request: Omit<KubeRequest, 'signal'>, alreadyHeld?: (resourceVersion: string) => boolean): Promise<PatchResult> {
    return this.#call(verb, options, async (signal) => {
      try {
        const text = await this.#transport.sendText({ ...request, signal });
        const resourceVersion = alreadyHeld ? objectVersion(text) : undefined;
        if (resourceVersion !== undefined && alreadyHeld!(resourceVersion)) return { ok: true, object: undefined, resourceVersion };
        return { ok: true, object: JSON.parse(text) as V1ConfigMap };
      } catch (err) {
        if (isConflict(err)) return { ok: false, reason: 'conflict' };
        if (isNotFound(err) && verb !== 'create') return { ok: false, reason: 'not-found' };
        throw err;
      }
    });
  }

  /**
   * Runs one request with a timeout (and the caller's signal; both also
   * bound authentication, see signals.ts) and maps its failure to a kubekv
   * error.
   */
  async #call<T>(verb: string, options: RequestOptions, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await withDeadline(this.#timeoutMs, options.signal, request);
    } catch (err) {
      if (err instanceof RequestTimedOut && !options.signal?.aborted) {
        throw new UnavailableError(`${verb} configmaps ${this.namespace}/${this.name} timed out after ${this.#timeoutMs} ms`, { cause: err });
      }
      const describe = { verb, resource: 'configmaps', name: verb === 'list' ? undefined : this.name, namespace: this.namespace };
      throw toKubekvError(err, describe);
    }
  }
}
