/**
 * The port to Kubernetes: {@link KubeApi}, the only way kubekv talks to an
 * API server. Per resource (ConfigMaps, Secrets, Leases, Events) it offers get, list
 * (by field or label selector), create, update, merge patch, delete with
 * preconditions and watch from a resourceVersion.
 *
 * Guarantees:
 * - One request path: every request of every resource goes through
 *   {@link ResourceClient}'s one `#call`, which owns the deadline, the
 *   caller's abort, the classification of lost races (409 -> 'conflict',
 *   404 -> 'not-found' results, never exceptions) and the mapping of every
 *   other failure to a kubekv error (toKubekvError). So one fault gives one
 *   error class everywhere: a request past its deadline is an
 *   UnavailableError (retryable, outcome unknown) whether it was for a
 *   ConfigMap, a Lease or an Event; the caller's own abort is an AbortedError.
 * - Every write is conditional or a create: `update` and `patch` refuse a
 *   body without metadata.resourceVersion (an unconditional write is
 *   last-write-wins on the server), `delete` sends its preconditions.
 * - Requests go over a {@link KubeWire}: HTTP (src/kube/transport.ts) in
 *   production, or an in-memory cluster (kubekv/testing's FakeCluster)
 *   in tests. Everything above the wire, answers parsed as JSON, watch
 *   lines split and skipped by version (watch-stream.ts), runs the same
 *   code on both.
 *
 * Non-guarantees: a write whose request failed without a definite answer
 * (timeout, reset, 5xx) may have been applied; callers read to find out
 * (see certainlyNotApplied in errors.ts).
 */
import { checkTimeout, systemClock, type Clock } from '../clock.js';
import { InvalidOptionError, UnavailableError } from '../errors.js';
import { loadKubeConfig, resolveNamespace, validateName, type KubeConfigSource } from './config.js';
import { isConflict, isNotFound, toKubekvError, isAbort, isGone, parseJsonAnswer } from './errors.js';
import { RequestTimedOut, withDeadline } from './signals.js';
import { parseSlicedValues } from './sliced-json.js';
import { KubeTransport, type KubeRequest, type KubeStream } from './transport.js';
import type { ConfigMapObject, EventObject, KubeConfig, KubeObject, LeaseCandidateObject, LeaseObject, SecretObject } from './types.js';
import { objectVersion } from './version-prefix.js';
import { watchStream, type WatchEvent } from './watch-stream.js';

/** What requests travel over: the API server's HTTP endpoint, or an in-memory cluster. */
export interface KubeWire {
  /** Sends one request; resolves with the 2xx answer's body, rejects with HttpStatusError for any other status, or a network error. */
  sendText(request: KubeRequest): Promise<string>;
  /** Opens a request whose answer is read as a stream (a watch); the caller checks the status. */
  open(request: KubeRequest): Promise<KubeStream>;
}

/** A list of objects and the collection's resourceVersion (as of which the list is current). */
export interface ObjectList<T> {
  /** The objects, in the server's order. */
  items: T[];
  /** The collection's resourceVersion: watch from it to see every later change. */
  resourceVersion: string;
}

/** A write that landed. */
export interface Written<T> {
  /** It landed. */
  ok: true;
  /** The object as the server stored it. */
  object: T;
}

/** A write whose precondition failed: nothing was changed. */
export interface LostRace {
  /** It did not land. */
  ok: false;
  /** 'conflict': 409 (a stale resourceVersion or uid, or an existing name on create); 'not-found': 404. */
  reason: 'conflict' | 'not-found';
}

/** A patch that landed on a version the caller already holds (see PatchOptions.alreadyHeld). */
export interface WrittenUnparsed {
  /** It landed. */
  ok: true;
  /** Not parsed: the caller holds it. */
  object: undefined;
  /** The new resourceVersion. */
  resourceVersion: string;
}

/** A delete that landed. */
export interface Deleted {
  /** It landed. */
  ok: true;
  /** Nothing: the object is gone. */
  object: undefined;
}

/** Result of a conditional write: the new object, or the race it lost. */
export type WriteResult<T> = Written<T> | LostRace;

/** Result of a patch: a WriteResult, or only the new resourceVersion when the caller said it already holds that version. */
export type PatchResult<T> = WriteResult<T> | WrittenUnparsed;

/** Result of a delete. */
export type DeleteResult = Deleted | LostRace;

/** Options of one request. */
export interface RequestOptions {
  /** Abandons the request (its outcome, for a write, is then unknown): AbortedError. */
  signal?: AbortSignal | undefined;
  /** Most ms the request may take, answer included; past it, UnavailableError. Default the api's requestTimeoutMs. */
  timeoutMs?: number | undefined;
}

