/**
 * FakeCluster: an in-memory Kubernetes API behind kubekv's KubeApi port.
 *
 * @module
 */
import { EventEmitter, on } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { keepingProcessAlive, systemClock, sleep, type Clock } from '../clock.js';
import { MAX_DATA_BYTES, dataSize } from '../codec/index.js';
import { InvalidOptionError } from '../errors.js';
import { RESOURCE_TYPES, WireKubeApi, type KubeApi } from '../kube/api.js';
import { HttpStatusError } from '../kube/errors.js';
import type { KubeRequest, KubeStream } from '../kube/transport.js';
import type { KubeObject } from '../kube/types.js';

/** Which requests a fault applies to; every field left out matches all. */
export interface RequestMatcher {
  /** The API verb (a GET of a collection is `list`, or `watch` with watch=true). */
  verb?: 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete' | 'watch' | undefined;
  /** The resource, plural. */
  resource?: FakeResource | undefined;
  /** The object's name (a create matches by its body's name only through `verb`/`resource`). */
  name?: string | undefined;
}

/** Options of {@link FakeCluster}. */
export interface FakeClusterOptions {
  /** Time for the requests of {@link FakeCluster.api}: their deadlines, and {@link FakeCluster.delayNext}'s delays. @default the system clock */
  clock?: Clock | undefined;
  /** Most ms a request may take before the port gives up on it. @default 10000 */
  requestTimeoutMs?: number | undefined;
}

/** The resources a FakeCluster serves (plural names). */
export type FakeResource = 'configmaps' | 'secrets' | 'leases' | 'events';

type Obj = KubeObject & Record<string, unknown> & { metadata: NonNullable<KubeObject['metadata']> & Record<string, unknown> };
type Resource = keyof typeof RESOURCE_TYPES;
interface Change { type: 'ADDED' | 'MODIFIED' | 'DELETED'; collection: string; object: Obj; rv: number }
/** What watches are sent: a change, or (to every watch) a BOOKMARK or an ERROR. */
type WatchEvent = Change | { type: 'BOOKMARK' | 'ERROR'; collection?: undefined; object: unknown };
/** @internal A request as the cluster sees it: what its path and verb say, the object it is about (named in its path, field selector or body), the port it came through, that port's clock, and its caller's signal. */
export interface Parsed { collection: string; resource: Resource; namespace: string; name: string | undefined; verb: NonNullable<RequestMatcher['verb']>; about: string; port: KubeApi; clock: Clock; signal: AbortSignal | undefined }
/** @internal Answers a request; `next` sends it on (through the faults that follow, to the store). */
export type Reactor = (next: () => Promise<string>, request: Parsed) => Promise<string>;
interface Fault { applies: (request: Parsed) => boolean; act: Reactor }

/**
 * An in-memory Kubernetes API behind kubekv's {@link KubeApi} port: give
 * {@link FakeCluster.api} as the `api` option, and the real ConfigMapStore,
 * LeaseElector, Lock and StateManager run on it with nothing swapped but
 * the wire (as client-go's fake clientset swaps only the server).
 * ConfigMaps, Secrets, Leases and Events with real resourceVersions, the
 * API server's 404 / 409 / 410 / 422 answers, merge patches, preconditions
 * and ordered watches, each pinned to the real kube-apiserver by the
 * api-facts suite; faults for the next matching request, and stalled or
 * expired watches. The [testing guide](../../docs/testing.md) lists every
 * guarantee, fault and non-guarantee.
 */
