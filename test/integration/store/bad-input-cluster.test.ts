/**
 * Bad state found on the cluster: entries corrupted by hand, buckets written
 * in a newer or unreadable format, identities RBAC does not allow to write or
 * read, and a bucket deleted under an open store. Each is a typed error (class
 * and `code`), and kubekv leaves the bucket exactly as it found it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
import {
  BucketNotFoundError,
  ConfigMapStore,
  ForbiddenError,
  FormatError,
} from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectApiStatus, userWithRole } from '../../support/kube.js';
import {
  adminClients,
  expectBucketUnchanged,
  expectKubekvError,
  openBucket,
  rawBinary,
  readRaw,
  waitFor,
  type OpenedBucket,
} from '../../support/store.js';

/** A hang fails the test after a minute, naming it, instead of stalling the run. */
const bounded = { timeout: 60_000 };

const cp = testControlPlane();
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function seeded(name: string): Promise<OpenedBucket> {
  const b = await openBucket(name);
  await b.store.put('seed/a', 'one');
  await b.store.put('seed/bin', Uint8Array.from([0xff, 0x01]));
  return b;
}

/** Edits the bucket by hand through the API, as `kubectl edit` would. */
async function editByHand(b: OpenedBucket, body: Partial<V1ConfigMap>): Promise<V1ConfigMap> {
  return adminClients().core.patchNamespacedConfigMap({ name: b.name, namespace: b.namespace, body }, mergePatch);
}

/** base64 of a binaryData value: kubekv's header `\0KV` + `encoding`, then `payload`. */
function withHeader(encoding: number | undefined, payload: Uint8Array = new Uint8Array()): string {
  const header = encoding === undefined ? [0x00, 0x4b, 0x56] : [0x00, 0x4b, 0x56, encoding];
  return Buffer.concat([Buffer.from(header), payload]).toString('base64');
}

/** Creates a ConfigMap with `annotations` directly through the API. */
async function createRaw(namespace: string, name: string, annotations: Record<string, string>): Promise<void> {
  await adminClients().core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name, annotations }, data: { a: 'one' }, binaryData: { b: withHeader(0x72, Uint8Array.from([1, 2])) } },
  });
}

/** open() on the ConfigMap rejects with FormatError (with and without create) and leaves it unchanged. */
async function expectOpenFormatError(namespace: string, name: string, message: RegExp): Promise<void> {
  await expectBucketUnchanged({ namespace, name }, async () => {
    for (const create of [false, true]) {
      const err = await expectKubekvError(
        ConfigMapStore.open({ name, namespace, kubeConfig: cp.adminKubeConfig(), create }),
        FormatError,
        'FORMAT_ERROR',
      );
      assert.match(err.message, message);
    }
  });
}