/** Options of a get. */
export interface GetOptions extends RequestOptions {
  /**
   * The string values of the object's `data` and `binaryData` may be
   * slices of the answer rather than strings of their own: parsing then
   * allocates little, but any one of them keeps the whole answer in memory,
   * so only a caller that copies the values out at once sets it (kubekv
   * does, for a bucket's chunks). An implementation may ignore it: values
   * of their own are always correct. Default false.
   */
  slicedValues?: boolean | undefined;
}

/** Options of a list. */
export interface ListOptions extends RequestOptions {
  /** e.g. `metadata.name=<name>` (works under an RBAC rule restricted by resourceNames). */
  fieldSelector?: string | undefined;
  /** e.g. `app.kubernetes.io/managed-by=kubekv`. */
  labelSelector?: string | undefined;
  /**
   * Only each object's metadata (a PartialObjectMetadataList, as
   * `kubectl get --show-kind -o name` asks): what a caller that looks only
   * at names, labels, annotations and owners needs, without the objects'
   * data (chunks are up to 1.5 MB each).
   */
  metadataOnly?: boolean | undefined;
}

/** Accept header asking for metadata only (the API server's PartialObjectMetadataList), JSON as the fallback. */
export const METADATA_ONLY_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

/** Options of a patch. */
export interface PatchOptions extends RequestOptions {
  /**
   * True when the caller already holds the object at this resourceVersion
   * (a watch delivered the commit before its answer arrived): the answer is
   * then not parsed, and the result carries only the version.
   */
  alreadyHeld?: ((resourceVersion: string) => boolean) | undefined;
}

/** Preconditions of a delete (the server answers 409 when one fails). */
export interface DeletePreconditions {
  /** Delete only the object at this resourceVersion. */
  resourceVersion?: string | undefined;
  /** Delete only the object with this uid (not one recreated under the same name). */
  uid?: string | undefined;
}

/** Options of a watch. */
export interface WatchOptions {
  /** Start after this resourceVersion; unset: the current state first (ADDED events), then changes. */
  resourceVersion?: string | undefined;
  /** e.g. `metadata.name=<name>`. */
  fieldSelector?: string | undefined;
  /** e.g. `app.kubernetes.io/managed-by=kubekv`. */
  labelSelector?: string | undefined;
  /** Ends the watch; the iterator then throws AbortedError. */
  signal?: AbortSignal | undefined;
  /** See WatchStreamOptions.inactivityTimeoutMs. */
  inactivityTimeoutMs?: number | undefined;
  /** See WatchStreamOptions.alreadyHeld. */
  alreadyHeld?: ((resourceVersion: string) => boolean) | undefined;
  /** Called once the server accepted the watch, before any event. */
  onOpen?: (() => void) | undefined;
}

/** A JSON merge patch (RFC 7386) that carries the resourceVersion it was planned on: null deletes a field or map entry. */
export interface MergePatch {
  /** The metadata to merge, with the precondition. */
  metadata: {
    /** The resourceVersion the patch was planned on: 409 if the object moved on. */
    resourceVersion: string;
    /** Annotations to set (null: remove). */
    annotations?: Record<string, string | null> | undefined;
    /** Labels to set (null: remove). */
    labels?: Record<string, string | null> | undefined;
  };
  /** Any other field: merged (objects), replaced (anything else) or removed (null). */
  [field: string]: unknown;
}

/** The calls kubekv makes on one resource in one namespace; see the module doc. */
export interface ResourceClient<T extends KubeObject> {
  /** Plural resource name, e.g. "configmaps", for messages. */
  readonly resource: string;
  /** The namespace every call is in. */
  readonly namespace: string;
  /** Quorum read; undefined when the object does not exist. */
  get(name: string, options?: GetOptions): Promise<T | undefined>;
  /** Quorum list. */
  list(options?: ListOptions): Promise<ObjectList<T>>;
  /** Creates `body`; 'conflict' when an object of that name exists. */
  create(body: T, options?: RequestOptions): Promise<WriteResult<T>>;
  /** Replaces the object with `body` if it is still at body.metadata.resourceVersion. */
  update(body: T, options?: RequestOptions): Promise<WriteResult<T>>;
  /** Merge-patches object `name` if it is still at patch.metadata.resourceVersion. */
  patch(name: string, patch: MergePatch, options?: PatchOptions): Promise<PatchResult<T>>;
  /** Deletes object `name` if the preconditions hold. */
  delete(name: string, preconditions: DeletePreconditions, options?: RequestOptions): Promise<DeleteResult>;
  /** The changes after `options.resourceVersion`, in server order, with bookmarks; throws ApiError 410 when that version is compacted. */
  watch(options: WatchOptions): AsyncGenerator<WatchEvent<T>>;
}