export class FakeCluster {
  /** The port over this cluster: pass it as the `api` option of ConfigMapStore.open, StateManager.start, LeaseElector. */
  readonly api: KubeApi;
  /** @internal A port no fault touches: test controls (MemoryStateManager.elect, ...) write through it, so a fault laid for the code under test is not theirs. */
  readonly controls: KubeApi;
  readonly #clock: Clock;
  #rv = 1000;
  #compactedAt = 0;
  readonly #objects = new Map<string, Obj>();
  readonly #history: Change[] = [];
  /** Every open watch listens for its 'event's here, and stops on 'expire'. */
  readonly #watches = new EventEmitter().setMaxListeners(0);
  /** Faults for one request each (the first that applies is taken). */
  readonly #faults: Fault[] = [];
  /** Reactors laid by {@link react}: every request they apply to passes through them, in order, before any fault. */
  readonly #reactors = new Set<Fault>();
  /** Watches held back, by {@link hold}: each waits while one of these applies to it. */
  readonly #holds = new Set<PromiseWithResolvers<void> & { applies: (watch: Parsed) => boolean }>();
  #resume: (() => void) | undefined;

  /** @param options - see {@link FakeClusterOptions} */
  constructor(options: FakeClusterOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    // Deadlines on the cluster's clock: a held request times out when a ManualClock is advanced.
    this.api = this.connect(this.#clock, options.requestTimeoutMs);
    this.controls = this.connect(this.#clock, undefined, false);
  }

  /** The newest resourceVersion of the cluster. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** The stored object (a copy), or undefined. */
  object(resource: FakeResource, namespace: string, name: string): KubeObject | undefined {
    const object = this.#objects.get(`${RESOURCE_TYPES[resource].prefix}/namespaces/${encodeURIComponent(namespace)}/${resource}/${name}`);
    return object && structuredClone(object);
  }

  /** The next matching write (any request, if `match.verb` names one) is applied (unless `landed: false`) and its caller sees a reset connection: outcome unknown. */
  loseNextAnswer(options: { landed?: boolean; match?: RequestMatcher } = {}): void {
    const matches = matcher(options.match);
    const applies = (p: Parsed) => matches(p) && (options.match?.verb !== undefined || !['get', 'list', 'watch'].includes(p.verb));
    this.#faults.push({ applies, act: async (next) => {
      if (options.landed !== false) await next();
      throw networkError('ECONNRESET', 'answer lost by FakeCluster.loseNextAnswer');
    } });
  }

  /** The next matching request is answered with `status` (an error status, default 503) and nothing is applied. */
  refuseNext(status = 503, options: { match?: RequestMatcher; message?: string } = {}): void {
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new InvalidOptionError('status', status, 'an HTTP error status, 400 to 599');
    this.#faults.push({ applies: matcher(options.match), act: () => Promise.reject(statusError(status, options.message ?? 'refused by FakeCluster.refuseNext')) });
  }

  /** The next matching request waits `ms` on its port's clock (a MemoryStore's: the store's) before it is applied and answered; not at all once its caller gave up. */
  delayNext(ms: number, options: { match?: RequestMatcher } = {}): void {
    if (typeof ms !== 'number' || !(ms >= 0 && ms < Infinity)) throw new InvalidOptionError('ms', ms, 'a non-negative number of milliseconds');
    // As a real request's socket would, a delayed one keeps the process alive (the clock's timers do not), until its caller gives up.
    this.#faults.push({ applies: matcher(options.match), act: (next, p) => keepingProcessAlive(() => sleep(p.clock, ms, p.signal).then(next)) });
  }

  /** Holds every watch event back (watchers see nothing, as over a stalled connection) until {@link resumeWatches}. */
  pauseWatches(): void {
    this.#resume ??= this.hold(() => true);
  }

  /** Delivers what {@link pauseWatches} held back, in order. */
  resumeWatches(): void {
    this.#resume?.();
    this.#resume = undefined;
  }

  /** Sends a BOOKMARK at the current resourceVersion to every open watch. */
  bookmark(): void {
    this.#watches.emit('event', { type: 'BOOKMARK', object: { metadata: { resourceVersion: this.resourceVersion } } });
  }

  /** Forgets the history before now: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.#compactedAt = this.#rv;
    this.#history.length = 0;
  }

  /** Compacts and ends every open watch with a 410 Gone ERROR event, as after an outage longer than the history: watchers relist. */
  expireWatches(): void {
    this.compact();
    this.#watches.emit('event', { type: 'ERROR', object: status(410, 'too old resource version') });
    this.#watches.emit('expire');
  }

  /** @internal A port of its own on `clock`, as a replica's connection: {@link react} and {@link hold} can single out its requests (`port`); faults skip them unless `faulted`. */
  connect(clock: Clock, requestTimeoutMs?: number, faulted = true): KubeApi {
    const port: KubeApi = new WireKubeApi({ sendText: (r) => this.#send(r, port, clock, faulted), open: (r) => this.#open(r, port, clock, faulted) }, { requestTimeoutMs, defaultNamespace: 'default', clock });
    return port;
  }

  /** @internal Lays `react` on every request (not a watch) `applies` to, on its port's way to the cluster (before any fault), until the function returned is called. */
  react(applies: (request: Parsed) => boolean, react: Reactor): () => void {
    const reactor = { applies, act: react };
    this.#reactors.add(reactor);
    return () => void this.#reactors.delete(reactor);
  }

  /** @internal Holds back the events of the watches `applies` to (open or opened later) until the function returned is called; then they come, in order. */
  hold(applies: (watch: Parsed) => boolean): () => void {
    const hold = { applies, ...Promise.withResolvers<void>() };
    this.#holds.add(hold);
    return () => {
      this.#holds.delete(hold);
      hold.resolve();
    };
  }

  async #send(request: KubeRequest, port: KubeApi, clock: Clock, faulted: boolean): Promise<string> {
    const p = await accept(request, port, clock);
    // What a reactor or fault held back on its way reaches the server only if its caller still waits for it.
    const apply = () => new Promise<string>((resolve) => {
      request.signal?.throwIfAborted();
      resolve(this.#apply(p, request));
    });
    const server = () => (faulted ? this.#faulted(p, apply) : apply());
    // The reactors in order, then the request's fault, if any, then the store.
    return [...this.#reactors].filter((r) => r.applies(p)).reduceRight((next: () => Promise<string>, r) => () => r.act(next, p), server)();
  }

  /** `apply` under the first fault that applies to `p` (taken), if any. */
  #faulted(p: Parsed, apply: () => Promise<string>): Promise<string> {
    const index = this.#faults.findIndex((fault) => fault.applies(p));
    if (index < 0) return apply();
    const [fault] = this.#faults.splice(index, 1);
    return fault!.act(apply, p);
  }

  /** One request against the store; the answer's JSON, or HttpStatusError. */
  #apply(p: Parsed, request: KubeRequest): string {
    const key = `${p.collection}/${p.name ?? ''}`;
    const current = p.name === undefined ? undefined : this.#objects.get(key);
    const body = request.body as Obj | undefined;
    const what = `${p.resource} "${p.name ?? body?.metadata?.name ?? ''}"`;
    switch (p.verb) {
      case 'get':
        if (!current) throw statusError(404, `${what} not found`);
        return JSON.stringify(current);
      case 'list': {
        const items = this.#objectsIn(p.collection).filter((o) => selected(o, request.query));
        if (request.accept?.includes('as=PartialObjectMetadataList')) {
          const metadata = items.map((o) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }));
          return JSON.stringify({ kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: this.resourceVersion }, items: metadata });
        }
        return JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: this.resourceVersion }, items });
      }
      case 'create': {
        const name = body?.metadata?.name ?? '';
        if (this.#objects.has(`${p.collection}/${name}`)) throw statusError(409, `${p.resource} "${name}" already exists`);
        const fresh = p.resource === 'secrets' ? withSecretDefaults(body!) : body!;
        return this.#store('ADDED', p, name, { ...fresh, metadata: { ...body!.metadata, uid: crypto.randomUUID(), creationTimestamp: new Date(this.#clock.now()).toISOString() } });
      }
      case 'update':
      case 'patch': {
        if (!current) throw statusError(404, `${what} not found`);
        let next = p.verb === 'update' ? structuredClone(body!) : mergePatch(current, request.body) as Obj;
        if (p.resource === 'secrets') {
          next = withSecretDefaults(next);
          if (next['type'] !== current['type']) throw statusError(422, `Secret "${p.name!}" is invalid: type: Invalid value: "${String(next['type'])}": field is immutable`);
        }
        const expected = next.metadata?.resourceVersion;
        // A PUT or a merge patch naming a resourceVersion is a precondition.
        if (expected && expected !== current.metadata.resourceVersion) {
          throw statusError(409, `Operation cannot be fulfilled on ${what}: the object has been modified; please apply your changes to the latest version and try again`);
        }
        // The API server refuses any change of an immutable ConfigMap's or Secret's data (and making it mutable again).
        if (holdsData(current) && current['immutable'] === true && !sameContent(current, next)) {
          throw statusError(422, `${RESOURCE_TYPES[p.resource].kind} "${p.name!}" is invalid: data: Forbidden: field is immutable when \`immutable\` is set`);
        }
        return this.#store('MODIFIED', p, p.name!, { ...next, metadata: { ...next.metadata, uid: current.metadata.uid, creationTimestamp: current.metadata['creationTimestamp'] } });
      }
      case 'delete': {
        if (!current) throw statusError(404, `${what} not found`);
        const pre = (body as { preconditions?: { resourceVersion?: string; uid?: string } } | undefined)?.preconditions ?? {};
        if ((pre.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) || (pre.uid && pre.uid !== current.metadata.uid)) {
          throw statusError(409, `Operation cannot be fulfilled on ${what}: the precondition failed`);
        }
        this.#objects.delete(key);
        const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.#rv) } };
        this.#record({ type: 'DELETED', collection: p.collection, object: gone, rv: this.#rv });
        return JSON.stringify(gone);
      }
      default:
        throw statusError(405, `${p.verb} is not served here`);
    }
  }

  /** Stores `object` under a new resourceVersion, in the server's field order (kind, apiVersion, metadata first). */
  #store(type: 'ADDED' | 'MODIFIED', p: Parsed, name: string, object: Obj): string {
    const { kind, apiVersion } = RESOURCE_TYPES[p.resource];
    const { name: _n, namespace: _ns, uid, resourceVersion: _rv, ...meta } = object.metadata;
    const { kind: _k, apiVersion: _a, metadata: _m, ...rest } = object;
    const stored = { kind, apiVersion, metadata: { name, namespace: p.namespace, uid, resourceVersion: String(this.#rv + 1), ...prune(meta) }, ...prune(rest) } as Obj;
    if (holdsData(stored)) validateData(stored);
    // As etcd's GuaranteedUpdate: a write that changes nothing stores nothing, and is answered with the object as it is.
    const current = this.#objects.get(`${p.collection}/${name}`);
    if (type === 'MODIFIED' && current && sameJson({ ...stored, metadata: { ...stored.metadata, resourceVersion: current.metadata.resourceVersion } }, current)) return JSON.stringify(current);
    this.#rv++;
    this.#objects.set(`${p.collection}/${name}`, stored);
    this.#record({ type, collection: p.collection, object: stored, rv: this.#rv });
    return JSON.stringify(stored);
  }

  #record(change: Change): void {
    this.#history.push(change);
    this.#watches.emit('event', change);
  }

  #objectsIn(collection: string): Obj[] {
    return [...this.#objects].filter(([key]) => key.startsWith(`${collection}/`)).map(([, object]) => object);
  }

  async #open(request: KubeRequest, port: KubeApi, clock: Clock, faulted: boolean): Promise<KubeStream> {
    const p = await accept(request, port, clock);
    if (faulted) await this.#faulted(p, () => Promise.resolve(''));
    const from = Number(request.query?.['resourceVersion'] || 0);
    if (from > 0 && from < this.#compactedAt) {
      const text = JSON.stringify(status(410, `too old resource version: ${from} (${this.#compactedAt})`));
      return { status: 410, body: (async function* () {})(), text: () => Promise.resolve(text) };
    }
    // Listening before the backlog is read: no change falls between the two.
    const live = on(this.#watches, 'event', { signal: request.signal, close: ['expire'] });
    const backlog = from > 0 ? this.#history.filter((change) => change.rv > from)
      : this.#objectsIn(p.collection).map((object) => ({ type: 'ADDED' as const, collection: p.collection, object, rv: Number(object.metadata.resourceVersion) }));
    return { status: 200, body: this.#lines(p, request.query, backlog, live, request.signal), text: () => Promise.reject(new Error('a watch body is read as a stream')) };
  }

  /**
   * A watch's lines: `backlog`, then the events `live` brings, those it
   * selects, each held back while a hold applies to the watch; it ends,
   * held or not, once `signal` aborts, as a watcher that stops (or
   * reconnects) waits for its stream to end.
   */
  async *#lines(p: Parsed, query: KubeRequest['query'], backlog: Change[], live: AsyncIterable<unknown[]>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    async function* events(): AsyncGenerator<WatchEvent> {
      yield* backlog;
      for await (const [event] of live) yield event as WatchEvent;
    }
    const aborted = new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
    const held = () => [...this.#holds].find((hold) => hold.applies(p))?.promise;
    for await (const event of events()) {
      for (let wait = held(); wait && !signal?.aborted; wait = held()) await Promise.race([wait, aborted]);
      if (signal?.aborted) return;
      const selects = event.collection === undefined || (event.collection === p.collection && selected(event.object, query));
      if (selects) yield Buffer.from(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
    }
  }
}

/** @internal A network error as undici gives one: a refused connection (nothing sent) or a reset (outcome unknown). */
export function networkError(code: 'ECONNREFUSED' | 'ECONNRESET', why: string): Error {
  return Object.assign(new Error(`${code} (${why})`), { code });
}

/** `request` through `port` (on `clock`), parsed, once it has reached the cluster (a tick later, as over a connection) unaborted; 404 for a resource not served. */
async function accept(request: KubeRequest, port: KubeApi, clock: Clock): Promise<Parsed> {
  await Promise.resolve();
  request.signal?.throwIfAborted();
  const [, prefix, namespace, resource, name] = /^(.*)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(request.path) ?? [];
  if (!Object.hasOwn(RESOURCE_TYPES, resource ?? '') || RESOURCE_TYPES[resource as Resource].prefix !== prefix) {
    throw statusError(404, `the server could not find the requested resource (${request.path})`);
  }
  const collection = `${prefix}/namespaces/${namespace}/${resource}`;
  const watching = request.query?.['watch'] === true || request.query?.['watch'] === 'true';
  const verbs = { GET: name ? 'get' : watching ? 'watch' : 'list', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as const;
  const named = name && decodeURIComponent(name);
  const selectedName = /metadata\.name=([^,]+)/.exec(String(request.query?.['fieldSelector']))?.[1];
  const about = named ?? selectedName ?? (request.body as Obj | undefined)?.metadata?.name ?? '';
  return { collection, resource: resource as Resource, namespace: decodeURIComponent(namespace!), name: named, verb: verbs[request.method], about, port, clock, signal: request.signal };
}

/** Whether a request is one `match` names (InvalidOptionError for a field no request has). */
function matcher(match: RequestMatcher = {}): (p: Parsed) => boolean {
  if (typeof match !== 'object' || match === null) throw new InvalidOptionError('match', match, 'an object: { verb?, resource?, name? }');
  const verbs = ['get', 'list', 'create', 'update', 'patch', 'delete', 'watch', undefined];
  if (!verbs.includes(match.verb)) throw new InvalidOptionError('match.verb', match.verb, `one of ${verbs.slice(0, -1).join(', ')}`);
  if (match.resource !== undefined && !Object.hasOwn(RESOURCE_TYPES, match.resource)) throw new InvalidOptionError('match.resource', match.resource, `one of ${Object.keys(RESOURCE_TYPES).join(', ')}`);
  return (p) => (match.verb === undefined || match.verb === p.verb) && (match.resource === undefined || match.resource === p.resource) && (match.name === undefined || match.name === p.name);
}

/** Equality field (metadata.name=) and label selectors (`k=v`, `k`, `!k`), comma-separated. */
function selected(object: Obj, query: KubeRequest['query']): boolean {
  const field = String(query?.['fieldSelector'] ?? '');
  const label = String(query?.['labelSelector'] ?? '');
  const pairs = (selector: string) => selector.split(',').filter(Boolean).map((term) => term.split('=') as [string, string | undefined]);
  const labels = object.metadata.labels ?? {};
  return pairs(field).every(([k, v]) => k === 'metadata.name' ? object.metadata.name === v : k === 'metadata.namespace' ? object.metadata.namespace === v : false)
    && pairs(label).every(([k, v]) => v !== undefined ? labels[k] === v : k.startsWith('!') ? !Object.hasOwn(labels, k.slice(1)) : Object.hasOwn(labels, k));
}

/** True when `a` and `b` are the same JSON, whatever their keys' order. */
function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
}

/** True when two objects hold the same data, binaryData and immutability (what an immutable one may not change). */
function sameContent(a: Obj, b: Obj): boolean {
  const same = (field: string) => isDeepStrictEqual({ ...(a[field] as object) }, { ...(b[field] as object) });
  return same('data') && same('binaryData') && b['immutable'] === true;
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch);
  // Null prototype: a key named __proto__ is data, as it is to the API server.
  const out = Object.assign(Object.create(null) as Record<string, unknown>, typeof target === 'object' && target !== null && !Array.isArray(target) ? target : {});
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** Drops empty maps, as the API server omits them. */
function prune<T extends Record<string, unknown>>(fields: T): T {
  const empty = (value: unknown) => value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => !empty(value))) as T;
}

