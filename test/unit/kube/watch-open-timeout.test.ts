/**
 * A watch whose server never answers (a connection gone half-open, a black
 * hole) is given up after openTimeoutMs, not after the much longer
 * inactivity timeout: a follower's cache must not sit silently stale.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeTransport } from '../../../src/kube/transport.js';
import { watchStream } from '../../../src/kube/watch-stream.js';

describe('watchStream open timeout', () => {
  it('throws a TimeoutError when the server accepts the connection but never answers', async () => {
    const sockets = new Set<Socket>();
    const hole = createServer((socket) => sockets.add(socket)).listen(0, '127.0.0.1');
    await once(hole, 'listening');
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'hole', server: `https://127.0.0.1:${(hole.address() as { port: number }).port}`, skipTLSVerify: true }],
        users: [{ name: 'u', token: 'x' }],
        contexts: [{ name: 'c', cluster: 'hole', user: 'u' }],
        currentContext: 'c',
      });
      const started = performance.now();
      const events = watchStream(KubeTransport.for(kc), { path: '/api/v1/namespaces/ns/configmaps', query: {}, openTimeoutMs: 300, inactivityTimeoutMs: 60_000 });
      await assert.rejects(events.next(), (err: unknown) => err instanceof Error && err.name === 'TimeoutError' && /not accepted within 300 ms/.test(err.message));
      const tookMs = performance.now() - started;
      assert.ok(tookMs < 5000, `gave up after ${tookMs} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      hole.close();
    }
  });
});