describe('corrupt entries', () => {
  it('invalid gzip behind the z header: get rejects FormatError naming the key; the rest stays usable and the entry untouched', bounded, async () => {
    await using b = await seeded('corrupt-gzip');
    const corrupt = withHeader(0x7a, Buffer.from('this is not gzip at all'));
    await editByHand(b, { binaryData: { bad__gzip: corrupt } });
    await waitFor('the store to see the hand-made entry', () => b.store.exists('bad/gzip'));

    await expectBucketUnchanged(b, async () => {
      for (const consistent of [false, true]) {
        const err = await expectKubekvError(b.store.get('bad/gzip', { consistent }), FormatError, 'FORMAT_ERROR');
        assert.equal(err.key, 'bad/gzip');
        assert.match(err.message, /gzip/);
        assert.match(err.message, /bad\/gzip/);
      }
    });
    assert.equal((await b.store.get('seed/a'))?.text, 'one');
    assert.deepEqual((await b.store.list('seed/')).map((p) => p.key), ['seed/a', 'seed/bin']);
    await b.store.put('seed/c', 'three');
    await b.store.batch([{ op: 'put', key: 'seed/d', value: 'four' }, { op: 'delete', key: 'seed/a' }]);
    const raw = await readRaw(b.namespace, b.name);
    assert.equal(raw.binaryData?.['bad__gzip'], corrupt, 'a write rewrote the corrupt entry');
    assert.deepEqual(Object.keys(raw.data ?? {}).sort(), ['seed__c', 'seed__d']);
    await expectKubekvError(b.store.get('bad/gzip'), FormatError, 'FORMAT_ERROR');
    // The owner can still remove the broken entry.
    assert.equal(await b.store.delete('bad/gzip'), true);
    assert.equal((await readRaw(b.namespace, b.name)).binaryData?.['bad__gzip'], undefined);
  });

  it('an unknown encoding byte, or a header without one: FormatError naming the key', bounded, async () => {
    await using b = await seeded('unknown-encoding');
    await editByHand(b, { binaryData: { future: withHeader(0x51, Uint8Array.from([1, 2, 3])), stub: withHeader(undefined) } });
    await waitFor('the store to see the hand-made entries', async () => (await b.store.exists('future')) && b.store.exists('stub'));
    await expectBucketUnchanged(b, async () => {
      const future = await expectKubekvError(b.store.get('future'), FormatError, 'FORMAT_ERROR');
      assert.equal(future.key, 'future');
      assert.match(future.message, /newer/);
      const stub = await expectKubekvError(b.store.get('stub'), FormatError, 'FORMAT_ERROR');
      assert.equal(stub.key, 'stub');
    });
    assert.deepEqual((await b.store.get('seed/bin'))?.value, Uint8Array.from([0xff, 0x01]));
    await b.store.put('seed/a', 'changed');
    assert.deepEqual([...rawBinary(await readRaw(b.namespace, b.name), 'future')], [0x00, 0x4b, 0x56, 0x51, 1, 2, 3]);
  });
});

describe('unreadable bucket metadata', () => {
  it('an unknown (newer) format version "99": open rejects FormatError and the bucket is unchanged', bounded, async () => {
    const namespace = await cp.freshNamespace('kv-format-99');
    await createRaw(namespace, 'future', { 'kubekv.dev/format': '99', 'kubekv.dev/revision': '5' });
    await expectOpenFormatError(namespace, 'future', /newer kubekv \(format 99\)/);
  });

  it('a format annotation that is not a positive decimal, or a revision that is not a counter: FormatError', bounded, async () => {
    const namespace = await cp.freshNamespace('kv-format-bad');
    await createRaw(namespace, 'word', { 'kubekv.dev/format': 'one' });
    await createRaw(namespace, 'zero', { 'kubekv.dev/format': '0' });
    await createRaw(namespace, 'revision', { 'kubekv.dev/format': '1', 'kubekv.dev/revision': 'abc' });
    await expectOpenFormatError(namespace, 'word', /kubekv\.dev\/format/);
    await expectOpenFormatError(namespace, 'zero', /kubekv\.dev\/format/);
    await expectOpenFormatError(namespace, 'revision', /kubekv\.dev\/revision/);
  });

  it('a corrupt kubekv.dev/index annotation: FormatError, the bucket unchanged', bounded, async () => {
    const namespace = await cp.freshNamespace('kv-index-bad');
    const indexes = { json: '{not json', array: '[1,2]', zero: '{"a":0}', string: '{"a":"3"}', fraction: '{"a":1.5}' };
    for (const [name, index] of Object.entries(indexes)) {
      await createRaw(namespace, name, { 'kubekv.dev/format': '1', 'kubekv.dev/revision': '3', 'kubekv.dev/index': index });
      await expectOpenFormatError(namespace, name, /kubekv\.dev\/index/);
    }
  });

  it('a bucket moved to a newer format under an open store: writes reject FormatError and do not rewrite it', bounded, async () => {
    await using b = await seeded('upgraded');
    await editByHand(b, { metadata: { annotations: { 'kubekv.dev/format': '99' } } });
    await expectBucketUnchanged(b, async () => {
      await expectKubekvError(b.store.put('seed/a', 'downgrade?'), FormatError, 'FORMAT_ERROR');
      await expectKubekvError(b.store.get('seed/a', { consistent: true }), FormatError, 'FORMAT_ERROR');
    });
    assert.equal((await readRaw(b.namespace, b.name)).metadata?.annotations?.['kubekv.dev/format'], '99');
  });
});

