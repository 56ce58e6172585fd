/**
 * The elector of a MemoryStateManager: what LeaseElector does for the real
 * StateManager (who holds the Lease, the term of each leadership period,
 * the leadership signal, onStartedLeading / onStoppedLeading, resign with a
 * term floor, release on close), without an election: the Lease changes
 * hands only when a test control says so. The replicas of one MemoryCluster
 * share the Lease record and see every change at once, except a leader a
 * control says does not notice (a paused process).
 *
 * Terms follow LeaseElector's rules: a Lease's first holder gets term 0,
 * every later acquisition max(leaseTransitions, floor) + 1.
 */
import type { Clock } from '../clock.js';
import { ClosedError, NotLeaderError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LeaderLease, LeaseMember } from './memory-cluster.js';

/** How a {@link MemoryElector} is made. */
export interface MemoryElectorOptions {
  identity: string;
  /** The shared Lease record. */
  lease: LeaderLease;
  clock: Clock;
  logger: Logger;
  /** Called on becoming leader; `signal` aborts when leadership ends. acquire() resolves when it does. */
  onStartedLeading(signal: AbortSignal): Promise<void>;
  /** Called once after each leadership period ends, after the signal aborted. */
  onStoppedLeading(): Promise<void>;
}

interface Leadership {
  readonly controller: AbortController;
  readonly term: number;
  started: Promise<void>;
}

/** One replica's hold on a shared leader Lease. */
export class MemoryElector {
  /** This replica's identity in the Lease. */
  readonly identity: string;
  readonly #lease: LeaderLease;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #o: MemoryElectorOptions;
  readonly #member: LeaseMember;
  #leading: Leadership | undefined;
  #observed: string | undefined;
  #lastRenewAt: number | undefined;
  /** The next term acquired is above this (see resign). */
  #termFloor = -1;
  #closed = false;

  /** @param options - see {@link MemoryElectorOptions} */
  constructor(options: MemoryElectorOptions) {
    this.identity = options.identity;
    this.#lease = options.lease;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#o = options;
    this.#observed = options.lease.holder;
    this.#member = { observe: (holder, notify) => this.#observe(holder, notify) };
    options.lease.members.add(this.#member);
  }

  /** True from acquisition until leadership ends. */
  get isLeader(): boolean {
    return this.#leading !== undefined;
  }

  /** The holder as last observed; undefined when nobody holds the Lease. */
  get leader(): string | undefined {
    return this.#observed;
  }

  /** While leading: the term of this leadership period. */
  get term(): number | undefined {
    return this.#leading?.term;
  }

  /** Wall ms of the last renewal: renewals never fail here, so the clock's now while leading. */
  get lastRenewAt(): number | undefined {
    return this.#leading ? this.#clock.now() : this.#lastRenewAt;
  }

  /** The Lease's leaseTransitions (the last holder's term); undefined before anyone held it. */
  get transitions(): number | undefined {
    return this.#lease.exists ? this.#lease.transitions : undefined;
  }

  /**
   * Takes the Lease with the next term and starts leading; the other
   * replicas see the new holder (the previous leader only if
   * `notifyPrevious`). Resolves when onStartedLeading's work does; while
   * already leading, with the same promise.
   */
  acquire(notifyPrevious: boolean): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError(`elector ${this.identity}`));
    if (this.#leading) return this.#leading.started;
    const lease = this.#lease;
    const term = Math.max(lease.exists ? lease.transitions : -1, this.#termFloor) + 1;
    Object.assign(lease, { holder: this.identity, transitions: term, exists: true });
    this.#observed = this.identity;
    this.#lastRenewAt = this.#clock.now();
    this.#log.info({ term }, 'started leading');
    this.#tellOthers(this.identity, notifyPrevious);
    const leadership: Leadership = { controller: new AbortController(), term, started: Promise.resolve() };
    this.#leading = leadership;
    leadership.started = this.#o.onStartedLeading(leadership.controller.signal);
    return leadership.started;
  }

  /** Loses the Lease as the elector does when another holder is seen (or, with no holder, renewals failed): `holder` takes it with a new term. */
  lose(holder: string | undefined): Promise<void> {
    if (!this.#leading) return Promise.resolve();
    const lease = this.#lease;
    if (lease.holder === this.identity) {
      lease.holder = holder;
      // A takeover is a new term; a lapse keeps the record's.
      if (holder !== undefined) lease.transitions = Math.max(lease.transitions, this.#termFloor) + 1;
    }
    this.#tellOthers(lease.holder, true);
    this.#observed = holder;
    return this.#stopLeading(new NotLeaderError(holder));
  }

  /** Another replica takes the Lease at `term` while this one does not notice (if it leads; a follower does). */
  supersede(holder: string, term: number): void {
    Object.assign(this.#lease, { holder, transitions: term, exists: true });
    this.#tellOthers(holder, true);
    if (!this.#leading) this.#observed = holder;
  }

  /** Stops leading and releases the Lease if held, with the next term lifted above `nextTermAbove` (LeaseElector.resign). */
  async resign(options: { nextTermAbove?: number | undefined } = {}): Promise<void> {
    const floor = options.nextTermAbove ?? -1;
    this.#termFloor = Math.max(this.#termFloor, floor);
    // The Lease's watch names whoever took it over.
    if (this.#lease.holder !== this.identity) this.#observed = this.#lease.holder;
    await this.#stopLeading(new NotLeaderError(undefined));
    this.#release(floor);
  }

  /** Stops leading (reason ClosedError), releases the Lease if held and leaves the Lease's replicas. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#stopLeading(new ClosedError(`elector ${this.identity}`));
    this.#release(-1);
    this.#lease.members.delete(this.#member);
  }

  /** Another holder took the Lease (or released it); a leader told to notice stops leading. */
  #observe(holder: string | undefined, notify: boolean): void {
    if (this.#closed || (!notify && this.#leading)) return;
    this.#observed = holder;
    if (this.#leading && holder !== this.identity) void this.#stopLeading(new NotLeaderError(holder));
  }

  #stopLeading(reason: Error): Promise<void> {
    const leadership = this.#leading;
    if (!leadership) return Promise.resolve();
    this.#leading = undefined;
    this.#lastRenewAt = this.#clock.now();
    leadership.controller.abort(reason);
    this.#log.info({ term: leadership.term }, 'stopped leading');
    return this.#o.onStoppedLeading();
  }

  #release(floor: number): void {
    const lease = this.#lease;
    if (lease.holder !== this.identity) return;
    lease.holder = undefined;
    lease.transitions = Math.max(lease.transitions, floor);
    this.#observed = undefined;
    this.#tellOthers(undefined, true);
  }

  #tellOthers(holder: string | undefined, notify: boolean): void {
    for (const member of this.#lease.members) if (member !== this.#member) member.observe(holder, notify);
  }
}
