/**
 * Secret-backed buckets (`kind: 'Secret'`) on the real control plane, beyond
 * the conformance suite (which runs on a Secret bucket too): the values are
 * in the bucket's Secrets and in no ConfigMap; a chunked Secret bucket holds
 * more than 1 MiB (entries chunks and a value in value chunks) with chunks
 * that are immutable Secrets owned by the head; teardown removes them all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import { ConfigMapStore } from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { adminClients } from '../../support/store.js';

const bounded = { timeout: 300_000 };

async function openSecretBucket(name: string, options: Partial<Parameters<typeof ConfigMapStore.open>[0]> = {}) {
  const cp = testControlPlane();
  const namespace = await cp.freshNamespace(`kv-${name}`);
  const store = await ConfigMapStore.open({ name, namespace, kubeConfig: cp.adminKubeConfig(), create: true, kind: 'Secret', ...options });
  return { store, namespace, name, [Symbol.asyncDispose]: () => store.close() };
}

/** Every ConfigMap and Secret of the namespace as the API server holds them, serialized: what a value must (not) appear in. */
async function everything(namespace: string): Promise<{ configMaps: string; secrets: V1Secret[] }> {
  const { core } = adminClients();
  const configMaps = await core.listNamespacedConfigMap({ namespace });
  const secrets = await core.listNamespacedSecret({ namespace });
  return { configMaps: JSON.stringify(configMaps.items), secrets: secrets.items };
}

describe('Secret-backed buckets on the control plane', () => {
  it('stores values in a Secret of type kubekv.dev/bucket and in no ConfigMap', bounded, async () => {
    await using b = await openSecretBucket('vault');
    const marker = `s3cr3t-${randomBytes(8).toString('hex')}`;
    await b.store.put('db/password', marker);
    await b.store.put('tls/key', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(marker)]));
    const { configMaps, secrets } = await everything(b.namespace);
    for (const form of [marker, Buffer.from(marker).toString('base64'), 'db__password']) {
      assert.ok(!configMaps.includes(form), `a ConfigMap holds ${form}`);
    }
    assert.deepEqual(secrets.map((s) => [s.metadata?.name, s.type]), [['vault', 'kubekv.dev/bucket']]);
    const secret = secrets[0]!;
    assert.equal(Buffer.from(secret.data!['db__password']!, 'base64').toString('utf8'), marker);
    assert.equal(secret.metadata?.annotations?.['kubekv.dev/format'], '1');
    assert.ok(secret.metadata?.annotations?.['kubekv.dev/index']?.includes('db__password'));
    // Read back through a fresh store: text as text, bytes exact.
    await using peer = await ConfigMapStore.open({ name: b.name, namespace: b.namespace, kubeConfig: testControlPlane().adminKubeConfig(), kind: 'Secret' });
    assert.equal((await peer.get('db/password'))?.text, marker);
    assert.deepEqual([...(await peer.get('tls/key'))!.value.subarray(0, 2)], [0xff, 0xfe]);
  });

  it('a chunked Secret bucket round-trips more than 1 MiB: entries chunks and a 3 MiB value in value chunks, all immutable Secrets owned by the head; teardown removes them', bounded, async () => {
    await using b = await openSecretBucket('vault-big', { chunks: { compactBytes: 4096 } });
    for (let i = 0; i < 8; i++) {
      await b.store.batch(Array.from({ length: 200 }, (_, j) => ({ op: 'put' as const, key: `k/${i * 200 + j}`, value: `value ${i * 200 + j} ${'v'.repeat(400)}` })));
    }
    const large = randomBytes(3 * 1024 * 1024);
    await b.store.put('large', large);
    const { configMaps, secrets } = await everything(b.namespace);
    assert.equal(configMaps, '[]', 'no ConfigMap at all');
    const head = secrets.find((s) => s.metadata?.name === b.name)!;
    assert.equal(head.metadata?.annotations?.['kubekv.dev/format'], '2');
    const chunks = secrets.filter((s) => s.metadata?.labels?.['kubekv.dev/chunk-of'] === b.name);
    const refs = JSON.parse(head.metadata?.annotations?.['kubekv.dev/chunks'] ?? '[]') as { name: string; value?: true }[];
    assert.ok(refs.some((r) => r.value) && refs.some((r) => !r.value), 'value chunks and entries chunks');
    for (const ref of refs) {
      const chunk = chunks.find((c) => c.metadata?.name === ref.name);
      assert.ok(chunk, `chunk ${ref.name} is a Secret`);
      assert.equal(chunk.immutable, true);
      assert.equal(chunk.type, 'kubekv.dev/bucket');
      assert.deepEqual(chunk.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid]), [['Secret', b.name, head.metadata?.uid]]);
    }
    // The API server refuses to change a chunk.
    await assert.rejects(adminClients().core.patchNamespacedSecret({ name: refs[0]!.name, namespace: b.namespace, body: [{ op: 'add', path: '/data/x', value: 'eQ==' }] }));

    await using peer = await ConfigMapStore.open({ name: b.name, namespace: b.namespace, kubeConfig: testControlPlane().adminKubeConfig(), kind: 'Secret' });
    for (const reader of [b.store, peer]) {
      assert.deepEqual(Buffer.from((await reader.get('large', { consistent: true }))!.value), large);
      const all = await reader.list('k/');
      assert.equal(all.length, 1600);
      assert.equal((await reader.get('k/1234'))?.text, `value 1234 ${'v'.repeat(400)}`);
    }
    await peer.close();
    await b.store.teardown();
    assert.deepEqual((await everything(b.namespace)).secrets, []);
  });
});
