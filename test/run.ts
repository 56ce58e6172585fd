/**
 * `npm test`: starts ONE real control plane for the whole run, then runs every
 * test file with node's built-in test runner (through tsx). Test processes
 * find the control plane via KUBEKV_TEST_CONTROLPLANE (see
 * test/controlplane/remote.ts).
 *
 * If the control plane cannot be built or started, the run fails with the
 * reason: no test skips because the server is absent.
 *
 * Usage: npm test [-- <substring> ...]   run only files whose path contains a substring.
 * Files under test/unit/ need no server; a run of only those does not start one.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ControlPlane } from './controlplane/index.js';
import { controlPlaneEnv } from './controlplane/remote.js';
import { serveControl } from './controlplane/control-server.js';
import { repoRoot } from './controlplane/build.js';

const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const files = (await readdir(join(repoRoot, 'test'), { recursive: true }))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => join('test', f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

const needsServer = files.some((f) => !f.startsWith(join('test', 'unit')));
const started = Date.now();
const env: NodeJS.ProcessEnv = { ...process.env };
let cp: ControlPlane | undefined;
let control: Awaited<ReturnType<typeof serveControl>> | undefined;

if (needsServer) {
  try {
    cp = await ControlPlane.start({ log: (line) => console.log(`[controlplane] ${line}`) });
  } catch (err) {
    console.error('FAILED to start the test control plane (kube-apiserver + etcd); no test can run without it:');
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
  control = await serveControl(cp);
  const descriptionPath = join(cp.dir, 'controlplane.json');
  writeFileSync(descriptionPath, JSON.stringify(control.description));
  env[controlPlaneEnv] = descriptionPath;
}

const stopAll = async () => {
  await control?.close();
  await cp?.stop();
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void stopAll().then(() => process.exit(130));
  });
}

// Files run one at a time: some integration tests restart or compact the
// shared control plane, which would disturb a file running beside them.
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env, cwd: repoRoot },
);
const [code] = (await once(child, 'exit')) as [number | null];

if (cp) {
  const stats = cp.stats();
  console.log(
    `[controlplane] kube-apiserver ${stats.kubernetesVersion}; build ${(stats.buildMs / 1000).toFixed(0)} s; ` +
      `start-to-ready ${(stats.startToReadyMs / 1000).toFixed(1)} s; peak RSS apiserver ${mib(stats.peakRssBytes.apiserver)} MiB, ` +
      `etcd ${mib(stats.peakRssBytes.etcd)} MiB`,
  );
  if (code !== 0) {
    cp.keepStateDir();
    console.log(`[controlplane] tests failed: logs and etcd data kept in ${relative(repoRoot, cp.dir)}`);
  }
}
await stopAll();
console.log(`[test] ${files.length} files in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(code ?? 1);

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}
