/**
 * The usual cast of a session test on kubekv/testing: a session's owner
 * (a store that does not sweep) and a sweeper, two processes of bucket
 * `app` on one MemoryCluster, each on its own ManualClock, with key `k`
 * bound to one session and already seen by the sweeper.
 */
import { ManualClock, MemoryCluster, MemoryStore } from '../../src/testing/index.js';
import type { Session } from '../../src/index.js';
import { waitFor } from './wait.js';

/** What {@link sessionPair} made; disposing it closes both stores. */
export interface SessionPair extends AsyncDisposable {
  readonly cluster: MemoryCluster;
  readonly ownerClock: ManualClock;
  readonly sweeperClock: ManualClock;
  readonly owner: MemoryStore;
  readonly sweeper: MemoryStore;
  readonly session: Session;
}

/** Opens the owner and the sweeper, starts a session of `ttlMs` on the owner and binds `k` to it. */
export async function sessionPair(ttlMs: number): Promise<SessionPair> {
  const cluster = new MemoryCluster();
  const ownerClock = new ManualClock();
  const sweeperClock = new ManualClock();
  const owner = await MemoryStore.open({ name: 'app', create: true, cluster, clock: ownerClock, sweep: false });
  const sweeper = await MemoryStore.open({ name: 'app', cluster, clock: sweeperClock });
  const session = await owner.session({ ttlMs });
  await owner.put('k', 'v', { session });
  await waitFor(async () => (await sweeper.get('k')) !== undefined, 'the sweeper to see the key');
  return {
    cluster, ownerClock, sweeperClock, owner, sweeper, session,
    async [Symbol.asyncDispose]() {
      await sweeper.close();
      await owner.close();
    },
  };
}
