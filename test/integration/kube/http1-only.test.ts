/**
 * kubekv sends unary requests over HTTP/2 (src/kube/h2-session.ts). An
 * endpoint with HTTP/2 turned off (some TLS-terminating proxies since
 * CVE-2023-44487) refuses h2 in the TLS handshake: every request must then
 * go over HTTP/1.1 instead, with nothing sent twice. The endpoint here is
 * such a front (ALPN http/1.1 only) relaying to the real kube-apiserver.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/store.js';

const cp = testControlPlane();
/** HTTP versions and methods the front relayed. */
const relayed: string[] = [];
let front: ReturnType<typeof createServer>;
let kc: KubeConfig;
let namespace: string;

before(async () => {
  const admin = cp.adminKubeConfig().getCurrentUser()!;
  const upstream = new URL(cp.server);
  const ca = readFileSync(join(cp.dir, 'ca.crt'));
  front = createServer(
    { key: readFileSync(join(cp.dir, 'apiserver.key')), cert: readFileSync(join(cp.dir, 'apiserver.crt')), ALPNProtocols: ['http/1.1'] },
    (req, res) => {
      relayed.push(`${req.httpVersion} ${req.method}`);
      const up = httpsRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
          ca,
          cert: Buffer.from(admin.certData!, 'base64'),
          key: Buffer.from(admin.keyData!, 'base64'),
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      req.pipe(up);
    },
  );
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'front', server: `https://127.0.0.1:${(front.address() as { port: number }).port}`, caData: ca.toString('base64') }],
    users: [{ name: 'admin', certData: admin.certData, keyData: admin.keyData }],
    contexts: [{ name: 'front', cluster: 'front', user: 'admin' }],
    currentContext: 'front',
  });
  namespace = await cp.freshNamespace('http1-only');
});

after(() => {
  front.closeAllConnections();
  front.close();
});

describe('an API endpoint without HTTP/2', () => {
  it('gets every request over HTTP/1.1: open, writes, consistent reads and a peer watch all work, each write applied once', async () => {
    await using a = await ConfigMapStore.open({ name: 'h1', namespace, kubeConfig: kc, create: true });
    await using b = await ConfigMapStore.open({ name: 'h1', namespace, kubeConfig: kc });
    const first = await a.put('k', 'v1');
    const second = await a.put('k', 'v2');
    assert.equal(second.lastIndex, first.lastIndex + 1, 'a write was applied twice or skipped');
    assert.equal((await a.get('k', { consistent: true }))?.text, 'v2');
    await waitFor('the peer to see the write through its watch', async () => ((await b.get('k'))?.text === 'v2') || undefined);
    assert.ok(relayed.some((r) => r === '1.1 PATCH'), `no write went through the HTTP/1.1 front: ${relayed.join(', ')}`);
    assert.ok(relayed.every((r) => r.startsWith('1.1 ')), `not every request was HTTP/1.1: ${relayed.join(', ')}`);
  });
});
