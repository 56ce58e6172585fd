/**
 * A LeaseCandidate (coordination.k8s.io/v1beta1, KEP-4355) for coordinated
 * leader election: the API server's leader election controller picks the
 * holder of a Lease among its candidates (by default the oldest emulation
 * version, then binary version) and writes it into the Lease itself. What
 * a candidate does, as client-go's leasecandidate.go does it: create its
 * LeaseCandidate (or renew an existing one), renew it whenever the
 * controller pings it (spec.pingTime after spec.renewTime), and every 5
 * minutes regardless. kubekv also deletes it on stop(), so the controller
 * stops considering a replica that has gone at once.
 *
 * Non-guarantees: the controller's choice and timing are the API server's;
 * this module only keeps the candidacy current. Failures of a renewal are
 * retried with backoff and reported (onError), never thrown.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { ApiError, InvalidOptionError, type KubekvError } from '../errors.js';
import type { ResourceClient } from '../kube/api.js';
import { ObjectWatcher } from '../kube/object-watcher.js';
import type { LeaseCandidateObject } from '../kube/types.js';
import { silentLogger, type Logger } from '../logger.js';

/** client-go's requeueInterval: a candidate renews at least this often, in ms. */
const RENEW_EVERY_MS = 5 * 60_000;
/** Retry delay after a failed renewal, in ms. */
const RETRY_MS = 2_000;

/** What a coordinated contender declares (LeaseElectorOptions.coordinated). */
export interface CoordinatedOptions {
  /** This replica's binary version, e.g. "1.36.0" (the controller prefers the oldest). */
  binaryVersion: string;
  /** The version it emulates; default `binaryVersion`. */
  emulationVersion?: string | undefined;
  /** The controller's strategy. @default "OldestEmulationVersion" */
  strategy?: string | undefined;
}

/** Options of {@link LeaseCandidate}. */
export interface LeaseCandidateOptions extends CoordinatedOptions {
  candidates: ResourceClient<LeaseCandidateObject>;
  /** The Lease it is a candidate for. */
  leaseName: string;
  /** The candidate's name (client-go: the identity). */
  name: string;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** A renewal failed (it is retried). */
  onError?: ((error: KubekvError) => void) | undefined;
}

/** Checks `coordinated` as an option. @throws InvalidOptionError */
export function checkCoordinated(value: unknown): CoordinatedOptions | undefined {
  if (value === undefined) return undefined;
  const version = (v: unknown) => typeof v === 'string' && /^\d+\.\d+(\.\d+)?$/.test(v);
  const o = value as CoordinatedOptions | null;
  if (typeof o !== 'object' || o === null || !version(o.binaryVersion) || (o.emulationVersion !== undefined && !version(o.emulationVersion))
    || (o.strategy !== undefined && (typeof o.strategy !== 'string' || o.strategy === ''))) {
    throw new InvalidOptionError('coordinated', value, '{ binaryVersion, emulationVersion? } with versions like "1.36" or "1.36.0"');
  }
  return o;
}

/** One replica's candidacy for one Lease; see the module doc. */
export class LeaseCandidate {
  readonly #o: LeaseCandidateOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #watcher: ObjectWatcher<LeaseCandidateObject> | undefined;
  #timer: TimerHandle | undefined;
  #current: LeaseCandidateObject | undefined;
  #busy = false;
  #again = false;
  #stopped = false;

  /** @param options - see {@link LeaseCandidateOptions}; no request is made here */
  constructor(options: LeaseCandidateOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.logger ?? silentLogger).child({ leaseCandidate: options.name });
  }

  /**
   * Creates or renews the candidacy, then keeps it current.
   *
   * @throws InvalidOptionError (option `coordinated`) when the API server does not serve LeaseCandidates; other KubekvErrors of the first write
   */
  async start(signal?: AbortSignal): Promise<void> {
    try {
      await this.#o.candidates.list({ fieldSelector: `metadata.name=${this.#o.name}`, signal });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        throw new InvalidOptionError('coordinated', this.#o, 'an API server serving coordination.k8s.io/v1beta1 LeaseCandidate (the CoordinatedLeaderElection feature gate and that beta API on)', { cause: err });
      }
      throw err;
    }
    await this.#ensure(signal);
    this.#watcher = new ObjectWatcher<LeaseCandidateObject>({
      api: this.#o.candidates,
      name: this.#o.name,
      onSync: (object) => this.#seen(object),
      onEvent: (type, object) => this.#seen(type === 'DELETED' ? undefined : object),
      onError: (error) => this.#o.onError?.(error),
      clock: this.#clock,
      logger: this.#log,
    });
    this.#watcher.start();
  }

  /** Stops renewing and deletes the LeaseCandidate (best effort). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#watcher?.stop();
    try {
      await this.#o.candidates.delete(this.#o.name, {});
    } catch (err) {
      this.#log.warn({ code: (err as { code?: unknown }).code }, 'could not delete the lease candidate; the API server ignores it once it stops answering pings');
    }
  }

  /** The controller pinged (pingTime after renewTime), or the candidacy vanished: renew. */
  #seen(object: LeaseCandidateObject | undefined): void {
    this.#current = object;
    const ping = time(object?.spec?.pingTime);
    const renew = time(object?.spec?.renewTime);
    if (!object || (ping !== undefined && (renew === undefined || ping > renew))) void this.#renewSoon();
  }

  async #renewSoon(): Promise<void> {
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    try {
      do {
        this.#again = false;
        await this.#ensure(undefined).catch((err: unknown) => {
          this.#o.onError?.(err as KubekvError);
          this.#schedule(RETRY_MS);
        });
      } while (this.#again && !this.#stopped);
    } finally {
      this.#busy = false;
    }
  }

  /** client-go's ensureLease: create if absent, else write renewTime now. */
  async #ensure(signal: AbortSignal | undefined): Promise<void> {
    if (this.#stopped) return;
    const { name, leaseName, binaryVersion } = this.#o;
    const renewTime = microNow(this.#clock);
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = this.#current ?? (await this.#o.candidates.get(name, { signal }));
      const result = current
        ? await this.#o.candidates.update({ ...current, spec: { ...current.spec, renewTime: renewTime as unknown as Date } }, { signal })
        : await this.#o.candidates.create({
          metadata: { name },
          spec: {
            leaseName, binaryVersion, emulationVersion: this.#o.emulationVersion ?? binaryVersion,
            strategy: this.#o.strategy ?? 'OldestEmulationVersion', renewTime: renewTime as unknown as Date,
          },
        }, { signal });
      if (result.ok) {
        this.#current = result.object;
        this.#schedule(RENEW_EVERY_MS);
        return;
      }
      this.#current = undefined;
    }
    this.#schedule(RETRY_MS);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    this.#timer = this.#clock.setTimer(() => void this.#renewSoon(), ms);
  }
}

function time(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/** Now as a MicroTime (six fractional digits), as the API server wants it. */
function microNow(clock: Clock): string {
  return new Date(clock.now()).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
