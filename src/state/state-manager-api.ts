/**
 * The public surface of a StateManager as applications use it, as a type:
 * what both StateManager and MemoryStateManager provide, so code typed
 * against it runs with either. test/unit/testing checks at compile time that
 * every public member of StateManager is here.
 */
import type { FollowerContext, LeaderContext, StateStatus, StepDownOptions } from './state-manager.js';
import type { LeaderInfo, ReleaseOutcome } from '../election/lease-elector.js';
import type { Store } from '../store/types.js';

/**
 * The public surface of a StateManager, as applications use it: what both
 * StateManager and kubekv/testing's MemoryStateManager provide. Type your
 * code against it to run it with either.
 */
export interface StateManagerApi extends AsyncDisposable {
  /** This replica's identity: the holder name it writes into the Lease. */
  readonly identity: string;
  /** Namespace of the Lease and the buckets. */
  readonly namespace: string;
  /** True once close() was called. */
  readonly closed: boolean;
  /** True while this replica leads and holds the buckets' epochs (writes allowed). */
  readonly isLeader: boolean;
  /** The leader's identity as last observed (this replica's own only while it leads). */
  readonly leader: string | undefined;
  /** The epoch this replica holds on every bucket while leading. */
  readonly epoch: number | undefined;
  /** The first bucket. Writes reject with NotLeaderError unless this replica leads. */
  readonly store: Store;
  /** A bucket by name (one of `buckets`). */
  bucket(name: string): Store;
  /** Runs `handler` each time this replica becomes leader (at once if it leads now). */
  onLeader(handler: (ctx: LeaderContext) => unknown): this;
  /** Runs `handler` each time this replica becomes a follower (at once if it follows now). */
  onFollower(handler: (ctx: FollowerContext) => unknown): this;
  /** Runs `handler` with the leader's identity, address and term when they change (at once with the current ones). */
  onLeaderChange(handler: (leader: LeaderInfo | undefined) => unknown): this;
  /** Steps down (leader work first, then the Lease), stays a follower for a cool-down. */
  resign(options?: StepDownOptions): Promise<ReleaseOutcome>;
  /** Steps down naming `identity` the preferred next leader. */
  handoff(identity: string, options?: StepDownOptions): Promise<ReleaseOutcome>;
  /** Leadership and cache health. */
  status(): StateStatus;
  /** Liveness as client-go's health adaptor judges it. */
  isLive(toleranceMs?: number): boolean;
  /** Hands over gracefully; idempotent. */
  close(): Promise<void>;
}
