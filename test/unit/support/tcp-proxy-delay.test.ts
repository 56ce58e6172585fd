/**
 * TcpProxy.delay(): bytes arrive late, in order, none lost; heal() ends
 * the delay. Against a plain TCP
 * echo server on loopback (the proxy treats a connection that does not open
 * with TLS as plain).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TcpProxy } from '../../support/tcp-proxy.js';

describe('TcpProxy.delay', () => {
  const echo = createServer((socket) => socket.pipe(socket));
  let proxy: TcpProxy;

  before(async () => {
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    proxy = await TcpProxy.start((echo.address() as { port: number }).port);
  });
  after(async () => {
    await proxy.close();
    echo.close();
  });

  /** Sends `parts` one after another, waits until as many bytes came back (at most 5 s), ends the connection; resolves with what came back and when the first byte came. */
  async function roundTrip(parts: string[]): Promise<{ text: string; firstMs: number }> {
    const socket: Socket = createConnection({ host: '127.0.0.1', port: proxy.port });
    await once(socket, 'connect');
    const started = Date.now();
    let firstMs = -1;
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      if (firstMs < 0) firstMs = Date.now() - started;
      text += chunk.toString();
    });
    for (const part of parts) {
      socket.write(part);
      await new Promise((r) => setTimeout(r, 5));
    }
    const expected = parts.join('').length;
    for (let waited = 0; text.length < expected && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    socket.end();
    await once(socket, 'close');
    return { text, firstMs };
  }

  it('delivers every byte in order, 2 x ms later', async () => {
    proxy.delay(150);
    const parts = Array.from({ length: 20 }, (_, i) => `part-${i};`);
    const { text, firstMs } = await roundTrip(parts);
    assert.equal(text, parts.join(''));
    assert.ok(firstMs >= 280, `first byte back after ${firstMs} ms, expected about 300`);
    assert.ok(proxy.counters.chunksDelayed > 0);
  });

  it('heal() ends the delay', async () => {
    proxy.delay(300);
    proxy.heal();
    const { text, firstMs } = await roundTrip(['a', 'b']);
    assert.equal(text, 'ab');
    assert.ok(firstMs < 200, `first byte back after ${firstMs} ms`);
  });
});
