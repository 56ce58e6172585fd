/**
 * The KubeApi port has one request path: the same fault gives the same
 * error class whatever the resource. A request past its deadline is an
 * UnavailableError (retryable, outcome unknown) for a ConfigMap, a Lease
 * and an Event alike; the caller's own abort is an AbortedError for all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError, UnavailableError } from '../../../src/errors.js';
import { WireKubeApi, type KubeWire } from '../../../src/kube/api.js';
import type { KubeRequest } from '../../../src/kube/transport.js';
import { KubeLeaseLock } from '../../../src/election/lease-lock.js';
import { BucketApi } from '../../../src/store/bucket-api.js';

/**
 * Waits for the request's signal, keeping the process alive meanwhile as a
 * real connection would (the deadline timer does not; on Node 22 the test
 * runner would otherwise see the event loop empty and cancel the test).
 */
function hang(request: KubeRequest): Promise<never> {
  if (request.signal?.aborted) return Promise.reject(request.signal.reason as Error);
  const keepAlive = setInterval(() => {}, 1_000);
  return new Promise((_, reject) =>
    request.signal?.addEventListener('abort', () => {
      clearInterval(keepAlive);
      reject(request.signal!.reason as Error);
    }, { once: true }),
  );
}

/** A server that accepts every request and never answers. */
const blackHole: KubeWire = { sendText: hang, open: hang };

describe('one request path: one fault, one error class', () => {
  const api = new WireKubeApi(blackHole, { requestTimeoutMs: 30 });
  const requests = {
    'a ConfigMap get': () => api.configMaps('ns').get('bucket'),
    'a ConfigMap patch': () => api.configMaps('ns').patch('bucket', { metadata: { resourceVersion: '1' } }),
    'a Lease get': () => api.leases('ns').get('lease'),
    'a Lease update': () => api.leases('ns').update({ metadata: { name: 'lease', resourceVersion: '1' } }),
    'an Event create': () => api.events('ns').create({ metadata: { name: 'e' } }),
    'the LeaseLock of an election': () => new KubeLeaseLock({ api, namespace: 'ns', name: 'lease' }).get(),
    'the BucketApi of a bucket': () => new BucketApi(api, 'ns', 'bucket', { requestTimeoutMs: 30 }).get(),
  };
  for (const [what, request] of Object.entries(requests)) {
    it(`${what} past its deadline is an UnavailableError`, async () => {
      await assert.rejects(request(), (err: unknown) => err instanceof UnavailableError && err.retryable && /timed out after 30 ms/.test(err.message));
    });
  }

  it('the caller\'s abort is an AbortedError for every resource', async () => {
    for (const client of [api.configMaps('ns'), api.leases('ns'), api.events('ns')]) {
      await assert.rejects(client.get('x', { signal: AbortSignal.abort() }), AbortedError);
    }
  });
});