/** A Secret as the API server stores it: `stringData` merged into `data` (base64) and dropped, `type` Opaque when unset. */
function withSecretDefaults(object: Obj): Obj {
  const { stringData, ...rest } = object as Obj & { stringData?: Record<string, string> };
  const data = Object.assign(Object.create(null) as Record<string, string>, rest['data'] as Record<string, string> | undefined);
  for (const [key, text] of Object.entries(stringData ?? {})) data[key] = Buffer.from(text, 'utf8').toString('base64');
  return { ...rest, data: { ...data }, type: (rest['type']) ?? 'Opaque' };
}

/** Whether `object` is a ConfigMap or a Secret, whose values the API server checks. */
function holdsData(object: Obj): boolean {
  return object.kind === 'ConfigMap' || object.kind === 'Secret';
}

/** The API server's validation of a ConfigMap's or Secret's values (422 when it fails): a Secret's are base64; at most 1 MiB of them, decoded. */
function validateData(object: Obj): void {
  const [data, binaryData] = [object['data'], object['binaryData']] as Array<Record<string, string> | undefined>;
  const secret = object.kind === 'Secret';
  for (const [key, value] of Object.entries(secret ? (data ?? {}) : {})) {
    if (Buffer.from(value, 'base64').toString('base64') !== value) throw statusError(422, `Secret "${object.metadata.name}" is invalid: data[${key}]: Invalid value: illegal base64 data`);
  }
  // A Secret's data is base64, as a ConfigMap's binaryData: counted decoded.
  if ((secret ? dataSize(undefined, data) : dataSize(data, binaryData)) > MAX_DATA_BYTES) {
    throw statusError(422, `${String(object.kind)} "${object.metadata.name}" is invalid: ${secret ? 'data' : '[]'}: Too long: must have at most ${MAX_DATA_BYTES} bytes`);
  }
}

function status(code: number, message: string): Record<string, unknown> {
  const reasons: Record<number, string> = { 404: 'NotFound', 409: 'Conflict', 410: 'Expired', 422: 'Invalid', 503: 'ServiceUnavailable' };
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: reasons[code] ?? 'Unknown', code };
}

function statusError(code: number, message: string): HttpStatusError {
  return new HttpStatusError(code, JSON.stringify(status(code, message)));
}
