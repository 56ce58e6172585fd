/**
 * Where an election keeps its record: a small lock interface (the shape of
 * client-go's resourcelock.Interface, plus a watch) and its implementation
 * over a coordination.k8s.io/v1 Lease.
 *
 * Guarantees:
 * - Every write is conditional: `create` fails if the Lease exists, `update`
 *   sends the resourceVersion the caller read. Losing either race is a result
 *   (`{ ok: false, reason: 'conflict' }`), not an exception, because for an
 *   elector a lost race is an ordinary outcome, not a failure.
 * - The record fields are written exactly as client-go writes them
 *   (holderIdentity, leaseDurationSeconds, acquireTime, renewTime,
 *   leaseTransitions; MicroTime as V1MicroTime), so kubekv and client-go
 *   electors can share one Lease. An `update` keeps the Lease's other spec
 *   fields (strategy; preferredHolder unless the record sets or clears it)
 *   and its metadata, as client-go does: it is always built on the exact
 *   object at the version it replaces (read first if not remembered), never
 *   on a reconstruction.
 * - The record's two kubekv additions travel in annotations (see
 *   {@link HOLDER_ADDRESS_ANNOTATION}, {@link PREFERRED_HOLDER_ANNOTATION}),
 *   each bound to the record state it belongs to, so a client-go writer that
 *   leaves them in place never makes them lie.
 * - Every other failure is a KubekvError from src/kube/errors.ts.
 *
 * Non-guarantees: the watch may lag behind reads and writes and may repeat
 * events after a reconnect; consumers compare resourceVersions (see
 * {@link compareResourceVersions}).
 */
import { systemClock, type Clock } from '../clock.js';
import type { KubekvError } from '../errors.js';
import { resolveAccess, type KubeApi, type ResourceClient, type WriteResult } from '../kube/api.js';
import { ObjectWatcher } from '../kube/object-watcher.js';
import type { KubeConfig, LeaseObject, LeaseSpec } from '../kube/types.js';
import type { Logger } from '../logger.js';

/** The election record, field for field what client-go keeps in a Lease's spec. */
export interface LeaseRecord {
  /** Identity of the holder; "" when the Lease was released. */
  holderIdentity: string;
  /** How long, in seconds, others must see the record unchanged before they may take it over. */
  leaseDurationSeconds: number;
  /** Wall time the current holder acquired the Lease (the holder's clock). */
  acquireTime: Date | undefined;
  /** Wall time of the holder's last renewal (the holder's clock; never compared with the local clock). */
  renewTime: Date | undefined;
  /** Number of times the Lease changed hands. */
  leaseTransitions: number;
  /**
   * The identity the holder should hand the Lease to: spec.preferredHolder
   * (set by a kubekv handoff, by kubectl, or by the apiserver's coordinated
   * election), else the {@link PREFERRED_HOLDER_ANNOTATION} annotation while
   * it is current; absent when none. On a write: undefined keeps what the
   * Lease has, '' clears it, an identity sets it.
   */
  preferredHolder?: string | undefined;
  /**
   * Where the holder can be reached (its `advertise` option), kept in the
   * {@link HOLDER_ADDRESS_ANNOTATION} annotation, not the spec: the Lease
   * spec has no field for it. Read back only while the annotation names the
   * current holder (a client-go holder keeps a stale one as it is).
   */
  holderAddress?: string | undefined;
  /**
   * True when someone (`kubekv leader <name> --resign`) asked the current
   * holder to step down: the {@link STEP_DOWN_ANNOTATION} names this holder
   * and this leaseTransitions. Read only; a write keeps the annotation as
   * it is, and the release (another holder) makes it stale.
   */
  stepDownRequested?: boolean | undefined;
}

