/**
 * MemoryCluster, what the MemoryStores and MemoryStateManagers of a test
 * share (a FakeCluster), and Replica, what each of them talks through: a
 * port and a clock of its own, so the faults its controls lay hit its own
 * requests, below the real code, as a network fault would.
 *
 * @module
 */
import { systemClock, type Clock } from '../clock.js';
import { WireKubeApi, type KubeApi, type KubeWire } from '../kube/api.js';
import { InvalidOptionError } from '../errors.js';
import { HttpStatusError } from '../kube/errors.js';
import type { KubeRequest, KubeStream } from '../kube/transport.js';
import { FakeCluster, gate, networkError, parse } from './fake-cluster.js';
import { ManualClock } from './manual-clock.js';

/**
 * A simulated control plane: give the same one to every MemoryStore and
 * MemoryStateManager that should see one another (replicas of an app, a
 * reader of a bucket); without one, each opens its own. Two share nothing.
 */
export class MemoryCluster {
  /** The API server underneath: its objects, and faults that hit every replica's requests (see {@link FakeCluster}). */
  readonly fake = new FakeCluster();
  /** @internal The replicas of the MemoryStateManagers on this cluster that are not closed. */
  readonly replicas = new Set<Replica>();
}

/** A Replica on `options.cluster` (else a new one), for MemoryStore.open and MemoryStateManager.start. */
export function openReplica(options: { cluster?: MemoryCluster | undefined; clock?: Clock | undefined }): Replica {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object with at least `name`');
  const cluster = options.cluster ?? new MemoryCluster();
  if (!(cluster instanceof MemoryCluster)) throw new InvalidOptionError('cluster', cluster, 'a MemoryCluster');
  return new Replica(cluster, options.clock);
}

/** Answers for the request it holds up; `send` sends it on. */
export type Fault = (send: () => Promise<string>) => Promise<string>;

/** One store's or replica's way to its cluster; objects are named `<resource>/<name>`, e.g. `leases/app-leader`. */
export class Replica {
  /** The port and the clock the real components get. */
  readonly api: KubeApi;
  readonly clock: ManualClock;
  /** While true, its creates and updates of `lease` are answered 409, as if another replica always won the race. */
  holdLease = false;
  lease = '';
  /** Whether it leads (a MemoryStateManager's). */
  leads = (): boolean => false;
  readonly #wire: KubeWire;
  readonly #faults = new Map<string, Fault[]>();
  readonly #cut = new Set<string>();
  readonly #paused = new Map<string, PromiseWithResolvers<void>>();

  constructor(readonly cluster: MemoryCluster, clock: Clock = systemClock) {
    this.#wire = cluster.fake.wire;
    this.clock = ManualClock.following(clock);
    this.api = new WireKubeApi({ sendText: (r) => this.#send(r), open: (r) => this.#open(r) }, { defaultNamespace: 'default', clock: this.clock });
  }

  /** Queues `fault` for this replica's next PATCH of `object` (null: drops those not used yet). */
  onNextPatch(object: string, fault: Fault | null): void {
    this.#faults.set(object, fault ? [...(this.#faults.get(object) ?? []), fault] : []);
  }

  /** Refuses connections for every request about `object` (true), or no longer. */
  cut(object: string, on?: boolean): boolean {
    if (on !== undefined) this.#cut[on ? 'add' : 'delete'](object);
    return this.#cut.has(object);
  }

  /** Holds back the watch events about `object` (true), as a stalled connection would, or delivers them, in order. */
  pause(object: string, on: boolean): void {
    if (on && !this.#paused.has(object)) this.#paused.set(object, Promise.withResolvers());
    if (!on) this.#paused.get(object)?.resolve();
    if (!on) this.#paused.delete(object);
  }

  async #send(request: KubeRequest): Promise<string> {
    const object = objectOf(request);
    if (this.#cut.has(object)) return Promise.reject(networkError('ECONNREFUSED', 'cut off by a MemoryStore fault'));
    // A paused process that makes a request again is awake: it sees what it missed.
    if (object.startsWith('leases/')) this.pause(object, false);
    if (this.holdLease && object === this.lease && request.method !== 'GET') return Promise.reject(new HttpStatusError(409, '{"message":"another replica won"}'));
    const fault = request.method === 'PATCH' ? this.#faults.get(object)?.shift() : undefined;
    return fault ? fault(() => this.#wire.sendText(request)) : this.#wire.sendText(request);
  }

  async #open(request: KubeRequest): Promise<KubeStream> {
    const [stream, object] = [await this.#wire.open(request), objectOf(request)];
    return { ...stream, body: gate(stream.body, () => this.#paused.get(object)?.promise, request.signal) };
  }
}

/** `<resource>/<name>` of a request: the object in its path, its body (a create) or its field selector (a list, a watch). */
function objectOf(request: KubeRequest): string {
  const { resource, name } = parse(request);
  const selected = /metadata\.name=([^,]+)/.exec(String(request.query?.['fieldSelector']))?.[1];
  return `${resource}/${name ?? selected ?? ((request.body as { metadata?: { name?: string } } | undefined)?.metadata?.name ?? '')}`;
}

/** Waits (in real time, at most about 5 s) until `check()` holds; the caller asserts what it needs. */
export async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, i < 50 ? 0 : 5));
}
