/**
 * One HTTP/2 connection carries every unary request (src/kube/h2-session.ts),
 * so a connection the peer closes mid-answer (a killed apiserver, a proxy
 * closing) must surface as a lost answer (a network error: retried, and for
 * a write "outcome unknown"), never as an HTTP status or a cut-off body. The
 * peer here is a loopback HTTP/2 server that misbehaves on purpose, with the
 * control plane's serving certificate.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createSecureServer, type ServerHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { H2Client } from '../../../src/kube/h2-session.js';
import { testControlPlane } from '../../controlplane/remote.js';

const cp = testControlPlane();
let server: ReturnType<typeof createSecureServer>;
let client: H2Client;

before(async () => {
  server = createSecureServer({ key: readFileSync(join(cp.dir, 'apiserver.key')), cert: readFileSync(join(cp.dir, 'apiserver.crt')) });
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    const path = headers[':path'];
    if (path === '/whole') {
      stream.respond({ ':status': 200 });
      stream.end('{"kind":"ConfigMap"}');
    } else if (path === '/cut-body') {
      // Headers and part of the body, then the server closes the connection (FIN).
      stream.respond({ ':status': 200 });
      stream.write('{"kind":"Con');
      setTimeout(() => stream.session?.socket.destroy(), 20);
    } else if (path === '/no-answer') {
      setTimeout(() => stream.session?.socket.destroy(), 20);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  client = new H2Client(`https://127.0.0.1:${(server.address() as { port: number }).port}`, { ca: readFileSync(join(cp.dir, 'ca.crt')) });
});

after(() => {
  client.close();
  server.close();
});

describe('H2Client when the peer closes the connection', () => {
  it('a complete answer is returned whole', async () => {
    assert.deepEqual(await client.request({ method: 'GET', path: '/whole', headers: {} }), { status: 200, text: '{"kind":"ConfigMap"}' });
  });

  for (const path of ['/cut-body', '/no-answer']) {
    it(`${path}: rejects with a network error, never resolves with a status or a partial body, and the next request connects afresh`, async () => {
      await assert.rejects(
        client.request({ method: 'PUT', path, headers: {}, body: '{}' }),
        (err: unknown) => err instanceof Error && !('status' in err) && (err as { code?: string }).code !== undefined,
      );
      assert.equal((await client.request({ method: 'GET', path: '/whole', headers: {} })).status, 200);
    });
  }
});
