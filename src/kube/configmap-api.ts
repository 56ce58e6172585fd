/**
 * One bucket's ConfigMap, as the store uses it: the ConfigMap calls of the
 * {@link KubeApi} port bound to one namespace and name. Every mutation here
 * is conditional: `patch` always carries metadata.resourceVersion (a merge
 * patch with it is a precondition: 409 on mismatch), `remove` carries a
 * resourceVersion precondition. There is no unconditional update on purpose.
 *
 * Every request has a timeout (`requestTimeoutMs`): a black-holed connection
 * cannot hold a caller (or the store's commit lock) for long. A timed-out
 * request is reported as UnavailableError, as for every resource (api.ts);
 * whether a timed-out write was applied is unknown, and callers find out by
 * reading (see certainlyNotApplied in errors.ts).
 */
import { DEFAULT_REQUEST_TIMEOUT_MS, httpKubeApi, type KubeApi, type MergePatch, type ObjectList, type PatchOptions, type PatchResult, type RequestOptions, type ResourceClient, type WriteResult } from './api.js';
import type { ConfigMapObject, KubeConfig } from './types.js';

export { DEFAULT_REQUEST_TIMEOUT_MS };
export type { PatchOptions, RequestOptions };

/** A merge patch of a ConfigMap; null deletes a field or map entry. */
export interface ConfigMapPatch extends MergePatch {
  data?: Record<string, string | null>;
  binaryData?: Record<string, string | null>;
}

/** Result of a conditional write: the new object, or 'conflict' when the precondition failed. */
export type CasResult = WriteResult<ConfigMapObject>;

/** Options of {@link ConfigMapApi}. */
export interface ConfigMapApiOptions {
  /** Most ms one request may take, response body included. Default 10000. */
  requestTimeoutMs?: number;
}

/** ConfigMap operations for one bucket, through the {@link KubeApi} port. */
export class ConfigMapApi {
  readonly #client: ResourceClient<ConfigMapObject>;
  readonly #timeoutMs: number;
  readonly namespace: string;
  readonly name: string;

  /**
   * @param api - the port (or a KubeConfig, for its HTTP api)
   * @param namespace - bucket namespace
   * @param name - bucket (ConfigMap) name
   * @param options - request timeout
   */
  constructor(api: KubeApi | KubeConfig, namespace: string, name: string, options: ConfigMapApiOptions = {}) {
    this.#client = ('configMaps' in api ? api : httpKubeApi(api)).configMaps(namespace);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.namespace = namespace;
    this.name = name;
  }

  /** The ConfigMap resource of the bucket's namespace (for the watch loop). */
  get client(): ResourceClient<ConfigMapObject> {
    return this.#client;
  }

  /** Quorum read; undefined when the ConfigMap does not exist. */
  async get(options: RequestOptions = {}): Promise<ConfigMapObject | undefined> {
    return this.#client.get(this.name, this.#options(options));
  }

  /** Lists with a field selector (the watch loop's relist); a quorum read. */
  async list(fieldSelector: string, options: RequestOptions = {}): Promise<ObjectList<ConfigMapObject>> {
    return this.#client.list({ ...this.#options(options), fieldSelector });
  }

  /** Creates the ConfigMap; 'conflict' when it already exists. */
  async create(body: ConfigMapObject, options: RequestOptions = {}): Promise<CasResult> {
    return this.#client.create(body, this.#options(options));
  }

  /** Merge-patches the ConfigMap if its resourceVersion still is `patch.metadata.resourceVersion`. */
  async patch(patch: ConfigMapPatch, options: PatchOptions = {}): Promise<PatchResult<ConfigMapObject>> {
    return this.#client.patch(this.name, patch, this.#options(options));
  }

  /** Deletes the ConfigMap if its resourceVersion still is `resourceVersion`. */
  async remove(resourceVersion: string, options: RequestOptions = {}): Promise<CasResult | { ok: true; object: undefined }> {
    return this.#client.delete(this.name, { resourceVersion }, this.#options(options));
  }

  #options<T extends RequestOptions>(options: T): T {
    return { ...options, timeoutMs: options.timeoutMs ?? this.#timeoutMs };
  }
}