describe('RBAC', () => {
  const bucketUser = (namespace: string, user: string, verbs: string[], bucket: string) =>
    userWithRole(namespace, user, verbs.length > 0 ? [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [bucket], verbs }] : [], user);

  it('a user allowed get/list/watch but not update/patch: reads work, writes reject ForbiddenError naming verb, resource and name', bounded, async () => {
    await using b = await seeded('read-only');
    const kc = await bucketUser(b.namespace, `reader-${b.namespace}`, ['get', 'list', 'watch'], b.name);
    await using reader = await ConfigMapStore.open({ name: b.name, namespace: b.namespace, kubeConfig: kc });
    assert.equal((await reader.get('seed/a'))?.text, 'one');
    const pair = (await reader.get('seed/a'))!;
    await expectBucketUnchanged(b, async () => {
      for (const call of [
        () => reader.put('seed/a', 'two'),
        () => reader.delete('seed/a'),
        () => reader.atomicPut('seed/a', 'two', pair),
        () => reader.batch([{ op: 'put', key: 'x', value: 'y' }]),
      ]) {
        const err = await expectKubekvError(call, ForbiddenError, 'FORBIDDEN');
        assert.deepEqual([err.verb, err.resource, err.objectName, err.namespace], ['patch', 'configmaps', b.name, b.namespace]);
        assert.match(err.message, new RegExp(`patch configmaps ${b.namespace}/${b.name}`));
      }
    });
    await waitFor('the read-only store\'s watch to connect', () => reader.status().connected);
  });

  it('a user with no access at all: open rejects ForbiddenError (also with create) and creates nothing', bounded, async () => {
    await using b = await seeded('no-access');
    const kc = await bucketUser(b.namespace, `nobody-${b.namespace}`, [], b.name);
    await expectBucketUnchanged(b, async () => {
      for (const create of [false, true]) {
        const err = await expectKubekvError(ConfigMapStore.open({ name: b.name, namespace: b.namespace, kubeConfig: kc, create }), ForbiddenError, 'FORBIDDEN');
        assert.deepEqual([err.verb, err.resource, err.objectName, err.namespace], ['get', 'configmaps', b.name, b.namespace]);
      }
    });
    await expectKubekvError(ConfigMapStore.open({ name: 'other', namespace: b.namespace, kubeConfig: kc, create: true }), ForbiddenError, 'FORBIDDEN');
    await expectApiStatus(readRaw(b.namespace, 'other'), 404);
  });
});

describe('a bucket deleted under an open store', () => {
  it('put rejects BucketNotFoundError, before and after the watch notices, and the bucket is not recreated', bounded, async () => {
    await using b = await seeded('deleted');
    await adminClients().core.deleteNamespacedConfigMap({ name: b.name, namespace: b.namespace });
    const first = await expectKubekvError(b.store.put('seed/a', 'resurrect?'), BucketNotFoundError, 'BUCKET_NOT_FOUND');
    assert.deepEqual([first.namespace, first.bucket], [b.namespace, b.name]);
    await expectApiStatus(readRaw(b.namespace, b.name), 404);
    await waitFor('the store to notice the deletion', async () => (await b.store.get('seed/a')) === undefined);
    for (const call of [
      () => b.store.put('k', 'v'),
      () => b.store.atomicPut('k', 'v'),
      () => b.store.batch([{ op: 'put', key: 'k', value: 'v' }]),
    ]) {
      await expectKubekvError(call, BucketNotFoundError, 'BUCKET_NOT_FOUND');
    }
    await expectApiStatus(readRaw(b.namespace, b.name), 404);
  });
});
