/**
 * The api-facts suite is what pins FakeCluster to the real apiserver, so it
 * must be able to fail: three fakes, each broken in a way kubekv's
 * correctness depends on, must each fail a fact. A broken fake here is the
 * real FakeCluster behind a wrapper that changes one answer as a buggy fake
 * would.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeApi, MergePatch, ResourceClient, WatchEvent, WatchOptions } from '../../../src/kube/api.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { FakeCluster } from '../../../src/testing/index.js';
import { apiFactsOf } from '../../support/api-facts.js';

type Breakage = <T extends KubeObject>(client: ResourceClient<T>) => Partial<ResourceClient<T>>;

/** A KubeApi whose every resource client has `broken`'s methods in place of the fake's. */
function brokenApi(api: KubeApi, broken: Breakage): KubeApi {
  const wrap = <T extends KubeObject>(client: ResourceClient<T>): ResourceClient<T> => {
    const overrides = broken(client);
    return new Proxy(client, {
      get: (target, prop) => {
        if (prop in overrides) return overrides[prop as keyof ResourceClient<T>];
        const value = Reflect.get(target, prop) as unknown;
        // The fake's methods use private fields: call them on the fake itself.
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  return {
    defaultNamespace: api.defaultNamespace,
    configMaps: (namespace) => wrap(api.configMaps(namespace)),
    secrets: (namespace) => wrap(api.secrets(namespace)),
    leases: (namespace) => wrap(api.leases(namespace)),
    events: (namespace) => wrap(api.events(namespace)),
  };
}

/** Runs every fact against a fake broken by `broken`; returns the names of those that failed. */
async function failedFacts(broken: Breakage): Promise<string[]> {
  let fake = new FakeCluster();
  const facts = apiFactsOf({
    name: 'a broken FakeCluster',
    space: () => {
      fake = new FakeCluster();
      return Promise.resolve({ api: brokenApi(fake.api, broken), namespace: 'facts' });
    },
    compact: () => Promise.resolve(fake.compact()),
  });
  const failed: string[] = [];
  for (const fact of facts) {
    try {
      await fact.check();
    } catch {
      failed.push(fact.name);
    }
  }
  return failed;
}

/** Drops every null of a merge patch's maps: the fake "ignores" deletions. */
function withoutNulls(patch: MergePatch): MergePatch {
  const strip = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, strip(v)]));
  };
  return strip(patch) as MergePatch;
}

describe('the api-facts suite catches a broken fake', () => {
  it('an unbroken FakeCluster passes every fact (so the failures below are the breakage)', async () => {
    assert.deepEqual(await failedFacts(() => ({})), []);
  });

  it('no 409 on a stale resourceVersion: writes are applied over the current version', async () => {
    const failed = await failedFacts((client) => ({
      update: async (body, options) => {
        const current = await client.get(body.metadata?.name ?? '');
        const resourceVersion = current?.metadata?.resourceVersion ?? body.metadata?.resourceVersion;
        return client.update({ ...body, metadata: { ...body.metadata, resourceVersion } }, options);
      },
      patch: async (name, patch, options) => {
        const resourceVersion = (await client.get(name))?.metadata?.resourceVersion ?? patch.metadata.resourceVersion;
        return client.patch(name, { ...patch, metadata: { ...patch.metadata, resourceVersion } }, options);
      },
    }));
    assert.ok(failed.includes('an update with a stale resourceVersion is a conflict and changes nothing'), `failed: ${JSON.stringify(failed)}`);
  });

  it('watch events out of order: each pair of events delivered swapped', async () => {
    const failed = await failedFacts((client) => ({
      watch: async function* (options: WatchOptions) {
        let held: WatchEvent<(typeof client extends ResourceClient<infer T> ? T : never)> | undefined;
        for await (const event of client.watch(options)) {
          if (event.type === 'BOOKMARK') {
            yield event;
          } else if (held === undefined) {
            held = event;
          } else {
            yield event;
            yield held;
            held = undefined;
          }
        }
      },
    }));
    assert.ok(failed.includes('a watch from a resourceVersion delivers every later change in order, DELETED last'), `failed: ${JSON.stringify(failed)}`);
  });

  it('merge-patch null ignored: a patch cannot delete a key', async () => {
    const failed = await failedFacts((client) => ({
      patch: (name, patch, options) => client.patch(name, withoutNulls(patch), options),
    }));
    assert.ok(failed.includes('a merge patch with null deletes that key, leaves the others, and moves the resourceVersion on'), `failed: ${JSON.stringify(failed)}`);
  });
});
