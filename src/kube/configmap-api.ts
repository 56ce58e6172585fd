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
import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type ConfigurationOptions,
  type KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { InvalidOptionError, UnavailableError } from '../errors.js';
import { toKubekvError, isNotFound, isConflict } from './errors.js';
import { withSignal } from './request-options.js';
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

/** Options of one request. */
export interface RequestOptions {
  /** Abandons the request (its outcome, for a write, is then unknown). */
  signal?: AbortSignal | undefined;
}

/** Default of {@link ConfigMapApiOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Options of {@link ConfigMapApi}. */
export interface ConfigMapApiOptions {
  /** Most ms one request may take, response body included. Default 10000. */
  requestTimeoutMs?: number;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** ConfigMap operations for one bucket. */
export class ConfigMapApi {
  readonly #api: CoreV1Api;
  readonly #timeoutMs: number;
  readonly namespace: string;
  readonly name: string;

  /**
   * @param kc - cluster access
   * @param namespace - bucket namespace
   * @param name - bucket (ConfigMap) name
   * @param options - request timeout
   */
  constructor(kc: KubeConfig, namespace: string, name: string, options: ConfigMapApiOptions = {}) {
    this.#api = kc.makeApiClient(CoreV1Api);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.namespace = namespace;
    this.name = name;
  }

  /** Quorum read; undefined when the ConfigMap does not exist. */
  async get(options: RequestOptions = {}): Promise<V1ConfigMap | undefined> {
    return this.#call('get', options, async (config) => {
      try {
        return await this.#api.readNamespacedConfigMap({ name: this.name, namespace: this.namespace }, config());
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  /** Lists with a field selector (the watch loop's relist); a quorum read. */
  async list(fieldSelector: string, options: RequestOptions = {}): Promise<ObjectList<V1ConfigMap>> {
    return this.#call('list', options, async (config) => {
      const list = await this.#api.listNamespacedConfigMap({ namespace: this.namespace, fieldSelector }, config());
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
    });
  }

  /** Creates the ConfigMap; 'conflict' when it already exists. */
  async create(body: V1ConfigMap, options: RequestOptions = {}): Promise<CasResult> {
    return this.#call('create', options, async (config) => {
      try {
        return { ok: true, object: await this.#api.createNamespacedConfigMap({ namespace: this.namespace, body }, config()) };
      } catch (err) {
        if (isConflict(err)) return { ok: false, reason: 'conflict' };
        throw err;
      }
    });
  }

  /** Merge-patches the ConfigMap if its resourceVersion still is `patch.metadata.resourceVersion`. */
  async patch(patch: ConfigMapPatch, options: RequestOptions = {}): Promise<CasResult> {
    // Without a resourceVersion a merge patch is last-write-wins: never send one.
    if (!patch.metadata.resourceVersion) throw new InvalidOptionError('patch.metadata.resourceVersion', patch.metadata.resourceVersion, 'the resourceVersion the patch was planned on');
    return this.#call('patch', options, async (config) => {
      try {
        const object = await this.#api.patchNamespacedConfigMap({ name: this.name, namespace: this.namespace, body: patch }, config(mergePatch));
        return { ok: true, object };
      } catch (err) {
        if (isConflict(err)) return { ok: false, reason: 'conflict' };
        if (isNotFound(err)) return { ok: false, reason: 'not-found' };
        throw err;
      }
    });
  }

  /** Deletes the ConfigMap if its resourceVersion still is `resourceVersion`. */
  async remove(resourceVersion: string, options: RequestOptions = {}): Promise<CasResult | { ok: true; object: undefined }> {
    return this.#call('delete', options, async (config) => {
      try {
        await this.#api.deleteNamespacedConfigMap(
          { name: this.name, namespace: this.namespace, body: { preconditions: { resourceVersion } } },
          config(),
        );
        return { ok: true, object: undefined };
      } catch (err) {
        if (isConflict(err)) return { ok: false, reason: 'conflict' };
        if (isNotFound(err)) return { ok: false, reason: 'not-found' };
        throw err;
      }
    });
  }

  /**
   * Runs one request with a timeout (and the caller's signal) and maps its
   * failure to a kubekv error. `config(extra)` gives the client-node options
   * that carry the request's AbortSignal.
   */
  async #call<T>(verb: string, options: RequestOptions, request: (config: (extra?: ConfigurationOptions) => ConfigurationOptions) => Promise<T>): Promise<T> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    try {
      // Raced with the signal: client-node runs authentication (an exec
      // credential plugin, say) before the signal reaches fetch, so a hang
      // there would otherwise outlive the timeout.
      return await raceSignal(request((extra) => withSignal(signal, extra)), signal);
    } catch (err) {
      const describe = { verb, resource: 'configmaps', name: verb === 'list' ? undefined : this.name, namespace: this.namespace };
      if (timeout.aborted && !options.signal?.aborted) {
        throw new UnavailableError(`${verb} configmaps ${this.namespace}/${this.name} timed out after ${this.#timeoutMs} ms`, { cause: err });
      }
      throw toKubekvError(err, describe);
    }
  }
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts (the promise is then left to settle unobserved). */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
