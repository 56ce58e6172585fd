/**
 * The least-privilege RBAC of deploy/rbac.yaml (and, for Secret buckets,
 * the optional deploy/rbac-secrets.yaml) is enough for everything the
 * chunked layout does, and it is no more than that: a store with exactly
 * those permissions opens (creating its bucket), writes, keeps a large
 * value in value chunks, compacts its head into chunks, collects the chunks
 * no head references and tears the bucket down; the authorizer grants
 * nothing beyond the verbs the layout needs; without `create` the error is
 * a ForbiddenError naming the verb and resource missing. The optional
 * deploy/rbac-sessions.yaml is enough for sessions (the owner's Lease, a
 * sweeper's list and conditional delete of unrenewed session Leases) and
 * grants no more on leases.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { AuthorizationV1Api, CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore, ForbiddenError, type BucketKind } from '../../../src/index.js';
import { ManualClock } from '../../../src/testing/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectApiStatus } from '../../support/kube.js';
import { asServiceAccount } from '../../support/rbac.js';
import { waitFor } from '../../support/wait.js';
import { messageLogger } from '../../support/message-logger.js';

const cp = testControlPlane();
const bounded = { timeout: 180_000 };

/** Names of the objects of `kind` labelled as chunks of `bucket`, as the admin sees them. */
async function chunkNames(kind: BucketKind, namespace: string, bucket: string): Promise<string[]> {
  const core = cp.adminKubeConfig().makeApiClient(CoreV1Api);
  const labelSelector = `kubekv.dev/chunk-of=${bucket}`;
  const listed = kind === 'Secret' ? await core.listNamespacedSecret({ namespace, labelSelector }) : await core.listNamespacedConfigMap({ namespace, labelSelector });
  return listed.items.map((item) => item.metadata?.name ?? '').sort();
}

/** The head's manifest: the chunks it references. */
async function referenced(kind: BucketKind, namespace: string, bucket: string): Promise<string[]> {
  const core = cp.adminKubeConfig().makeApiClient(CoreV1Api);
  const head = kind === 'Secret' ? await core.readNamespacedSecret({ name: bucket, namespace }) : await core.readNamespacedConfigMap({ name: bucket, namespace });
  return (JSON.parse(head.metadata?.annotations?.['kubekv.dev/chunks'] ?? '[]') as { name: string }[]).map((ref) => ref.name).sort();
}

/** The whole chunked life of a bucket under exactly the manifest's permissions. */
async function chunkedLife(kc: KubeConfig, namespace: string, kind: BucketKind, bucket: string): Promise<void> {
  // Tiny thresholds: every few writes compact, every value over 2 KiB goes to value chunks, no GC grace.
  const chunks = { compactBytes: 1024, largeValueBytes: 2048, gcGraceMs: 0 };
  // The namespace comes from the kubeconfig context, as in a Pod.
  const store = await ConfigMapStore.open({ name: bucket, kubeConfig: kc, create: true, kind, chunks });
  try {
    assert.equal(store.namespace, namespace);
    const reader = await ConfigMapStore.open({ name: bucket, kubeConfig: kc, kind });
    try {
      for (let i = 0; i < 12; i++) {
        await store.batch(Array.from({ length: 10 }, (_, j) => ({ op: 'put' as const, key: `k/${i}/${j}`, value: `value ${i} ${j} ${'x'.repeat(40)}` })));
      }
      const large = randomBytes(300_000);
      await store.put('large', large);
      const before = await referenced(kind, namespace, bucket);
      assert.ok(before.length >= 2, 'the head references entries and value chunks');
      // Overwrite the large value and keep compacting: chunks fall out of the manifest, and GC (grace 0) deletes them.
      await store.put('large', 'small now');
      let chunkNamesNow: string[] | undefined;
      for (let i = 0; i < 6; i++) await store.put(`more/${i}`, 'y'.repeat(300));
      await waitFor(async () => {
        await store.put('tick', String(Date.now())); // GC runs after commits
        const [listed, refs] = await Promise.all([chunkNames(kind, namespace, bucket), referenced(kind, namespace, bucket)]);
        chunkNamesNow = listed;
        return listed.length === refs.length && listed.every((name, i) => name === refs[i]);
      }, 'garbage collection to delete every unreferenced chunk', 60_000);
      const gone = before.filter((name) => !(chunkNamesNow ??= []).includes(name));
      assert.ok(gone.length > 0, 'chunks the head referenced before (the large value\'s at least) were collected');
      await waitFor(async () => (await reader.get('large'))?.text === 'small now', 'the second instance to see the writes via its watch');
      assert.equal((await reader.get('k/7/3', { consistent: true }))?.text, `value 7 3 ${'x'.repeat(40)}`);
      assert.equal((await reader.list('k/')).length, 120);
    } finally {
      await reader.close();
    }
    await store.teardown();
  } finally {
    await store.close();
  }
  assert.deepEqual(await chunkNames(kind, namespace, bucket), [], 'teardown removed every chunk');
  const core = cp.adminKubeConfig().makeApiClient(CoreV1Api);
  await expectApiStatus(kind === 'Secret' ? core.readNamespacedSecret({ name: bucket, namespace }) : core.readNamespacedConfigMap({ name: bucket, namespace }), 404);
}

