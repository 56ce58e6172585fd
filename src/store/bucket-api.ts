/**
 * One bucket's head object, as the store uses it: the calls of the
 * {@link KubeApi} port for the bucket's object kind (a ConfigMap, or a
 * Secret; codec/bucket-kind.ts) bound to one namespace and name, in the
 * bucket form the codec reads and writes whatever the kind. Every mutation
 * here is conditional: `patch` always carries metadata.resourceVersion (a
 * merge patch with it is a precondition: 409 on mismatch), `remove` carries
 * a resourceVersion precondition. There is no unconditional update on purpose.
 *
 * Every request has a timeout (`requestTimeoutMs`): a black-holed connection
 * cannot hold a caller (or the store's commit lock) for long. A timed-out
 * request is reported as UnavailableError, as for every resource (kube/api.ts);
 * whether a timed-out write was applied is unknown, and callers find out by
 * reading (see certainlyNotApplied in kube/errors.ts).
 *
 * It lives with the store, above the port and the codec, because mapping a
 * kind's object to the bucket form is the codec's (codec/bucket-kind.ts):
 * nothing under src/kube imports from a layer above it.
 */
import { bucketForm, type BucketKind, type BucketObject, type BucketObjectForm, type BucketPatchFields } from '../codec/bucket-kind.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, httpKubeApi, type DeletePreconditions, type DeleteResult, type KubeApi, type ListOptions, type MergePatch, type ObjectList, type PatchOptions, type PatchResult, type GetOptions, type RequestOptions, type ResourceClient, type WatchEvent, type WatchOptions, type WriteResult } from '../kube/api.js';
import type { KubeConfig, KubeObject } from '../kube/types.js';

export { DEFAULT_REQUEST_TIMEOUT_MS };
export type { PatchOptions, RequestOptions };

/** A merge patch of a bucket object in bucket form; null deletes a field or map entry. */
export interface BucketPatch extends MergePatch, BucketPatchFields {}

/** Result of a conditional write: the new object, or 'conflict' when the precondition failed. */
export type CasResult = WriteResult<BucketObject>;

/** Options of {@link BucketApi}. */
export interface BucketApiOptions {
  /** Most ms one request may take, response body included. Default 10000. */
  requestTimeoutMs?: number;
  /** The kind of object the bucket is stored in. Default 'ConfigMap'. */
  kind?: BucketKind;
}

/**
 * The objects of `kind` in `namespace` (heads and chunks), in bucket form:
 * what is read is mapped to it, what is written is mapped from it.
 */
export function bucketObjects(api: KubeApi, kind: BucketKind, namespace: string): ResourceClient<BucketObject> {
  return kind === 'Secret' ? new FormClient(api.secrets(namespace), bucketForm(kind)) : api.configMaps(namespace);
}

/** Head operations for one bucket, through the {@link KubeApi} port. */
export class BucketApi {
  readonly #client: ResourceClient<BucketObject>;
  readonly #timeoutMs: number;
  readonly namespace: string;
  readonly name: string;
  /** The kind of object the bucket (head and chunks) is stored in. */
  readonly kind: BucketKind;

  /**
   * @param api - the port (or a KubeConfig, for its HTTP api)
   * @param namespace - bucket namespace
   * @param name - bucket (head object) name
   * @param options - request timeout, object kind
   */
  constructor(api: KubeApi | KubeConfig, namespace: string, name: string, options: BucketApiOptions = {}) {
    this.kind = options.kind ?? 'ConfigMap';
    this.#client = bucketObjects('configMaps' in api ? api : httpKubeApi(api), this.kind, namespace);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.namespace = namespace;
    this.name = name;
  }

  /** The bucket kind's objects in the bucket's namespace (for the watch loop and the chunks). */
  get client(): ResourceClient<BucketObject> {
    return this.#client;
  }

  /** Quorum read; undefined when the head does not exist. */
  async get(options: RequestOptions = {}): Promise<BucketObject | undefined> {
    return this.#client.get(this.name, this.#options(options));
  }

  /** Lists with a field selector (the watch loop's relist); a quorum read. */
  async list(fieldSelector: string, options: RequestOptions = {}): Promise<ObjectList<BucketObject>> {
    return this.#client.list({ ...this.#options(options), fieldSelector });
  }

  /** Creates the head; 'conflict' when it already exists. */
  async create(body: BucketObject, options: RequestOptions = {}): Promise<CasResult> {
    return this.#client.create(body, this.#options(options));
  }

  /** Merge-patches the head if its resourceVersion still is `patch.metadata.resourceVersion`. */
  async patch(patch: BucketPatch, options: PatchOptions = {}): Promise<PatchResult<BucketObject>> {
    return this.#client.patch(this.name, patch, this.#options(options));
  }

  /** Deletes the head if its resourceVersion still is `resourceVersion`. */
  async remove(resourceVersion: string, options: RequestOptions = {}): Promise<CasResult | { ok: true; object: undefined }> {
    return this.#client.delete(this.name, { resourceVersion }, this.#options(options));
  }

  #options<T extends RequestOptions>(options: T): T {
    return { ...options, timeoutMs: options.timeoutMs ?? this.#timeoutMs };
  }
}

/** A resource client of another kind, seen in bucket form (a Secret's data mapped both ways). */
class FormClient<W extends KubeObject> implements ResourceClient<BucketObject> {
  readonly #inner: ResourceClient<W>;
  readonly #form: BucketObjectForm;

  constructor(inner: ResourceClient<W>, form: BucketObjectForm) {
    this.#inner = inner;
    this.#form = form;
  }

  get resource(): string {
    return this.#inner.resource;
  }

  get namespace(): string {
    return this.#inner.namespace;
  }

  async get(name: string, options?: GetOptions): Promise<BucketObject | undefined> {
    const object = await this.#inner.get(name, options);
    return object && this.#form.toBucket(object);
  }

  async list(options?: ListOptions): Promise<ObjectList<BucketObject>> {
    const listed = await this.#inner.list(options);
    return { items: listed.items.map((item) => this.#form.toBucket(item)), resourceVersion: listed.resourceVersion };
  }

  async create(body: BucketObject, options?: RequestOptions): Promise<WriteResult<BucketObject>> {
    return this.#written(await this.#inner.create(this.#form.fromBucket(body) as W, options));
  }

  async update(body: BucketObject, options?: RequestOptions): Promise<WriteResult<BucketObject>> {
    return this.#written(await this.#inner.update(this.#form.fromBucket(body) as W, options));
  }

  async patch(name: string, patch: MergePatch, options?: PatchOptions): Promise<PatchResult<BucketObject>> {
    const result = await this.#inner.patch(name, this.#form.patchFromBucket(patch) as MergePatch, options);
    return result.ok && result.object !== undefined ? { ok: true, object: this.#form.toBucket(result.object) } : result;
  }

  async delete(name: string, preconditions: DeletePreconditions, options?: RequestOptions): Promise<DeleteResult> {
    return this.#inner.delete(name, preconditions, options);
  }

  async *watch(options: WatchOptions): AsyncGenerator<WatchEvent<BucketObject>> {
    for await (const event of this.#inner.watch(options)) {
      yield event.type === 'BOOKMARK' ? event : { type: event.type, object: this.#form.toBucket(event.object) };
    }
  }

  #written(result: WriteResult<W>): WriteResult<BucketObject> {
    return result.ok ? { ok: true, object: this.#form.toBucket(result.object) } : result;
  }
}
