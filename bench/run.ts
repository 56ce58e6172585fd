/**
 * `npm run bench`: starts a real control plane and prints figures. Targets
 * live here, never in timed tests (which would flake on a busy machine).
 */
import { ControlPlane } from '../test/controlplane/index.js';
import { benchControlPlane } from './controlplane.bench.js';
import { benchStore } from './store.bench.js';
import { benchElection } from './election.bench.js';

const cp = await ControlPlane.start({ log: (line) => console.error(`[controlplane] ${line}`) });
try {
  await benchControlPlane(cp);
  await benchStore(cp);
  await benchElection(cp);
} finally {
  await cp.stop();
}
