/**
 * The ConfigMap calls the store makes, each mapped to kubekv errors at this
 * boundary. Every mutation here is conditional: `patch` always carries
 * metadata.resourceVersion (a merge patch with it is a precondition: 409 on
 * mismatch), `remove` carries a resourceVersion precondition. There is no
 * unconditional update in this module on purpose.
 */
import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { toKubekvError, isNotFound, isConflict } from './errors.js';
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

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** ConfigMap operations for one bucket. */
export class ConfigMapApi {
  readonly #api: CoreV1Api;
  readonly namespace: string;
  readonly name: string;

  /**
   * @param kc - cluster access
   * @param namespace - bucket namespace
   * @param name - bucket (ConfigMap) name
   */
  constructor(kc: KubeConfig, namespace: string, name: string) {
    this.#api = kc.makeApiClient(CoreV1Api);
    this.namespace = namespace;
    this.name = name;
  }

  /** Quorum read; undefined when the ConfigMap does not exist. */
  async get(): Promise<V1ConfigMap | undefined> {
    try {
      return await this.#api.readNamespacedConfigMap({ name: this.name, namespace: this.namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw toKubekvError(err, this.#describe('get'));
    }
  }

  /** Lists with a field selector (the watch loop's relist); a quorum read. */
  async list(fieldSelector: string): Promise<ObjectList<V1ConfigMap>> {
    try {
      const list = await this.#api.listNamespacedConfigMap({ namespace: this.namespace, fieldSelector });
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
    } catch (err) {
      throw toKubekvError(err, { verb: 'list', resource: 'configmaps', namespace: this.namespace });
    }
  }

  /** Creates the ConfigMap; 'conflict' when it already exists. */
  async create(body: V1ConfigMap): Promise<CasResult> {
    try {
      return { ok: true, object: await this.#api.createNamespacedConfigMap({ namespace: this.namespace, body }) };
    } catch (err) {
      if (isConflict(err)) return { ok: false, reason: 'conflict' };
      throw toKubekvError(err, { verb: 'create', resource: 'configmaps', name: this.name, namespace: this.namespace });
    }
  }

  /** Merge-patches the ConfigMap if its resourceVersion still is `patch.metadata.resourceVersion`. */
  async patch(patch: ConfigMapPatch): Promise<CasResult> {
    try {
      const object = await this.#api.patchNamespacedConfigMap({ name: this.name, namespace: this.namespace, body: patch }, mergePatch);
      return { ok: true, object };
    } catch (err) {
      if (isConflict(err)) return { ok: false, reason: 'conflict' };
      if (isNotFound(err)) return { ok: false, reason: 'not-found' };
      throw toKubekvError(err, this.#describe('patch'));
    }
  }

  /** Deletes the ConfigMap if its resourceVersion still is `resourceVersion`. */
  async remove(resourceVersion: string): Promise<CasResult | { ok: true; object: undefined }> {
    try {
      await this.#api.deleteNamespacedConfigMap({
        name: this.name,
        namespace: this.namespace,
        body: { preconditions: { resourceVersion } },
      });
      return { ok: true, object: undefined };
    } catch (err) {
      if (isConflict(err)) return { ok: false, reason: 'conflict' };
      if (isNotFound(err)) return { ok: false, reason: 'not-found' };
      throw toKubekvError(err, this.#describe('delete'));
    }
  }

  #describe(verb: string) {
    return { verb, resource: 'configmaps', name: this.name, namespace: this.namespace };
  }
}
