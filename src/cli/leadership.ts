/**
 * Whether a StateManager leads a bucket, and the refusal of CLI writes to a
 * bucket that one leads (unless `--force`).
 *
 * How a bucket links to its Lease: it does not name it. A StateManager's
 * leader, before it writes, raises the bucket's `kubekv.dev/epoch` to its
 * Lease term and records its identity in `kubekv.dev/leader`. So a bucket is
 * led when some Lease of its namespace (lock Leases aside) is held, and not
 * expired, by exactly that identity; the Lease whose `leaseTransitions`
 * equals the epoch is preferred when several match. `--lease <name>` names
 * the Lease instead: then the bucket counts as led whenever that Lease is
 * held, by anyone (a new leader may not have raised the epoch yet).
 *
 * Non-guarantees: expiry is judged by the holder's `renewTime` plus
 * `leaseDurationSeconds` against this machine's clock (a one-shot command
 * cannot watch the Lease for a lease duration as electors do), so clock skew
 * shifts it. The check is made just before the write: a leader elected in
 * between is not seen (its epoch raise is a CAS and simply lands after the
 * write, or conflicts and retries on top of it).
 *
 * @module
 */
import { LeaseNotFoundError, NotLeaderError } from '../errors.js';
import { LOCK_COMPONENT } from '../lock/names.js';
import type { BucketState } from '../store/bucket-state.js';
import { getLease, listLeases, type LeaseInfo } from './cluster-reads.js';
import type { Connection } from './connection.js';

/** State of a Lease's record: held (and renewed within its duration), expired, or released (no holder). */
export type LeaseState = 'held' | 'expired' | 'released';

/** Label marking lock Leases (src/lock), which never elect a bucket's leader. */
const COMPONENT_LABEL = 'app.kubernetes.io/component';

/**
 * The state of a Lease at wall time `nowMs`. A record with a holder but no
 * renew or acquire time counts as held: the cautious answer when the CLI
 * decides whether to refuse a write.
 */
export function leaseState(lease: Pick<LeaseInfo, 'holderIdentity' | 'renewTime' | 'acquireTime' | 'leaseDurationSeconds'>, nowMs: number): LeaseState {
  if (lease.holderIdentity === '') return 'released';
  const renewed = lease.renewTime ?? lease.acquireTime;
  if (!renewed) return 'held';
  return renewed.getTime() + lease.leaseDurationSeconds * 1000 > nowMs ? 'held' : 'expired';
}

/**
 * The Lease whose holder leads the bucket now, or undefined when none does
 * (see the module doc for the rule).
 *
 * @param leaseName - `--lease`: the Lease to judge by instead of searching
 * @throws LeaseNotFoundError when `leaseName` names a Lease that does not exist;
 * ForbiddenError when the Leases cannot be read
 */
export async function findBucketLeader(conn: Connection, state: BucketState, leaseName: string | undefined, signal: AbortSignal, nowMs = Date.now()): Promise<LeaseInfo | undefined> {
  if (leaseName !== undefined) {
    const lease = await getLease(conn, leaseName, signal);
    if (!lease) throw new LeaseNotFoundError(conn.namespace, `${leaseName} (--lease)`);
    return leaseState(lease, nowMs) === 'held' ? lease : undefined;
  }
  // No StateManager ever raised this bucket's epoch: none leads it.
  if (state.leader === '') return undefined;
  return leaderAmong(await listLeases(conn, undefined, signal), state, nowMs);
}

/**
 * The Lease among `leases` (of the bucket's namespace) whose holder leads
 * the bucket at wall time `nowMs`, by the module doc's rule; undefined
 * when none does.
 */
export function leaderAmong(leases: readonly LeaseInfo[], state: Pick<BucketState, 'leader' | 'epoch'>, nowMs: number): LeaseInfo | undefined {
  if (state.leader === '') return undefined;
  const held = leases.filter(
    (lease) => lease.labels[COMPONENT_LABEL] !== LOCK_COMPONENT && lease.holderIdentity === state.leader && leaseState(lease, nowMs) === 'held',
  );
  return held.find((lease) => lease.leaseTransitions === state.epoch) ?? held[0];
}

/** A CLI write refused because a StateManager leads the bucket; code NOT_LEADER, as for a follower's write. */
export class BucketLedError extends NotLeaderError {
  /** The Lease of the leader. */
  readonly lease: string;
  /**
   * @param bucket - namespace/name of the bucket
   * @param lease - the leader's Lease
   * @param epoch - the bucket's epoch
   */
  constructor(bucket: string, lease: LeaseInfo, epoch: number) {
    super(lease.holderIdentity);
    this.lease = lease.name;
    this.message =
      `bucket ${bucket} is led by ${lease.holderIdentity} (Lease ${lease.name}, epoch ${epoch}): ` +
      'a write from here bypasses its single-writer assumption; pass --force to write anyway (see docs/cli.md)';
  }
}

/**
 * Refuses a write to a led bucket unless `force`: resolves when the write
 * may go ahead. A missing bucket (to be created) is never led.
 *
 * @throws BucketLedError when a StateManager leads the bucket
 */
export async function checkWritable(conn: Connection, bucket: string, state: BucketState | undefined, options: { force: boolean; lease: string | undefined }, signal: AbortSignal): Promise<void> {
  if (options.force || !state) return;
  const lease = await findBucketLeader(conn, state, options.lease, signal);
  if (lease) throw new BucketLedError(`${conn.namespace}/${bucket}`, lease, state.epoch);
}