/** What the API server's authorizer decides for the manifest's ServiceAccount. */
function authorizer(namespace: string, group = '') {
  const authz = cp.adminKubeConfig().makeApiClient(AuthorizationV1Api);
  return async (verb: string, resource: string, name?: string) =>
    (await authz.createSubjectAccessReview({
      body: {
        spec: {
          user: `system:serviceaccount:${namespace}:my-app`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
          resourceAttributes: { namespace, verb, group, resource, ...(name ? { name } : {}) },
        },
      },
    })).status?.allowed === true;
}

/** The verbs the chunked layout needs on its object kind, and nothing more. */
async function expectExactGrant(namespace: string, resource: 'configmaps' | 'secrets', bucket: string): Promise<void> {
  const allowed = authorizer(namespace);
  for (const verb of ['get', 'list', 'create', 'delete']) assert.equal(await allowed(verb, resource, 'my-app-state.cany'), true, `${verb} ${resource} (chunks have random names)`);
  for (const verb of ['watch', 'patch']) {
    assert.equal(await allowed(verb, resource, bucket), true, `${verb} the bucket's head`);
    assert.equal(await allowed(verb, resource, 'other-bucket'), false, `${verb} is pinned to the bucket's name`);
  }
  for (const verb of ['update', 'deletecollection']) assert.equal(await allowed(verb, resource, bucket), false, `${verb} ${resource} is not granted (kubekv never uses it)`);
}

describe('deploy/rbac.yaml', () => {
  it('is enough for the chunked layout: open (create), write, value chunks, compaction, garbage collection, a watching reader, teardown', bounded, async () => {
    const namespace = await cp.freshNamespace('rbac');
    const kc = await asServiceAccount(cp, namespace);
    await chunkedLife(kc, namespace, 'ConfigMap', 'my-app-state');
  });

  it('grants exactly what the layout needs on configmaps, and no secrets', bounded, async () => {
    const namespace = await cp.freshNamespace('rbac-exact');
    await asServiceAccount(cp, namespace);
    await expectExactGrant(namespace, 'configmaps', 'my-app-state');
    const allowed = authorizer(namespace);
    for (const verb of ['get', 'list', 'watch', 'create', 'patch', 'delete']) assert.equal(await allowed(verb, 'secrets'), false, `${verb} secrets is not granted by rbac.yaml`);
  });

  it('a Secret bucket under exactly that Role is a ForbiddenError naming secrets, with the server\'s words', bounded, async () => {
    const namespace = await cp.freshNamespace('rbac-nosecrets');
    const kc = await asServiceAccount(cp, namespace);
    await assert.rejects(ConfigMapStore.open({ name: 'my-app-secrets', kubeConfig: kc, kind: 'Secret', create: true }), (err: unknown) =>
      err instanceof ForbiddenError && err.verb === 'get' && err.resource === 'secrets' && err.objectName === 'my-app-secrets'
      && /User "system:serviceaccount:[^"]+"/.test(err.serverMessage ?? '') && err.message.includes('secrets'));
  });

  it('without create on configmaps: creating the bucket, and a value that needs a chunk, fail with a ForbiddenError naming create configmaps', bounded, async () => {
    const namespace = await cp.freshNamespace('rbac-nocreate');
    const kc = await asServiceAccount(cp, namespace, (m) => {
      const without = m.replace('verbs: ["get", "list", "create", "delete"]', 'verbs: ["get", "list", "delete"]');
      assert.notEqual(without, m, 'the manifest has the configmaps rule to edit');
      return without;
    });
    const namesCreate = (err: unknown) => err instanceof ForbiddenError && err.code === 'FORBIDDEN' && err.verb === 'create' && err.resource === 'configmaps'
      && err.message.includes('cannot create configmaps') && /User "system:serviceaccount:[^"]+"/.test(err.serverMessage ?? '');
    await assert.rejects(ConfigMapStore.open({ name: 'my-app-state', kubeConfig: kc, create: true }), namesCreate);
    // The bucket made by someone who may (the manifest's comment: create it yourself).
    await cp.adminKubeConfig().makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace, body: { metadata: { name: 'my-app-state' } } });
    await using store = await ConfigMapStore.open({ name: 'my-app-state', kubeConfig: kc, chunks: { largeValueBytes: 2048 } });
    await store.put('small', 'fits in the head');
    await assert.rejects(store.put('large', randomBytes(10_000)), namesCreate);
    assert.equal(await store.get('large', { consistent: true }), undefined, 'the refused put stored nothing');
    assert.equal((await store.get('small'))?.text, 'fits in the head');
  });
});