/** A record as read or written, with the resourceVersion a later update must name. */
export interface LeaseSnapshot {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
  /** The Lease object's uid, when known (Events regarding the Lease carry it). */
  readonly uid?: string | undefined;
  /** The Lease's annotations, when known. */
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/** Outcome of a conditional write: the new snapshot, or the race that was lost. */
export type LeaseWriteResult =
  | { ok: true; lease: LeaseSnapshot }
  | { ok: false; reason: 'conflict' | 'not-found' };

/** Receives what a lock's watch sees. */
export interface LeaseObserver {
  /**
   * The record's current state: a snapshot, or undefined when the Lease does
   * not exist. `resourceVersion` is the object's (or, for a list or a
   * deletion, the collection's) and orders observations.
   */
  onLease(lease: LeaseSnapshot | undefined, resourceVersion: string | undefined): void;
  /** A failure the watch is retrying; until it recovers, observations may be stale. */
  onError?(error: KubekvError): void;
}

/** A running watch of the record. */
export interface LeaseWatch {
  /** Stops the watch and waits for it to end. */
  stop(): Promise<void>;
}

/** Storage of one election record; every write is a CAS. */
export interface LeaseLock {
  /** Reads the record (a quorum read); undefined when the Lease does not exist. */
  get(signal?: AbortSignal): Promise<LeaseSnapshot | undefined>;
  /** Creates the Lease with `record`; 'conflict' when it already exists. */
  create(record: LeaseRecord, signal?: AbortSignal): Promise<LeaseWriteResult>;
  /** Replaces the record if the Lease is still at `resourceVersion`; 'conflict' otherwise, 'not-found' if it is gone. */
  update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<LeaseWriteResult>;
  /**
   * Moves the Lease on to a new resourceVersion without changing its record
   * (an annotation changes), if it is still at `resourceVersion`. A write
   * still in flight on that version can then never apply. Electors judge
   * expiry by the record, so this does not extend anyone's lease.
   */
  touch(resourceVersion: string, signal?: AbortSignal): Promise<LeaseWriteResult>;
  /** Follows the record; the first call of `onLease` reports the current state. */
  watch(observer: LeaseObserver): LeaseWatch;
  /** "lease <namespace>/<name>", for logs and errors. */
  describe(): string;
}

/**
 * Orders two resourceVersions: negative, zero or positive as `a` is older,
 * the same or newer. Kubernetes documents them as integers comparable within
 * one resource type from 1.35; for anything that is not a decimal integer only
 * equality is known, and different values count as newer (a fresh read wins).
 */
export function compareResourceVersions(a: string, b: string): number {
  if (a === b) return 0;
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) < BigInt(b) ? -1 : 1;
  return 1;
}

/** Options of {@link KubeLeaseLock}. */
export interface KubeLeaseLockOptions {
  /** The port to Kubernetes; default the HTTP api of `kubeConfig`. */
  api?: KubeApi | undefined;
  /** Cluster access when no `api` is given. */
  kubeConfig?: KubeConfig | undefined;
  namespace: string;
  /** Lease name. */
  name: string;
  /** Labels the Lease gets when this lock creates it (an existing Lease's labels are kept as they are). */
  labels?: Record<string, string> | undefined;
  /** Annotations the Lease gets when this lock creates it (an existing Lease's annotations are kept as they are). */
  annotations?: Record<string, string> | undefined;
  /**
   * Annotations this lock writes with every record that names a holder
   * (create, acquire, renew), and removes with a release (empty holder):
   * what the holder publishes about itself (a lock's value).
   */
  holderAnnotations?: Record<string, string> | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
}

/**
 * Annotation carrying the holder's address, as JSON `{"holder", "address"}`.
 * An annotation because the Lease spec has no free field and a record field
 * of our own would be dropped by client-go, which replaces the whole spec on
 * each write; client-go keeps annotations (it writes back the object it
 * read), so the annotation names the holder it belongs to, and a reader
 * trusts it only while that is the holder.
 */
export const HOLDER_ADDRESS_ANNOTATION = 'kubekv.dev/holder-address';