/** The port to Kubernetes: one {@link ResourceClient} per resource and namespace. */
export interface KubeApi {
  /** Namespace used when none is given (NAMESPACE env, service account, kubeconfig context, "default"). */
  readonly defaultNamespace: string;
  /** The core/v1 ConfigMaps of `namespace` (buckets). */
  configMaps(namespace: string): ResourceClient<ConfigMapObject>;
  /** The core/v1 Secrets of `namespace` (buckets opened with `kind: 'Secret'`). */
  secrets(namespace: string): ResourceClient<SecretObject>;
  /** The coordination.k8s.io/v1 Leases of `namespace` (elections, locks). */
  leases(namespace: string): ResourceClient<LeaseObject>;
  /** The events.k8s.io/v1 Events of `namespace`. */
  events(namespace: string): ResourceClient<EventObject>;
  /**
   * The coordination.k8s.io/v1beta1 LeaseCandidates of `namespace`
   * (coordinated leader election; served only where that beta API is on).
   * Optional: a port without it cannot run a coordinated election.
   */
  leaseCandidates?(namespace: string): ResourceClient<LeaseCandidateObject>;
}

/** Default of {@link KubeApiOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Options of {@link WireKubeApi}. */
export interface KubeApiOptions {
  /** Most ms one request may take, answer included, unless a request says otherwise. @default 10000 */
  requestTimeoutMs?: number | undefined;
  /** See {@link KubeApi.defaultNamespace}; a function is asked on each use. @default "default" */
  defaultNamespace?: string | (() => string) | undefined;
  /**
   * Where request deadlines are timed: with a test's ManualClock (a
   * FakeCluster's `clock`), a request held past its deadline times out when
   * the test advances the clock, not after real time. @default systemClock
   */
  clock?: Clock | undefined;
}

/** Where a resource lives in the API. */
interface ResourceType {
  readonly prefix: string;
  readonly resource: string;
  readonly apiVersion: string;
  readonly kind: string;
}

