/**
 * examples/service-discovery.ts on the real control plane: a reader's
 * watchTree('members/') sees members join; one that shuts down leaves at
 * once (its session closed, one commit); one that is SIGKILLed (a separate
 * process) leaves once its session Lease has gone unrenewed for the TTL,
 * with reason 'expired'. The time it took is printed, not asserted: the
 * bound is measured by the bench, and the never-early rule by the unit
 * tests on a ManualClock.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { main, type MembershipEvent } from '../../../examples/service-discovery.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
const stops: AbortController[] = [];
const running: Promise<void>[] = [];
after(async () => {
  for (const stop of stops) stop.abort();
  await Promise.allSettled(running);
});

function start(options: Omit<Parameters<typeof main>[0], 'signal' | 'kubeConfig'>): AbortController {
  const stop = new AbortController();
  stops.push(stop);
  running.push(main({ ...options, kubeConfig: cp.adminKubeConfig(), signal: stop.signal }));
  return stop;
}

describe('examples/service-discovery', () => {
  it('members join; one that stops leaves at once, one that is SIGKILLed leaves once its session expires', { timeout: 120_000 }, async () => {
    const namespace = await cp.freshNamespace('ex-discovery');
    const events: MembershipEvent[] = [];
    start({ role: 'watch', namespace, onEvent: (event) => events.push(event) });
    const joined = (id: string) => events.some((e) => e.type === 'join' && e.id === id);
    const left = (id: string) => events.find((e): e is Extract<MembershipEvent, { type: 'leave' }> => e.type === 'leave' && e.id === id);

    const a = start({ role: 'member', namespace, id: 'a', address: '10.0.0.1:8080', ttlMs: 2000 });
    await waitFor(() => joined('a'), 'member a to join');
    const child = spawn(process.execPath, [
      '--import', 'tsx', fileURLToPath(new URL('../../../examples/service-discovery.ts', import.meta.url)),
      'member', '--id', 'b', '--address', '10.0.0.2:8080', '--ttl', '2000', '--namespace', namespace, '--kubeconfig', cp.adminKubeconfigPath,
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => joined('b'), 'member b (a process) to join', 60_000);
      a.abort();
      await waitFor(() => left('a'), 'member a to leave');
      assert.equal(left('a')?.reason, 'expired', 'a closed session deletes its keys as expired');

      child.kill('SIGKILL');
      await exited;
      const killedAt = performance.now();
      await waitFor(() => left('b'), 'the SIGKILLed member b to leave', 30_000);
      console.log(`# member b left ${Math.round(performance.now() - killedAt)} ms after SIGKILL (session TTL 2000 ms)`);
      assert.equal(left('b')?.reason, 'expired');
      assert.deepEqual(events.filter((e) => e.type === 'join').map((e) => e.type === 'join' && [e.id, e.address]), [['a', '10.0.0.1:8080'], ['b', '10.0.0.2:8080']]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