/**
 * Annotation carrying a preferred holder, as JSON `{"holder",
 * "leaseTransitions"}`, written beside spec.preferredHolder. Why: an API
 * server without the CoordinatedLeaderElection feature gate (off by
 * default through Kubernetes 1.36) drops spec.preferredHolder on write, so
 * on most clusters the annotation is what carries a handoff. It counts only
 * while the record's leaseTransitions is the one it names: the next
 * acquisition (by anyone, client-go included, which keeps annotations as
 * they are) makes it stale without having to remove it.
 */
export const PREFERRED_HOLDER_ANNOTATION = 'kubekv.dev/preferred-holder';

/**
 * Annotation asking the holder to step down, as JSON `{"holder",
 * "leaseTransitions"}`: it counts only while both still describe the
 * record, so it addresses one leadership period and never a later one.
 */
export const STEP_DOWN_ANNOTATION = 'kubekv.dev/step-down';

/** Annotation touch() changes: a new resourceVersion without a new record. */
export const TOUCH_ANNOTATION = 'kubekv.dev/fenced-write';
/** How many recent objects to keep so an update can usually carry the version it replaces without reading it first. */
const keptVersions = 8;

/** A {@link LeaseLock} over a coordination.k8s.io/v1 Lease, through the {@link KubeApi} port. */
export class KubeLeaseLock implements LeaseLock {
  readonly #leases: ResourceClient<LeaseObject>;
  readonly #o: KubeLeaseLockOptions;
  readonly #clock: Clock;
  // The objects last seen, by resourceVersion: a PUT replaces the whole object,
  // so it must carry that version's labels, annotations and other spec fields
  // or it would erase them. A version no longer here is read (see #base).
  readonly #seen = new Map<string, LeaseObject>();
  #touches = 0;

  /** @param options - see {@link KubeLeaseLockOptions}; no request is made here */
  constructor(options: KubeLeaseLockOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#leases = resolveAccess(options).api.leases(options.namespace);
  }

  describe(): string {
    return `lease ${this.#o.namespace}/${this.#o.name}`;
  }

  async get(signal?: AbortSignal): Promise<LeaseSnapshot | undefined> {
    const lease = await this.#leases.get(this.#o.name, { signal });
    return lease && this.#snapshot(lease);
  }

