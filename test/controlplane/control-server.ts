/**
 * The owner's side of remote.ts: a loopback HTTP endpoint that lets test
 * processes restart or compact the control plane this process owns.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { ControlPlane } from './index.js';
import type { ControlPlaneDescription } from './remote.js';

/** A running control endpoint. */
export interface ControlServer {
  description: ControlPlaneDescription;
  close(): Promise<void>;
}

/** Serves POST /restart-apiserver, /restart-all, /restart-etcd and /compact for `cp` on 127.0.0.1. */
export async function serveControl(cp: ControlPlane): Promise<ControlServer> {
  const token = randomBytes(16).toString('hex');
  const expected = Buffer.from(`Bearer ${token}`);
  // One action at a time: two tests restarting at once would race on the processes.
  let queue: Promise<unknown> = Promise.resolve();
  const actions: Record<string, () => Promise<unknown>> = {
    '/restart-apiserver': () => cp.restartApiserver().then(() => ({})),
    '/restart-all': () => cp.restartAll().then(() => ({})),
    '/restart-etcd': () => cp.restartEtcd().then(() => ({})),
    '/compact': () => cp.compact().then((revision) => ({ revision })),
  };
  const server: Server = createServer((req, res) => {
    const auth = Buffer.from(req.headers.authorization ?? '');
    const action = actions[req.url ?? ''];
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    if (req.method !== 'POST' || !action) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"unknown action"}');
      return;
    }
    const result = queue.then(action);
    queue = result.catch(() => {});
    result.then(
      (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
      (err: unknown) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) })),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    description: {
      server: cp.server,
      adminKubeconfigPath: cp.adminKubeconfigPath,
      dir: cp.dir,
      binary: cp.binary,
      controlUrl: `http://127.0.0.1:${port}`,
      token,
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
