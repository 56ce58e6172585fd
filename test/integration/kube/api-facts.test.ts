/**
 * Pins down, against the real kube-apiserver, each API behaviour kubekv's
 * store and elector rely on (../shared/DESIGN.md section 3). If an upgrade of
 * Kubernetes or @kubernetes/client-node changes one of these, this file says
 * which promise of kubekv is at risk.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions, V1MicroTime, type V1ConfigMap } from '@kubernetes/client-node';
import { testControlPlane } from '../../controlplane/remote.js';
import { eventVersion, objectVersion } from '../../../src/kube/version-prefix.js';
import { KubeTransport } from '../../../src/kube/transport.js';
import { adminApis, apisFor, expectApiStatus, recordWatch, userWithRole, type Apis } from '../../support/kube.js';

const cp = testControlPlane();
let admin: Apis;
let ns: string;

before(async () => {
  admin = adminApis();
  ns = await cp.freshNamespace('api-facts');
});

async function createConfigMap(name: string, data: Record<string, string> = { a: '1' }): Promise<V1ConfigMap> {
  return admin.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data } });
}

describe('optimistic concurrency on ConfigMaps (every kubekv write is a CAS)', () => {
  it('PUT with a stale resourceVersion is refused with 409 Conflict and changes nothing', async () => {
    const created = await createConfigMap('cas-put');
    const first = await admin.core.replaceNamespacedConfigMap({
      name: 'cas-put', namespace: ns, body: { ...created, data: { a: '2' } },
    });
    assert.notEqual(first.metadata?.resourceVersion, created.metadata?.resourceVersion);
    // `created` still carries the old resourceVersion: this is a lost-update attempt.
    const err = await expectApiStatus(
      admin.core.replaceNamespacedConfigMap({ name: 'cas-put', namespace: ns, body: { ...created, data: { a: 'lost' } } }),
      409,
    );
    assert.match(String(err.body), /the object has been modified/);
    const now = await admin.core.readNamespacedConfigMap({ name: 'cas-put', namespace: ns });
    assert.deepEqual(now.data, { a: '2' });
  });

  it('PUT without a resourceVersion is an unconditional overwrite (why kubekv never sends one)', async () => {
    await createConfigMap('cas-unconditional');
    await admin.core.replaceNamespacedConfigMap({
      name: 'cas-unconditional', namespace: ns, body: { metadata: { name: 'cas-unconditional' }, data: { a: 'overwritten' } },
    });
    const now = await admin.core.readNamespacedConfigMap({ name: 'cas-unconditional', namespace: ns });
    assert.deepEqual(now.data, { a: 'overwritten' });
  });

  it('a merge patch carrying metadata.resourceVersion is a precondition: 409 on mismatch, applied on match', async () => {
    const created = await createConfigMap('cas-patch', { a: '1', keep: 'me' });
    const rv = created.metadata!.resourceVersion!;
    await admin.core.replaceNamespacedConfigMap({ name: 'cas-patch', namespace: ns, body: { ...created, data: { a: '2', keep: 'me' } } });
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await expectApiStatus(
      admin.core.patchNamespacedConfigMap(
        { name: 'cas-patch', namespace: ns, body: { metadata: { resourceVersion: rv }, data: { a: 'stale' } } },
        mergePatch,
      ),
      409,
    );
    const current = await admin.core.readNamespacedConfigMap({ name: 'cas-patch', namespace: ns });
    const patched = await admin.core.patchNamespacedConfigMap(
      { name: 'cas-patch', namespace: ns, body: { metadata: { resourceVersion: current.metadata!.resourceVersion }, data: { a: '3', gone: null } } },
      mergePatch,
    );
    // The patch touched only the keys it named: `keep` survives, which is how a
    // write leaves keys kubekv does not own alone.
    assert.deepEqual(patched.data, { a: '3', keep: 'me' });
  });

  it('DELETE with a resourceVersion precondition: 409 when stale, deletes when current', async () => {
    const created = await createConfigMap('cas-delete');
    const updated = await admin.core.replaceNamespacedConfigMap({
      name: 'cas-delete', namespace: ns, body: { ...created, data: { a: '2' } },
    });
    await expectApiStatus(
      admin.core.deleteNamespacedConfigMap({
        name: 'cas-delete', namespace: ns, body: { preconditions: { resourceVersion: created.metadata!.resourceVersion! } },
      }),
      409,
    );
    await admin.core.deleteNamespacedConfigMap({
      name: 'cas-delete', namespace: ns,
      body: { preconditions: { resourceVersion: updated.metadata!.resourceVersion!, uid: updated.metadata!.uid! } },
    });
    await expectApiStatus(admin.core.readNamespacedConfigMap({ name: 'cas-delete', namespace: ns }), 404);
  });
});

describe('watch (how followers learn of changes without polling)', () => {
  it('from a resourceVersion delivers ADDED, MODIFIED, DELETED in order, each with a newer resourceVersion', async () => {
    const list = await admin.core.listNamespacedConfigMap({ namespace: ns });
    const from = list.metadata!.resourceVersion!;
    const watch = await recordWatch(admin.kc, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: from,
      fieldSelector: 'metadata.name=watched',
    });
    try {
      const created = await createConfigMap('watched');
      await admin.core.replaceNamespacedConfigMap({ name: 'watched', namespace: ns, body: { ...created, data: { a: '2' } } });
      await admin.core.deleteNamespacedConfigMap({ name: 'watched', namespace: ns });
      const events = await watch.until((e) => e.some((x) => x.type === 'DELETED'));
      assert.deepEqual(events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
      const rvs = events.map((e) => BigInt(e.resourceVersion!));
      assert.ok(rvs[0]! > BigInt(from) && rvs[1]! > rvs[0]! && rvs[2]! > rvs[1]!, `resourceVersions not increasing: ${rvs.join(',')}`);
    } finally {
      watch.stop();
    }
  });

  it('each event line and each write answer starts with kind, apiVersion and metadata up to resourceVersion (the prefix a store reads to skip its own commits unparsed)', async () => {
    const created = await createConfigMap('prefix-read', { a: '1' });
    const transport = KubeTransport.for(admin.kc);
    const stream = await transport.open({
      method: 'GET',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      query: { watch: true, resourceVersion: created.metadata!.resourceVersion, fieldSelector: 'metadata.name=prefix-read' },
    });
    const body = stream.body[Symbol.asyncIterator]();
    try {
      // Values and keys that would fool a scan that is not anchored.
      await admin.core.patchNamespacedConfigMap(
        { name: 'prefix-read', namespace: ns, body: { metadata: { annotations: { resourceVersion: '"resourceVersion":"1"' } }, data: { resourceVersion: '2' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      let text = '';
      while (!text.includes('\n')) {
        const next = await body.next();
        assert.ok(!next.done, 'the watch ended before an event');
        text += Buffer.from(next.value).toString('utf8');
      }
      const line = text.slice(0, text.indexOf('\n'));
      const event = JSON.parse(line) as { type: string; object: V1ConfigMap };
      assert.equal(event.type, 'MODIFIED');
      assert.equal(eventVersion(line), event.object.metadata!.resourceVersion);
      // And the answer to a write starts the same way.
      const answer = await transport.open({
        method: 'PATCH',
        path: `/api/v1/namespaces/${ns}/configmaps/prefix-read`,
        contentType: 'application/merge-patch+json',
        body: { metadata: { resourceVersion: event.object.metadata!.resourceVersion }, data: { b: '3' } },
      });
      const json = await answer.text();
      assert.equal(answer.status, 200);
      assert.equal(objectVersion(json), (JSON.parse(json) as V1ConfigMap).metadata!.resourceVersion);
    } finally {
      await body.return?.();
    }
  });

  it('a fieldSelector on metadata.name sees only that object', async () => {
    const list = await admin.core.listNamespacedConfigMap({ namespace: ns });
    const watch = await recordWatch(admin.kc, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: list.metadata!.resourceVersion!,
      fieldSelector: 'metadata.name=selected',
    });
    try {
      await createConfigMap('not-selected-1');
      await createConfigMap('selected');
      await createConfigMap('not-selected-2');
      await admin.core.deleteNamespacedConfigMap({ name: 'selected', namespace: ns });
      const events = await watch.until((e) => e.some((x) => x.type === 'DELETED'));
      assert.deepEqual(events.map((e) => [e.type, e.name]), [['ADDED', 'selected'], ['DELETED', 'selected']]);
    } finally {
      watch.stop();
    }
  });

  it('with sendInitialEvents the current state arrives first, then a BOOKMARK marking its end', async () => {
    await createConfigMap('initial-1');
    await createConfigMap('initial-2');
    const watch = await recordWatch(admin.kc, `/api/v1/namespaces/${ns}/configmaps`, {
      sendInitialEvents: true,
      resourceVersionMatch: 'NotOlderThan',
      allowWatchBookmarks: true,
      labelSelector: '',
      fieldSelector: 'metadata.name=initial-2',
    });
    try {
      const events = await watch.until((e) => e.some((x) => x.type === 'BOOKMARK'));
      assert.deepEqual(events.map((e) => [e.type, e.name ?? '']), [['ADDED', 'initial-2'], ['BOOKMARK', '']]);
      const bookmark = events[1]!;
      assert.equal(bookmark.annotations['k8s.io/initial-events-end'], 'true');
      assert.ok(BigInt(bookmark.resourceVersion!) >= BigInt(events[0]!.resourceVersion!));
    } finally {
      watch.stop();
    }
  });

  it('sends a BOOKMARK carrying changes the watch filtered out, before the watch times out', async () => {
    const list = await admin.core.listNamespacedConfigMap({ namespace: ns });
    // The watch cache sends a bookmark 2 s before a watch's deadline (and
    // about once a minute otherwise); a short timeoutSeconds makes it prompt.
    const watch = await recordWatch(admin.kc, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: list.metadata!.resourceVersion!,
      fieldSelector: 'metadata.name=bookmarked',
      allowWatchBookmarks: true,
      timeoutSeconds: 6,
    });
    try {
      // A change this watch does not match: only a bookmark can tell it that
      // its resourceVersion may move past it (so a reconnect avoids 410).
      const other = await createConfigMap('not-bookmarked');
      const events = await watch.until((e) => e.some((x) => x.type === 'BOOKMARK'), 20_000);
      assert.deepEqual(events.map((e) => e.type), ['BOOKMARK']);
      assert.ok(BigInt(events[0]!.resourceVersion!) >= BigInt(other.metadata!.resourceVersion!));
    } finally {
      watch.stop();
    }
  });

  it('from a compacted resourceVersion fails with 410 Gone (the signal to relist)', async () => {
    const created = await createConfigMap('compacted');
    const oldRv = created.metadata!.resourceVersion!;
    for (let i = 0; i < 3; i++) {
      const cur = await admin.core.readNamespacedConfigMap({ name: 'compacted', namespace: ns });
      await admin.core.replaceNamespacedConfigMap({ name: 'compacted', namespace: ns, body: { ...cur, data: { a: String(i) } } });
    }
    await cp.compact();
    const watch = await recordWatch(admin.kc, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: oldRv });
    const err = await watch.ended;
    // Gone arrives either as the HTTP status of the watch request or as an
    // in-stream ERROR event carrying a Status; a watch loop must handle both.
    const errorEvent = watch.events.find((e) => e.type === 'ERROR');
    const status = errorEvent ? (errorEvent.object as { code?: number }).code : (err as { statusCode?: number } | null)?.statusCode;
    assert.equal(status, 410, `expected 410 Gone, got events ${JSON.stringify(watch.events.map((e) => e.object))} / ${String(err)}`);
  });
});

describe('size limits (the store must reject these locally first)', () => {
  it('a ConfigMap whose values exceed 1 MiB in total is refused with 422', async () => {
    const half = 'x'.repeat(512 * 1024);
    const err = await expectApiStatus(
      createConfigMap('too-big', { a: half, b: half, c: 'x' }),
      422,
    );
    assert.match(String(err.body), /Too long|must have at most 1048576 bytes/);
    // Exactly at the limit is accepted: the limit counts value bytes only, not keys.
    await createConfigMap('at-limit', { a: half, b: half });
  });
});

describe('Leases (the election record)', () => {
  it('MicroTime fields need V1MicroTime: a plain Date is serialised with milliseconds and refused with 400', async () => {
    await expectApiStatus(
      admin.coordination.createNamespacedLease({
        namespace: ns,
        body: { metadata: { name: 'plain-date' }, spec: { holderIdentity: 'a', renewTime: new Date() } },
      }),
      400,
    );
  });

  it('create and update are CAS on resourceVersion and keep every client-go record field', async () => {
    const now = new V1MicroTime();
    const created = await admin.coordination.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: 'election' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      },
    });
    await expectApiStatus(admin.coordination.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'election' } } }), 409);
    const renewTime = new V1MicroTime(now.getTime() + 2000);
    const renewed = await admin.coordination.replaceNamespacedLease({
      name: 'election', namespace: ns,
      body: { metadata: created.metadata!, spec: { ...created.spec, acquireTime: now, renewTime } },
    });
    // A takeover attempt from a stale read loses the race: 409, record unchanged.
    await expectApiStatus(
      admin.coordination.replaceNamespacedLease({
        name: 'election', namespace: ns,
        body: { metadata: created.metadata!, spec: { holderIdentity: 'b', leaseDurationSeconds: 15, leaseTransitions: 1 } },
      }),
      409,
    );
    const read = await admin.coordination.readNamespacedLease({ name: 'election', namespace: ns });
    assert.equal(read.metadata?.resourceVersion, renewed.metadata?.resourceVersion);
    assert.equal(read.spec?.holderIdentity, 'a');
    assert.equal(read.spec?.leaseDurationSeconds, 15);
    assert.equal(read.spec?.leaseTransitions, 0);
    // Read back, MicroTime fields arrive as they are on the wire (microsecond strings).
    assert.equal(new Date(String(read.spec?.renewTime)).getTime(), renewTime.getTime());
    assert.equal(new Date(String(read.spec?.acquireTime)).getTime(), now.getTime());
  });
});

describe('RBAC restricted by resourceNames (the least-privilege Role kubekv documents)', () => {
  it('allows get and fieldSelector list/watch of the named object only', async () => {
    const user = 'system:serviceaccount:' + ns + ':app';
    const kc = await userWithRole(ns, 'bucket-app',
      [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['mine'], verbs: ['get', 'list', 'watch', 'update', 'patch'] }],
      user, ['system:serviceaccounts', `system:serviceaccounts:${ns}`]);
    await createConfigMap('mine');
    await createConfigMap('theirs');
    const app = apisFor(kc);

    const mine = await app.core.readNamespacedConfigMap({ name: 'mine', namespace: ns });
    assert.equal(mine.metadata?.name, 'mine');
    const denied = await expectApiStatus(app.core.readNamespacedConfigMap({ name: 'theirs', namespace: ns }), 403);
    assert.match((JSON.parse(String(denied.body)) as { message: string }).message, /cannot get resource "configmaps"/);
    await expectApiStatus(app.core.replaceNamespacedConfigMap({ name: 'theirs', namespace: ns, body: { metadata: { name: 'theirs' } } }), 403);
    // A list of everything is refused; a list pinned to the name is allowed.
    await expectApiStatus(app.core.listNamespacedConfigMap({ namespace: ns }), 403);
    const listed = await app.core.listNamespacedConfigMap({ namespace: ns, fieldSelector: 'metadata.name=mine' });
    assert.deepEqual(listed.items.map((i) => i.metadata?.name), ['mine']);

    const watch = await recordWatch(app.kc, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: listed.metadata!.resourceVersion!,
      fieldSelector: 'metadata.name=mine',
    });
    try {
      await admin.core.replaceNamespacedConfigMap({ name: 'mine', namespace: ns, body: { ...mine, data: { a: 'seen' } } });
      const events = await watch.until((e) => e.length > 0);
      assert.equal(events[0]!.type, 'MODIFIED');
      assert.deepEqual((events[0]!.object as { data?: unknown }).data, { a: 'seen' });
    } finally {
      watch.stop();
    }
  });
});
