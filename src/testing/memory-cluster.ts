/**
 * MemoryCluster, what the MemoryStores and MemoryStateManagers of a test
 * share (a FakeCluster), and Replica, what each of them runs on: a port of
 * its own on that cluster and a clock of its own, so the faults its
 * controls lay hit its own requests, below the real code, as a network
 * fault would.
 *
 * @module
 */
import { systemClock, type Clock } from '../clock.js';
import { InvalidOptionError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import { FakeCluster } from './fake-cluster.js';
import { ManualClock } from './manual-clock.js';
import type { MemoryStateManager } from './memory-state-manager.js';

/**
 * A simulated control plane: give the same one to every MemoryStore and
 * MemoryStateManager that should see one another (replicas of an app, a
 * reader of a bucket); without one, each opens its own. Two share nothing.
 */
export class MemoryCluster {
  /** The API server underneath: its objects, and faults that hit every replica's requests (see {@link FakeCluster}). */
  readonly fake = new FakeCluster();
  /** @internal The MemoryStateManagers on this cluster that are not closed. */
  readonly replicas = new Set<MemoryStateManager>();
}

/** One store's or replica's way to its cluster: the port and the clock the real components get. */
export interface Replica {
  readonly cluster: MemoryCluster;
  /** Its own port: the cluster's faults can single out its requests (FakeCluster.connect). */
  readonly api: KubeApi;
  /** Follows the clock given (else the system clock); its controls leap it ahead to a write's deadline. */
  readonly clock: ManualClock;
}

/** The Replica of each port openReplica made. */
const replicas = new WeakMap<KubeApi, Replica>();

/**
 * The Replica whose port is `options.api` (a MemoryStateManager opens its
 * buckets so), else a new one on `options.cluster` (else a new cluster),
 * for MemoryStore.open and MemoryStateManager.start.
 */
export function openReplica(options: { cluster?: MemoryCluster | undefined; clock?: Clock | undefined; api?: KubeApi | undefined }): Replica {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object with at least `name`');
  const joined = options.api && replicas.get(options.api);
  if (joined) return joined;
  const cluster = options.cluster ?? new MemoryCluster();
  if (!(cluster instanceof MemoryCluster)) throw new InvalidOptionError('cluster', cluster, 'a MemoryCluster');
  const clock = ManualClock.following(options.clock ?? systemClock);
  const replica = { cluster, clock, api: cluster.fake.connect(clock) };
  replicas.set(replica.api, replica);
  return replica;
}

/** Waits (in real time, at most about 5 s) until `check()` holds; the caller asserts what it needs. */
export async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, i < 50 ? 0 : 5));
}
