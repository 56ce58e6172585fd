/**
 * `npm run bench [-- <name> ...] [--option value ...]`: starts a real
 * control plane and prints figures; with names (controlplane, store,
 * contention, election, transport, capacity, follower, ttl, sessions; steer: only
 * election's resign / handoff part) only those benchmarks run, without
 * names all of them. Options with values (args.ts, e.g.
 * `--sustained 300` for capacity) are read by the benchmark they belong to.
 * Targets live here, never in timed tests (which would flake on a busy
 * machine).
 */
import { ControlPlane } from '../test/controlplane/index.js';
import { benchControlPlane } from './controlplane.bench.js';
import { benchStore } from './store.bench.js';
import { benchContention } from './contention.bench.js';
import { benchElection } from './election.bench.js';
import { benchSteer } from './election-steer.bench.js';
import { benchTransport } from './transport.bench.js';
import { benchCapacity } from './capacity.bench.js';
import { benchFollower } from './follower.bench.js';
import { benchTtl } from './ttl.bench.js';
import { benchSessionCost } from './session-cost.bench.js';
import { parseBenchArgs } from './args.js';

const benches: Record<string, (cp: ControlPlane) => Promise<void>> = {
  controlplane: benchControlPlane,
  store: benchStore,
  contention: benchContention,
  election: benchElection,
  steer: benchSteer,
  transport: benchTransport,
  capacity: benchCapacity,
  follower: benchFollower,
  ttl: benchTtl,
  sessions: benchSessionCost,
};
let wanted: string[];
try {
  wanted = parseBenchArgs(process.argv.slice(2)).names;
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const unknown = wanted.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}

const cp = await ControlPlane.start({ log: (line) => console.error(`[controlplane] ${line}`) });
try {
  for (const [name, bench] of Object.entries(benches)) {
    // steer is a part of election, runnable alone: not twice in a full run.
    if (wanted.length === 0 ? name !== 'steer' : wanted.includes(name)) await bench(cp);
  }
} finally {
  await cp.stop();
}