  async create(record: LeaseRecord, signal?: AbortSignal): Promise<LeaseWriteResult> {
    const { name, labels } = this.#o;
    const annotations = withRecordAnnotations(this.#annotationsFor(record, this.#o.annotations), record);
    return this.#result(await this.#leases.create({ metadata: { name, labels, annotations }, spec: toSpec(record, false) }, { signal }));
  }

  async update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<LeaseWriteResult> {
    const base = await this.#base(resourceVersion, signal);
    if (!base.ok) return base;
    // The whole object of that version with only the record replaced: a PUT
    // writes every field it carries, so labels, annotations and the spec
    // fields we do not own (strategy, preferredHolder) must come from it.
    const body: LeaseObject = {
      ...base.object,
      metadata: {
        ...base.object.metadata,
        annotations: withRecordAnnotations(this.#annotationsFor(record, base.object.metadata?.annotations), record),
        name: this.#o.name,
        resourceVersion,
      },
      spec: { ...base.object.spec, ...toSpec(record, base.object.spec?.strategy !== undefined) },
    };
    return this.#result(await this.#leases.update(body, { signal }));
  }

  async touch(resourceVersion: string, signal?: AbortSignal): Promise<LeaseWriteResult> {
    const base = this.#seen.get(resourceVersion) ?? (await this.#leases.get(this.#o.name, { signal }).catch(() => undefined));
    if (!base || base.metadata?.resourceVersion !== resourceVersion) return { ok: false, reason: 'conflict' };
    this.#touches++;
    const annotations = { ...base.metadata?.annotations, [TOUCH_ANNOTATION]: `${this.#clock.now()}-${this.#touches}` };
    return this.#result(await this.#leases.update({ ...base, metadata: { ...base.metadata, annotations, name: this.#o.name, resourceVersion } }, { signal }));
  }

  watch(observer: LeaseObserver): LeaseWatch {
    const watcher = new ObjectWatcher<LeaseObject>({
      api: this.#leases,
      name: this.#o.name,
      onSync: (object, rv) => observer.onLease(object ? this.#snapshot(object) : undefined, rv),
      onEvent: (type, object) => {
        if (type === 'DELETED') observer.onLease(undefined, object.metadata?.resourceVersion);
        else observer.onLease(this.#snapshot(object), object.metadata?.resourceVersion);
      },
      onError: (error) => observer.onError?.(error),
      ...(this.#o.clock ? { clock: this.#o.clock } : {}),
      ...(this.#o.logger ? { logger: this.#o.logger } : {}),
    });
    watcher.start();
    return { stop: () => watcher.stop() };
  }

  /**
   * The object an update to `resourceVersion` replaces: the one remembered at
   * that version, else read now. A read that finds the Lease at another
   * version (or gone) answers as the PUT's precondition would have, 409 or
   * 404, and nothing is written: a body rebuilt from anything but that exact
   * version would erase what others set (annotations, spec.strategy,
   * spec.preferredHolder) if it landed.
   */
  async #base(resourceVersion: string, signal: AbortSignal | undefined): Promise<WriteResult<LeaseObject>> {
    const seen = this.#seen.get(resourceVersion);
    if (seen) return { ok: true, object: seen };
    const current = await this.#leases.get(this.#o.name, { signal });
    if (!current) return { ok: false, reason: 'not-found' };
    this.#snapshot(current);
    return current.metadata?.resourceVersion === resourceVersion ? { ok: true, object: current } : { ok: false, reason: 'conflict' };
  }

  /** `annotations` with this lock's holder annotations set (a record naming a holder) or removed (a release). */
  #annotationsFor(record: LeaseRecord, annotations: Record<string, string> | undefined): Record<string, string> | undefined {
    const own = this.#o.holderAnnotations;
    if (!own) return annotations;
    const next = { ...annotations };
    for (const [key, value] of Object.entries(own)) {
      if (record.holderIdentity === '') delete next[key];
      else next[key] = value;
    }
    return Object.keys(next).length > 0 ? next : undefined;
  }

  #result(result: WriteResult<LeaseObject>): LeaseWriteResult {
    return result.ok ? { ok: true, lease: this.#snapshot(result.object) } : result;
  }

  #snapshot(lease: LeaseObject): LeaseSnapshot {
    const resourceVersion = lease.metadata?.resourceVersion ?? '';
    this.#seen.set(resourceVersion, lease);
    if (this.#seen.size > keptVersions) this.#seen.delete(this.#seen.keys().next().value!);
    const record = fromSpec(lease.spec);
    const address = holderAddressOf(lease.metadata?.annotations, record.holderIdentity);
    if (address !== undefined) record.holderAddress = address;
    const preferred = record.preferredHolder ?? preferredHolderOf(lease.metadata?.annotations, record.leaseTransitions);
    if (preferred !== undefined) record.preferredHolder = preferred;
    if (stepDownRequested(lease.metadata?.annotations, record)) record.stepDownRequested = true;
    return { record, resourceVersion, uid: lease.metadata?.uid, annotations: lease.metadata?.annotations };
  }
}

/**
 * `annotations` for writing `record`: the holder address set for its holder
 * (removed when it has none), the preferred holder set, removed (''), or
 * kept as it is (undefined).
 */
function withRecordAnnotations(annotations: Record<string, string> | undefined, record: LeaseRecord): Record<string, string> | undefined {
  const { [HOLDER_ADDRESS_ANNOTATION]: _address, ...rest } = annotations ?? {};
  if (record.holderAddress !== undefined && record.holderIdentity !== '') {
    rest[HOLDER_ADDRESS_ANNOTATION] = JSON.stringify({ holder: record.holderIdentity, address: record.holderAddress });
  }
  if (record.preferredHolder === '') delete rest[PREFERRED_HOLDER_ANNOTATION];
  else if (record.preferredHolder !== undefined) {
    rest[PREFERRED_HOLDER_ANNOTATION] = JSON.stringify({ holder: record.preferredHolder, leaseTransitions: record.leaseTransitions });
  }
  return Object.keys(rest).length > 0 || annotations ? rest : undefined;
}

/** The preferred holder the annotation names while the record is at `leaseTransitions`; undefined otherwise. */
export function preferredHolderOf(annotations: Record<string, string> | undefined, leaseTransitions: number): string | undefined {
  const parsed = parseAnnotation(annotations?.[PREFERRED_HOLDER_ANNOTATION]);
  if (!parsed) return undefined;
  const { holder, leaseTransitions: at } = parsed as { holder?: unknown; leaseTransitions?: unknown };
  return at === leaseTransitions && typeof holder === 'string' && holder !== '' ? holder : undefined;
}

/** True when the step-down annotation names `record`'s holder and leaseTransitions. */
export function stepDownRequested(annotations: Record<string, string> | undefined, record: Pick<LeaseRecord, 'holderIdentity' | 'leaseTransitions'>): boolean {
  const parsed = parseAnnotation(annotations?.[STEP_DOWN_ANNOTATION]) as { holder?: unknown; leaseTransitions?: unknown } | undefined;
  return record.holderIdentity !== '' && parsed?.holder === record.holderIdentity && parsed.leaseTransitions === record.leaseTransitions;
}

function parseAnnotation(raw: string | undefined): object | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    // Someone else's edit: nothing, rather than something wrong.
    return undefined;
  }
}

/** The address the annotation gives for `holder`; undefined when it is absent, unreadable or names another holder. Also used by the CLI. */
export function holderAddressOf(annotations: Record<string, string> | undefined, holder: string): string | undefined {
  const parsed = holder === '' ? undefined : parseAnnotation(annotations?.[HOLDER_ADDRESS_ANNOTATION]);
  if (!parsed) return undefined;
  const { holder: named, address } = parsed as { holder?: unknown; address?: unknown };
  return named === holder && typeof address === 'string' ? address : undefined;
}

/**
 * The spec client-go writes for a record (LeaderElectionRecordToLeaseSpec).
 * spec.preferredHolder only where the Lease has a `strategy`: with the
 * CoordinatedLeaderElection gate on, the API server refuses (422) a
 * preferredHolder without one, and with the gate off it drops it; kubekv's
 * annotation carries the preference either way.
 */
function toSpec(record: LeaseRecord, hasStrategy: boolean): LeaseSpec {
  // MicroTime on the wire has six fractional digits: a plain Date's JSON
  // (three) is refused by the API server with 400.
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: microTime(record.acquireTime),
    renewTime: microTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
    // Absent keeps the replaced spec's (an update spreads this over it);
    // present but undefined drops the field from the JSON, which clears it.
    ...(record.preferredHolder === undefined ? {} : { preferredHolder: (hasStrategy && record.preferredHolder) || undefined }),
  } as LeaseSpec;
}

/** The record in a spec (LeaseSpecToLeaderElectionRecord); absent numbers read as 0, as in client-go. Also used by the CLI. */
export function fromSpec(spec: LeaseSpec | undefined): LeaseRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: parseTime(spec?.acquireTime),
    renewTime: parseTime(spec?.renewTime),
    leaseTransitions: spec?.leaseTransitions ?? 0,
    ...(spec?.preferredHolder ? { preferredHolder: spec.preferredHolder } : {}),
  };
}

// Read back (and in watch events), MicroTime fields arrive as the wire strings
// ("2006-01-02T15:04:05.000000Z"), not as Dates, whatever the types say.
function parseTime(value: unknown): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** A MicroTime as the API server writes it: RFC 3339 with six fractional digits. */
function microTime(date: Date | undefined): string | undefined {
  return date ? date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') : undefined;
}
