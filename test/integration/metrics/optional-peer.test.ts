/**
 * prom-client is an optional peer dependency: in a process where it cannot
 * be resolved (a child that hides it, as if not installed), kubekv loads,
 * stores, reads and locks; asking for metrics there is an
 * InvalidOptionError naming the option, before any request (no Lease is
 * created for the manager that asked).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from '../../controlplane/build.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { readLease } from '../events/kube-helpers.js';

const cp = testControlPlane();

describe('without prom-client installed', () => {
  it('kubekv works, and a metrics option is a typed error before any request', async () => {
    const namespace = await cp.freshNamespace('no-prom');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test/integration/metrics/without-prom-client.ts'), cp.adminKubeconfigPath, namespace],
      { cwd: repoRoot, timeout: 120_000 },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      promClientLoads: boolean;
      readBack: string;
      refusals: Record<string, unknown>;
    };
    assert.equal(result.promClientLoads, false, 'the child really cannot load prom-client');
    assert.equal(result.readBack, 'v', 'the store works without it');
    const expected = { name: 'InvalidOptionError', code: 'INVALID_OPTION', option: 'metrics', hasCause: true };
    assert.deepEqual(result.refusals, { store: expected, manager: expected });
    await assert.rejects(readLease(cp.adminKubeConfig(), namespace, 'no-prom-app-leader'), /404/, 'the refused manager made no request for its Lease');
  });
});
