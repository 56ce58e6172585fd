/**
 * The answers of the Kubernetes API that kubekv relies on, asked through the
 * KubeApi port, as one suite that runs against every backend: the real
 * kube-apiserver and kubekv/testing's FakeCluster. A fake that passes it
 * answers as the server does where kubekv depends on it (see
 * test/integration/kube/api-facts-port.test.ts, and the closing note of
 * issue 18 for the three ways of breaking the fake that it catches).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/errors.js';
import type { KubeApi } from '../../src/kube/api.js';
import type { WatchEvent } from '../../src/kube/watch-stream.js';

/** A backend for the suite. */
export interface ApiFactsBackend {
  readonly name: string;
  /** A fresh namespace (or cluster) to work in. */
  space(): Promise<{ api: KubeApi; namespace: string }>;
  /** Forgets the history before now, so an older resourceVersion is gone (410). */
  compact(): Promise<void>;
}

/** Reads events of `watch` until `done` holds for them (or `ms` pass). */
async function collect<T>(watch: AsyncGenerator<WatchEvent<T>>, done: (events: Array<WatchEvent<T>>) => boolean, ms = 20_000): Promise<Array<WatchEvent<T>>> {
  const events: Array<WatchEvent<T>> = [];
  const timer = setTimeout(() => void watch.return(undefined), ms);
  try {
    for await (const event of watch) {
      if (event.type !== 'BOOKMARK') events.push(event);
      if (done(events)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return events;
}

/** One fact: its name and the check, which throws when the backend answers otherwise. */
export interface ApiFact {
  readonly name: string;
  readonly check: () => Promise<void>;
}

/** Registers the suite for `backend`. */
export function apiFacts(backend: ApiFactsBackend): void {
  describe(`API facts kubekv relies on (${backend.name})`, () => {
    for (const fact of apiFactsOf(backend)) it(fact.name, fact.check);
  });
}

/** The facts as checks on `backend`, for a suite to register (above) or a test to run against a broken backend. */
export function apiFactsOf(backend: ApiFactsBackend): ApiFact[] {
  const facts: ApiFact[] = [];
  const fact = (name: string, check: () => Promise<void>) => void facts.push({ name, check });
  fact('an update with a stale resourceVersion is a conflict and changes nothing', async () => {
    const { api, namespace } = await backend.space();
    const cms = api.configMaps(namespace);
    const created = await cms.create({ metadata: { name: 'stale' }, data: { a: '1' } });
    assert.ok(created.ok);
    const first = await cms.update({ ...created.object, data: { a: '2' } });
    assert.ok(first.ok);
    assert.deepEqual(await cms.update({ ...created.object, data: { a: 'lost' } }), { ok: false, reason: 'conflict' });
    const stalePatch = await cms.patch('stale', { metadata: { resourceVersion: created.object.metadata!.resourceVersion! }, data: { a: 'lost' } });
    assert.deepEqual(stalePatch, { ok: false, reason: 'conflict' });
    assert.deepEqual((await cms.get('stale'))?.data, { a: '2' });
  });

  fact('a merge patch with null deletes that key, leaves the others, and moves the resourceVersion on', async () => {
    const { api, namespace } = await backend.space();
    const cms = api.configMaps(namespace);
    const created = await cms.create({ metadata: { name: 'nulls', annotations: { x: '1', y: '2' } }, data: { a: '1', b: '2' } });
    assert.ok(created.ok);
    const rv = created.object.metadata!.resourceVersion!;
    const patched = await cms.patch('nulls', { metadata: { resourceVersion: rv, annotations: { x: null } }, data: { a: null, c: '3' } });
    assert.ok(patched.ok && patched.object);
    assert.deepEqual(patched.object.data, { b: '2', c: '3' });
    assert.deepEqual(patched.object.metadata?.annotations, { y: '2' });
    assert.notEqual(patched.object.metadata?.resourceVersion, rv);
    assert.ok(BigInt(patched.object.metadata.resourceVersion!) > BigInt(rv));
  });

  fact('an update or merge patch that changes nothing keeps the resourceVersion and sends no watch event', async () => {
    const { api, namespace } = await backend.space();
    const cms = api.configMaps(namespace);
    const created = await cms.create({ metadata: { name: 'same', labels: { l: 'x' } }, data: { a: '1', b: '2' } });
    assert.ok(created.ok);
    const rv = created.object.metadata!.resourceVersion!;
    const updated = await cms.update({ ...created.object, data: { b: '2', a: '1' } });
    assert.ok(updated.ok && updated.object);
    assert.equal(updated.object.metadata?.resourceVersion, rv);
    const patched = await cms.patch('same', { metadata: { resourceVersion: rv, labels: { l: 'x' } }, data: { a: '1' } });
    assert.ok(patched.ok && patched.object);
    assert.equal(patched.object.metadata?.resourceVersion, rv);
    const changed = await cms.patch('same', { metadata: { resourceVersion: rv }, data: { a: '3' } });
    assert.ok(changed.ok && changed.object);
    const again = await cms.patch('same', { metadata: { resourceVersion: changed.object.metadata!.resourceVersion! }, data: { a: '4' } });
    assert.ok(again.ok && again.object);
    // Ended by its signal too: a watch that holds an event back never reaches the yield collect's return waits for.
    const events = await collect(cms.watch({ resourceVersion: rv, fieldSelector: 'metadata.name=same', signal: AbortSignal.timeout(20_000) }), (e) => e.length >= 2);
    const seen = events.map((e) => [e.type, e.object.data?.['a'], e.object.metadata?.resourceVersion]);
    assert.deepEqual(seen, [['MODIFIED', '3', changed.object.metadata?.resourceVersion], ['MODIFIED', '4', again.object.metadata?.resourceVersion]]);
  });

  fact('a watch from a resourceVersion delivers every later change in order, DELETED last', async () => {
    const { api, namespace } = await backend.space();
    const cms = api.configMaps(namespace);
    const created = await cms.create({ metadata: { name: 'order' }, data: { n: '0' } });
    assert.ok(created.ok);
    let rv = created.object.metadata!.resourceVersion!;
    const written = [];
    for (let n = 1; n <= 5; n++) {
      const result = await cms.patch('order', { metadata: { resourceVersion: rv }, data: { n: String(n) } });
      assert.ok(result.ok && result.object);
      rv = result.object.metadata!.resourceVersion!;
      written.push(rv);
    }
    const removed = await cms.delete('order', { resourceVersion: rv });
    assert.ok(removed.ok);
    const controller = new AbortController();
    const events = await collect(cms.watch({ resourceVersion: created.object.metadata!.resourceVersion!, fieldSelector: 'metadata.name=order', signal: controller.signal }), (e) => e.at(-1)?.type === 'DELETED');
    controller.abort();
    assert.deepEqual(events.map((e) => e.type), ['MODIFIED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED']);
    assert.deepEqual(events.slice(0, 5).map((e) => e.object.data?.['n']), ['1', '2', '3', '4', '5']);
    assert.deepEqual(events.slice(0, 5).map((e) => e.object.metadata?.resourceVersion), written);
    const versions = events.map((e) => BigInt(e.object.metadata!.resourceVersion!));
    assert.ok(versions.every((v, i) => i === 0 || v > versions[i - 1]!), `resourceVersions not increasing: ${versions.join(' ')}`);
  });

  fact('a watch from a compacted resourceVersion fails with 410 Gone (ApiError 410 through the port)', async () => {
    const { api, namespace } = await backend.space();
    const cms = api.configMaps(namespace);
    const created = await cms.create({ metadata: { name: 'compacted' }, data: { a: '0' } });
    assert.ok(created.ok);
    let rv = created.object.metadata!.resourceVersion!;
    for (let i = 1; i <= 3; i++) {
      const result = await cms.patch('compacted', { metadata: { resourceVersion: rv }, data: { a: String(i) } });
      assert.ok(result.ok && result.object);
      rv = result.object.metadata!.resourceVersion!;
    }
    await backend.compact();
    const controller = new AbortController();
    const gone = (err: unknown) => err instanceof ApiError && err.status === 410;
    await assert.rejects(collect(cms.watch({ resourceVersion: created.object.metadata!.resourceVersion!, signal: controller.signal }), () => false, 30_000), gone);
    controller.abort();
  });

  fact('create on an existing name is a conflict, for ConfigMaps and Leases', async () => {
    const { api, namespace } = await backend.space();
    assert.ok((await api.configMaps(namespace).create({ metadata: { name: 'twice' } })).ok);
    assert.deepEqual(await api.configMaps(namespace).create({ metadata: { name: 'twice' }, data: { a: '1' } }), { ok: false, reason: 'conflict' });
    assert.ok((await api.leases(namespace).create({ metadata: { name: 'twice' }, spec: { holderIdentity: 'a' } })).ok);
    assert.deepEqual(await api.leases(namespace).create({ metadata: { name: 'twice' }, spec: { holderIdentity: 'b' } }), { ok: false, reason: 'conflict' });
    assert.equal((await api.leases(namespace).get('twice'))?.spec?.holderIdentity, 'a');
  });

  fact('delete preconditions: a stale resourceVersion or another uid is a conflict, the current one deletes, then not-found', async () => {
    const { api, namespace } = await backend.space();
    const cms = api.configMaps(namespace);
    const created = await cms.create({ metadata: { name: 'doomed' }, data: { a: '1' } });
    assert.ok(created.ok);
    const updated = await cms.update({ ...created.object, data: { a: '2' } });
    assert.ok(updated.ok);
    assert.deepEqual(await cms.delete('doomed', { resourceVersion: created.object.metadata!.resourceVersion! }), { ok: false, reason: 'conflict' });
    assert.deepEqual(await cms.delete('doomed', { uid: '00000000-0000-0000-0000-000000000000' }), { ok: false, reason: 'conflict' });
    assert.ok(await cms.get('doomed'));
    assert.deepEqual(await cms.delete('doomed', { resourceVersion: updated.object.metadata!.resourceVersion!, uid: updated.object.metadata!.uid! }), { ok: true, object: undefined });
    assert.equal(await cms.get('doomed'), undefined);
    assert.deepEqual(await cms.delete('doomed', {}), { ok: false, reason: 'not-found' });
    assert.deepEqual(await cms.update({ ...updated.object }), { ok: false, reason: 'not-found' });
  });

  fact('a list by label selector finds exactly the labelled objects, with a resourceVersion to watch from', async () => {
    const { api, namespace } = await backend.space();
    const cms = api.configMaps(namespace);
    await cms.create({ metadata: { name: 'b1', labels: { 'kubekv.dev/bucket': 'yes' } } });
    await cms.create({ metadata: { name: 'b2', labels: { 'kubekv.dev/bucket': 'yes' } } });
    await cms.create({ metadata: { name: 'other', labels: { 'kubekv.dev/bucket': 'no' } } });
    const listed = await cms.list({ labelSelector: 'kubekv.dev/bucket=yes' });
    assert.deepEqual(listed.items.map((i) => i.metadata?.name).sort(), ['b1', 'b2']);
    assert.match(listed.resourceVersion, /^\d+$/);
  });

  fact('a metadata-only list gives every object with its metadata (labels, annotations, owners) and none of its data', async () => {
    const { api, namespace } = await backend.space();
    const cms = api.configMaps(namespace);
    const created = await cms.create({ metadata: { name: 'meta', labels: { l: 'x' }, annotations: { a: '1' } }, data: { big: 'v'.repeat(10_000) } });
    assert.ok(created.ok);
    const listed = await cms.list({ labelSelector: 'l=x', metadataOnly: true });
    assert.equal(listed.items.length, 1);
    const [item] = listed.items;
    assert.equal(item?.metadata?.name, 'meta');
    assert.equal(item?.metadata?.uid, created.object.metadata?.uid);
    assert.deepEqual(item?.metadata?.annotations, { a: '1' });
    assert.equal(item?.data, undefined);
  });
  return facts;
}
