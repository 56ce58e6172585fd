/**
 * The sessions of one robustness client (issue 20): a second kubekv store
 * of the bucket (sweep: false) that owns them and renews their Leases, on
 * a clock the client can freeze. Keys are bound to them through the
 * client's main store (a session may be used by any store of its bucket).
 *
 * Why a second store on its own clock: abandoning a session means its
 * owner stops renewing without closing it, as a process that hangs or
 * dies does. Freezing the owner's timers does exactly that (no renewal is
 * started while frozen; one in flight may still land) and leaves the
 * client's main store, its sweeper and its write deadlines running. A
 * SIGKILL of the client process abandons its sessions too (the nemesis's
 * `kill`), without a record.
 *
 * While frozen the owner starts no session; on thaw (after the longest
 * TTL and a margin, when a sweeper should have ended them) the frozen
 * timers run: a session whose Lease a sweeper ended is lost, and one that
 * survived (no sweeper could write) is closed, recorded as a sessionClose.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore, type Clock, type Logger, type Session, type TimerHandle } from '../../src/index.js';
import { systemClock } from '../../src/clock.js';

/** The system clock, whose timers can be held (frozen) and released (thawed). */
export class FreezableClock implements Clock {
  #frozen = false;
  readonly #held = new Set<() => void>();

  /** Wall time, as the system clock: freezing holds timers, not time. */
  now(): number {
    return systemClock.now();
  }

  /** Monotonic time, as the system clock. */
  monotonic(): number {
    return systemClock.monotonic();
  }

  /** A system timer whose callback, if it comes due while frozen, waits for {@link thaw}. */
  setTimer(fn: () => void, ms: number): TimerHandle {
    let cancelled = false;
    const run = () => {
      this.#held.delete(run);
      if (!cancelled) fn();
    };
    const timer = systemClock.setTimer(() => {
      if (this.#frozen) this.#held.add(run);
      else run();
    }, ms);
    return {
      cancel: () => {
        cancelled = true;
        timer.cancel();
        this.#held.delete(run);
      },
    };
  }

  /** Whether timers are held. */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** Holds every timer that comes due from now on. */
  freeze(): void {
    this.#frozen = true;
  }

  /** Runs the held timers (in the order they came due) and lets timers run again. */
  thaw(): void {
    this.#frozen = false;
    for (const run of [...this.#held]) run();
  }
}

/** A session the client may bind keys to or close. */
export interface LiveSession {
  readonly session: Session;
  /** Monotonic ms after which the client closes it (its planned life, shorter than its TTL). */
  readonly closeAfter: number;
}

/** Options of {@link SessionOwner}. */
export interface SessionOwnerOptions {
  /** The bucket. */
  name: string;
  namespace: string;
  kubeConfig: KubeConfig;
  timeouts: { timeoutMs: number; requestTimeoutMs: number };
  logger: Logger;
}

/** The owner store, opened lazily (the bucket may be missing for a while), and the client's live sessions. */
export class SessionOwner {
  /** The owner store's clock: {@link freeze} holds its timers, so no renewal starts. */
  readonly clock = new FreezableClock();
  readonly #options: SessionOwnerOptions;
  #store: ConfigMapStore | undefined;
  #opening: Promise<ConfigMapStore | undefined> | undefined;
  /** Sessions opened and neither closed nor abandoned. */
  readonly live: LiveSession[] = [];
  /** Sessions abandoned by the last freeze, to look at on thaw. */
  readonly abandoned: Session[] = [];

  /** Opens nothing yet: the owner store is opened by the first {@link store} call. */
  constructor(options: SessionOwnerOptions) {
    this.#options = options;
  }

  /** The owner store, or undefined while it cannot be opened (the next call tries again). */
  async store(): Promise<ConfigMapStore | undefined> {
    if (this.#store) return this.#store;
    this.#opening ??= ConfigMapStore.open({
      name: this.#options.name,
      namespace: this.#options.namespace,
      kubeConfig: this.#options.kubeConfig,
      ...this.#options.timeouts,
      clock: this.clock,
      sweep: false,
      logger: this.#options.logger,
    }).then(
      (store) => (this.#store = store),
      () => undefined,
    ).finally(() => (this.#opening = undefined));
    return this.#opening;
  }

  /** The live sessions that are still active (a lost one is dropped: writes naming it are refused). */
  active(): LiveSession[] {
    for (let i = this.live.length - 1; i >= 0; i--) if (!this.live[i]!.session.active) this.live.splice(i, 1);
    return this.live;
  }

  /** Removes `session` from the live ones (it is being closed). */
  forget(session: Session): void {
    const i = this.live.findIndex((l) => l.session === session);
    if (i >= 0) this.live.splice(i, 1);
  }

  /** Freezes the owner: every live session is abandoned (returned, so the client can record each). */
  freeze(): Session[] {
    const sessions = this.live.splice(0).map((l) => l.session);
    this.abandoned.push(...sessions);
    this.clock.freeze();
    return sessions;
  }

  /** Thaws the owner: returns the abandoned sessions still active after their timers ran (none if a sweeper ended them). */
  async thaw(): Promise<Session[]> {
    this.clock.thaw();
    // Let the renewals the thaw released find out whether their Lease is still theirs.
    await new Promise((r) => setTimeout(r, 2000));
    const survivors = this.abandoned.splice(0).filter((s) => s.active);
    return survivors;
  }

  /** Closes the owner store (its sessions are closed by it, or already gone). */
  async close(): Promise<void> {
    this.clock.thaw();
    await this.#store?.close().catch(() => {});
  }
}