describe('deploy/rbac-secrets.yaml (optional, for Secret buckets)', () => {
  it('with rbac.yaml, is enough for a chunked Secret bucket: open, write, value chunks, compaction, garbage collection, teardown', bounded, async () => {
    const namespace = await cp.freshNamespace('rbac-secrets');
    const kc = await asServiceAccount(cp, namespace, (m) => m, ['rbac.yaml', 'rbac-secrets.yaml']);
    await chunkedLife(kc, namespace, 'Secret', 'my-app-secrets');
  });

  it('grants exactly what the layout needs on secrets', bounded, async () => {
    const namespace = await cp.freshNamespace('rbac-secrets-exact');
    await asServiceAccount(cp, namespace, (m) => m, ['rbac.yaml', 'rbac-secrets.yaml']);
    await expectExactGrant(namespace, 'secrets', 'my-app-secrets');
  });
});

describe('deploy/rbac-sessions.yaml (optional, for sessions)', () => {
  it("with rbac.yaml, is enough for sessions: open, bind, close; a sweeper deletes a dead owner's keys, and the Lease of a dead owner that bound none", bounded, async () => {
    const namespace = await cp.freshNamespace('rbac-sessions');
    const kc = await asServiceAccount(cp, namespace, (m) => m, ['rbac.yaml', 'rbac-sessions.yaml']);
    // Owners on clocks that never move renew never, as SIGKILLed processes.
    const owner = await ConfigMapStore.open({ name: 'my-app-state', kubeConfig: kc, create: true, sweep: false, clock: new ManualClock() });
    const sweeperClock = new ManualClock();
    const sweeper = await ConfigMapStore.open({ name: 'my-app-state', kubeConfig: kc, clock: sweeperClock });
    const leases = cp.adminKubeConfig().makeApiClient(CoordinationV1Api);
    const leaseNames = async () => (await leases.listNamespacedLease({ namespace })).items.map((l) => l.metadata?.name);
    try {
      const closing = await owner.session({ ttlMs: 1000 });
      await owner.put('members/a', 'a', { session: closing });
      await closing.close();
      assert.equal(await owner.get('members/a', { consistent: true }), undefined);
      assert.ok(!(await leaseNames()).includes(closing.id), 'close() deleted its Lease');

      const dying = await owner.session({ ttlMs: 1000 });
      const keyless = await owner.session({ ttlMs: 1000 });
      await owner.put('members/b', 'b', { session: dying });
      await waitFor(async () => (await sweeper.get('members/b')) !== undefined, 'the sweeper to see the key');
      await waitFor(async () => {
        await sweeperClock.advance(500);
        const names = await leaseNames();
        return (await sweeper.get('members/b')) === undefined && !names.includes(dying.id) && !names.includes(keyless.id);
      }, "the dead owner's key and both its Leases to go");
    } finally {
      await sweeper.close();
      await owner.close();
    }
  });

  it('grants exactly get, list, watch, update and delete on leases (create comes from rbac.yaml), nothing on other resources', bounded, async () => {
    const namespace = await cp.freshNamespace('rbac-sessions-exact');
    await asServiceAccount(cp, namespace, (m) => m, ['rbac.yaml', 'rbac-sessions.yaml']);
    const allowed = authorizer(namespace, 'coordination.k8s.io');
    for (const verb of ['get', 'list', 'watch', 'update', 'delete', 'create']) assert.equal(await allowed(verb, 'leases', 'my-app-state-session-0123456789abcdef'), true, `${verb} leases (session names are random)`);
    for (const verb of ['patch', 'deletecollection']) assert.equal(await allowed(verb, 'leases', 'my-app-state-session-0123456789abcdef'), false, `${verb} leases is not granted (kubekv never uses it on a session)`);
  });

  it('without it, a sweeping store opens and expires keys; the list of session Leases is refused (logged once), and a session cannot be opened: ForbiddenError', bounded, async () => {
    const namespace = await cp.freshNamespace('rbac-no-sessions');
    const kc = await asServiceAccount(cp, namespace);
    const { logger, messages } = messageLogger();
    const store = await ConfigMapStore.open({ name: 'my-app-state', kubeConfig: kc, create: true, logger });
    try {
      await store.put('k', 'v', { ttlMs: 1000 });
      await waitFor(async () => (await store.get('k')) === undefined, 'the key to expire');
      await waitFor(() => messages.some((m) => m.startsWith('may not list and watch session Leases')), 'the refused list to be logged');
      // The refusal is the sweeper's one message: the list+watch loop's own retry warnings stay quiet.
      assert.equal(messages.filter((m) => m.startsWith('list+watch failed')).length, 0, messages.join(' | '));
      await assert.rejects(store.session({ ttlMs: 1000 }), ForbiddenError);
    } finally {
      await store.close();
    }
    assert.equal(messages.filter((m) => m.startsWith('may not list and watch session Leases')).length, 1);
  });
});