/** The resources of the port, by plural name: the requests' paths and bodies (and kubekv/testing's FakeCluster, which serves them) take them from here. */
export const RESOURCE_TYPES = {
  configmaps: { prefix: '/api/v1', resource: 'configmaps', apiVersion: 'v1', kind: 'ConfigMap' },
  secrets: { prefix: '/api/v1', resource: 'secrets', apiVersion: 'v1', kind: 'Secret' },
  leases: { prefix: '/apis/coordination.k8s.io/v1', resource: 'leases', apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' },
  events: { prefix: '/apis/events.k8s.io/v1', resource: 'events', apiVersion: 'events.k8s.io/v1', kind: 'Event' },
  leasecandidates: { prefix: '/apis/coordination.k8s.io/v1beta1', resource: 'leasecandidates', apiVersion: 'coordination.k8s.io/v1beta1', kind: 'LeaseCandidate' },
} as const satisfies Record<string, ResourceType>;

/** The {@link KubeApi} over a {@link KubeWire}: HTTP for a real cluster, memory for kubekv/testing. */
export class WireKubeApi implements KubeApi {
  readonly #defaultNamespace: string | (() => string);
  readonly #wire: KubeWire;
  readonly #timeoutMs: number;
  readonly #clock: Clock;

  /**
   * @param wire - what requests travel over
   * @param options - default request timeout and namespace
   * @throws InvalidOptionError for a `requestTimeoutMs` that is not a positive number of ms
   */
  constructor(wire: KubeWire, options: KubeApiOptions = {}) {
    this.#wire = wire;
    this.#timeoutMs = checkTimeout(options.requestTimeoutMs, 'requestTimeoutMs') ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#clock = options.clock ?? systemClock;
    this.#defaultNamespace = options.defaultNamespace ?? 'default';
  }

  get defaultNamespace(): string {
    const namespace = this.#defaultNamespace;
    return typeof namespace === 'function' ? namespace() : namespace;
  }

  configMaps(namespace: string): ResourceClient<ConfigMapObject> {
    return new WireResource<ConfigMapObject>(this.#wire, RESOURCE_TYPES.configmaps, namespace, this.#timeoutMs, this.#clock);
  }

  secrets(namespace: string): ResourceClient<SecretObject> {
    return new WireResource<SecretObject>(this.#wire, RESOURCE_TYPES.secrets, namespace, this.#timeoutMs, this.#clock);
  }

  leases(namespace: string): ResourceClient<LeaseObject> {
    return new WireResource<LeaseObject>(this.#wire, RESOURCE_TYPES.leases, namespace, this.#timeoutMs, this.#clock);
  }

  events(namespace: string): ResourceClient<EventObject> {
    return new WireResource<EventObject>(this.#wire, RESOURCE_TYPES.events, namespace, this.#timeoutMs, this.#clock);
  }

  leaseCandidates(namespace: string): ResourceClient<LeaseCandidateObject> {
    return new WireResource<LeaseCandidateObject>(this.#wire, RESOURCE_TYPES.leasecandidates, namespace, this.#timeoutMs, this.#clock);
  }
}

/** A resource's calls as requests on the wire; `#call` is the one request path. */
class WireResource<T extends KubeObject> implements ResourceClient<T> {
  readonly resource: string;
  readonly namespace: string;
  readonly #wire: KubeWire;
  readonly #type: ResourceType;
  readonly #collection: string;
  readonly #timeoutMs: number;
  readonly #clock: Clock;

  constructor(wire: KubeWire, type: ResourceType, namespace: string, timeoutMs: number, clock: Clock) {
    this.#wire = wire;
    this.#type = type;
    this.resource = type.resource;
    this.namespace = namespace;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#collection = `${type.prefix}/namespaces/${encodeURIComponent(namespace)}/${type.resource}`;
  }

  #object(name: string): string {
    return `${this.#collection}/${encodeURIComponent(name)}`;
  }

  async get(name: string, options: GetOptions = {}): Promise<T | undefined> {
    return this.#call('get', name, options, async (signal) => {
      try {
        const text = await this.#wire.sendText({ method: 'GET', path: this.#object(name), signal });
        return ((options.slicedValues ? parseSlicedValues(text) : undefined) as T | undefined) ?? parseJsonAnswer<T>(text, `get ${this.resource} ${this.namespace}/${name}`);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  async list(options: ListOptions = {}): Promise<ObjectList<T>> {
    const query = { fieldSelector: options.fieldSelector, labelSelector: options.labelSelector };
    const accept = options.metadataOnly ? METADATA_ONLY_ACCEPT : undefined;
    return this.#call('list', undefined, options, async (signal) => {
      const list = parseJsonAnswer<{ items?: T[]; metadata?: { resourceVersion?: string } }>(await this.#wire.sendText({ method: 'GET', path: this.#collection, query, signal, accept }), `list ${this.resource} ${this.namespace}`);
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
    });
  }

  async create(body: T, options: RequestOptions = {}): Promise<WriteResult<T>> {
    const full = { apiVersion: this.#type.apiVersion, kind: this.#type.kind, ...body };
    // Without alreadyHeld every answer is parsed: always a WriteResult.
    return this.#write('create', body.metadata?.name, options, { method: 'POST', path: this.#collection, body: full }) as Promise<WriteResult<T>>;
  }

  async update(body: T, options: RequestOptions = {}): Promise<WriteResult<T>> {
    const name = body.metadata?.name ?? '';
    // Without a resourceVersion a PUT is last-write-wins: never send one.
    if (!body.metadata?.resourceVersion) throw new InvalidOptionError('body.metadata.resourceVersion', body.metadata?.resourceVersion, 'the resourceVersion the update replaces');
    const full = { ...body, apiVersion: this.#type.apiVersion, kind: this.#type.kind };
    return this.#write('update', name, options, { method: 'PUT', path: this.#object(name), body: full }) as Promise<WriteResult<T>>;
  }

  async patch(name: string, patch: MergePatch, options: PatchOptions = {}): Promise<PatchResult<T>> {
    // Without a resourceVersion a merge patch is last-write-wins: never send one.
    if (!patch.metadata.resourceVersion) throw new InvalidOptionError('patch.metadata.resourceVersion', patch.metadata.resourceVersion, 'the resourceVersion the patch was planned on');
    return this.#write('patch', name, options, { method: 'PATCH', path: this.#object(name), body: patch, contentType: 'application/merge-patch+json' }, options.alreadyHeld);
  }

  async delete(name: string, preconditions: DeletePreconditions, options: RequestOptions = {}): Promise<DeleteResult> {
    const result = await this.#write('delete', name, options, {
      method: 'DELETE', path: this.#object(name), body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions },
    });
    return result.ok ? { ok: true, object: undefined } : result;
  }

  async *watch(options: WatchOptions): AsyncGenerator<WatchEvent<T>> {
    const { signal } = options;
    const query = { resourceVersion: options.resourceVersion, allowWatchBookmarks: true, fieldSelector: options.fieldSelector, labelSelector: options.labelSelector };
    try {
      yield* watchStream<T>(this.#wire, {
        path: this.#collection, query, signal, inactivityTimeoutMs: options.inactivityTimeoutMs, alreadyHeld: options.alreadyHeld, onOpen: options.onOpen,
      });
    } catch (err) {
      const describe = { verb: 'watch', resource: this.resource, namespace: this.namespace };
      // Our own inactivity or open timeout (not the caller's abort): the connection is gone, reconnect.
      if (isAbort(err) && !signal?.aborted) throw toKubekvError(new Error(`watch inactive; reconnecting: ${(err as Error).message}`, { cause: err }), describe);
      throw toKubekvError(err, describe);
    }
  }

  /** A conditional write: its answer, or the race it lost (409 conflict, 404 not found). */
  async #write(verb: string, name: string | undefined, options: RequestOptions, request: Omit<KubeRequest, 'signal'>, alreadyHeld?: (resourceVersion: string) => boolean): Promise<PatchResult<T>> {
    return this.#call(verb, name, options, async (signal) => {
      try {
        const text = await this.#wire.sendText({ ...request, signal });
        const resourceVersion = alreadyHeld ? objectVersion(text) : undefined;
        if (resourceVersion !== undefined && alreadyHeld!(resourceVersion)) return { ok: true, object: undefined, resourceVersion };
        return { ok: true, object: parseJsonAnswer<T>(text, `${verb} ${this.resource} ${this.namespace}/${name ?? ''}`) };
      } catch (err) {
        if (isConflict(err)) return { ok: false, reason: 'conflict' };
        // A create's 404 is a missing namespace: an error, not a lost race.
        if (isNotFound(err) && verb !== 'create') return { ok: false, reason: 'not-found' };
        throw err;
      }
    });
  }

  /**
   * The one request path: runs `request` within its deadline (and the
   * caller's signal; both also bound authentication, see signals.ts) and
   * maps its failure to a kubekv error, the same for every resource.
   */
  async #call<R>(verb: string, name: string | undefined, options: RequestOptions, request: (signal: AbortSignal) => Promise<R>): Promise<R> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    try {
      return await withDeadline(timeoutMs, options.signal, request, this.#clock);
    } catch (err) {
      const target = `${verb} ${this.resource} ${this.namespace}${name ? `/${name}` : ''}`;
      if (err instanceof RequestTimedOut && !options.signal?.aborted) {
        throw new UnavailableError(`${target} timed out after ${timeoutMs} ms`, { cause: err });
      }
      throw toKubekvError(err, { verb, resource: this.resource, name, namespace: this.namespace });
    }
  }
}

/** True for the error a watch throws when its resourceVersion is older than the server keeps (410 Gone): relist. */
export function isExpired(err: unknown): boolean {
  return isGone(err);
}

const apis = new WeakMap<KubeConfig, KubeApi>();

/**
 * The HTTP {@link KubeApi} of `kc` (one per KubeConfig object; connections
 * are pooled per cluster and credentials across all of them).
 */
export function httpKubeApi(kc: KubeConfig): KubeApi {
  let api = apis.get(kc);
  if (!api) {
    api = new WireKubeApi(KubeTransport.for(kc), { defaultNamespace: () => resolveNamespace(kc) });
    apis.set(kc, api);
  }
  return api;
}

/** Where a component talks to: its `api` option, else the HTTP api of its kubeConfig (loaded as loadKubeConfig does). */
export interface AccessOptions {
  api?: KubeApi | undefined;
  kubeConfig?: KubeConfig | KubeConfigSource | undefined;
  namespace?: string | undefined;
}

/**
 * The api and namespace a component uses: `api` when given (namespace: the
 * option, else the api's default), else the HTTP api of the kubeConfig
 * (namespace resolved as config.ts describes), with the KubeConfig it loaded.
 */
export function resolveAccess(options: AccessOptions): { api: KubeApi; namespace: string; kubeConfig?: KubeConfig } {
  if (options.api) {
    const namespace = options.namespace === undefined ? options.api.defaultNamespace : validateName('namespace', options.namespace);
    return { api: options.api, namespace };
  }
  const kc = loadKubeConfig(options.kubeConfig);
  return { api: httpKubeApi(kc), namespace: resolveNamespace(kc, options.namespace), kubeConfig: kc };
}

export type { WatchEvent };
