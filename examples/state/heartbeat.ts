/**
 * The README's StateManager example as a type-checked program.
 * Run two or three copies against a cluster with different POD_NAME values:
 *   KUBECONFIG=<path> POD_NAME=a node --import tsx examples/state/heartbeat.ts
 */
import { createServer } from 'node:http';
import { StateManager, healthHandler } from 'kubekv';

const state = await StateManager.start({ name: 'my-app', handleSignals: true });

state.onLeader(async ({ signal, store, epoch }) => {
  console.log(`leading at epoch ${epoch}`);
  while (!signal.aborted) {
    await store.put('heartbeat', new Date().toISOString());
    await new Promise((r) => setTimeout(r, 1000));
  }
});
state.onFollower(({ leader }) => console.log('following', leader));

setInterval(() => {
  void state.store.get('heartbeat').then((pair) => console.log(state.isLeader ? 'leader' : 'follower', 'sees heartbeat', pair?.text));
}, 2000).unref();

const port = Number(process.env.PORT ?? 0);
const server = createServer(healthHandler(state)).listen(port, '127.0.0.1', () => {
  console.log(`probes on http://127.0.0.1:${(server.address() as { port: number }).port}/readyz`);
});
