/**
 * The epoch raise on a real bucket, as the StateManager sends it (one write
 * of the store's pipeline): it never takes an epoch back, so an ex-leader
 * whose raise arrives after the new leader's is refused; it carries the
 * leadership signal, so a raise of a period that has ended is withdrawn.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { AbortedError, ConfigMapStore, FencedError } from '../../../src/index.js';
import { storeInternals } from '../../../src/store/configmap-store.js';
import { testControlPlane } from '../../controlplane/remote.js';

const cp = testControlPlane();
let namespace: string;
before(async () => {
  namespace = await cp.freshNamespace('fencing');
});

const annotations = async (name: string) =>
  (await cp.adminKubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({ name, namespace })).metadata?.annotations ?? {};

describe('epoch raise', () => {
  it('raises, recognises its own raise, and refuses to go back or to take over an equal epoch', async () => {
    const store = await ConfigMapStore.open({ name: 'raise', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
    try {
      const raise = (epoch: number, leader: string) => store[storeInternals].raiseEpoch(epoch, leader, new AbortController().signal);
      assert.equal(await raise(7, 'new'), true);
      assert.equal(await raise(7, 'new'), false, 'its own raise is already there');
      // The ex-leader of term 6, whose raise was delayed past the new leader's.
      await assert.rejects(raise(6, 'ex'), (err: unknown) => err instanceof FencedError && err.heldEpoch === 6 && err.currentEpoch === 7);
      await assert.rejects(raise(7, 'ex'), FencedError);
      const after = await annotations('raise');
      assert.equal(after['kubekv.dev/epoch'], '7');
      assert.equal(after['kubekv.dev/leader'], 'new');
      assert.equal(await raise(8, 'next'), true);
      assert.equal((await annotations('raise'))['kubekv.dev/epoch'], '8');
    } finally {
      await store.close();
    }
  });

  it('a raise whose leadership already ended is withdrawn: nothing is written', async () => {
    const store = await ConfigMapStore.open({ name: 'withdrawn', namespace, kubeConfig: cp.adminKubeConfig(), create: true });
    try {
      const ended = new AbortController();
      ended.abort(new Error('leadership ended'));
      await assert.rejects(store[storeInternals].raiseEpoch(3, 'gone', ended.signal), AbortedError);
      assert.equal((await annotations('withdrawn'))['kubekv.dev/epoch'], undefined);
    } finally {
      await store.close();
    }
  });
});
