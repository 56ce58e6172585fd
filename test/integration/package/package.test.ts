/**
 * The package as a user gets it: `npm pack` of this checkout (its prepack
 * builds dist/), installed from the tarball into a scratch project outside
 * the repository (os.tmpdir()), then used there the ways apps use it:
 *
 * - what the tarball holds: dist (no source maps, no CLI declarations),
 *   LICENSE, README, docs/cli.md (help points at it);
 * - `import` from ESM and `require()` from CommonJS, on this Node and on
 *   the oldest supported one (22.19, npm's `node` package in
 *   .cache/node-min, installed there if missing);
 * - a TypeScript file using `kubekv` and `kubekv/testing` type-checks under
 *   strict + exactOptionalPropertyTypes + verbatimModuleSyntax (the repo's
 *   own tsc, by absolute path);
 * - the installed bins: `kubekv version`, and `kubectl kv --help` through a
 *   real kubectl (built from Go modules, test/controlplane/build.ts) that
 *   finds the installed `kubectl-kv` on PATH;
 * - `kubekv --help` and `version` load neither @kubernetes/client-node nor
 *   undici (what makes them start in ~0.1 s instead of ~0.5 s), nor does
 *   importing kubekv/testing (a test file pays no Kubernetes client);
 * - an older Node (the machine's own Node 20, else npm's node@20 in
 *   .cache/node-old) is refused in words by the CLI, `import` and `require`.
 *
 * Needs no control plane, but is no unit test: it runs npm and a build.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ensureKubectl, repoRoot } from '../../controlplane/build.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

let work = '';
let app = '';
let packedFiles: string[] = [];

/** Runs `command` in the scratch app with this Node first on PATH (the bins' `#!/usr/bin/env node`). */
async function inApp(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  const path = [dirname(process.execPath), join(app, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter);
  const clean = { ...process.env };
  for (const name of ['NODE_OPTIONS', 'KUBECONFIG', 'NAMESPACE', 'KUBEKV_BUCKET', 'npm_config_prefix']) delete clean[name];
  return run(command, [...args], { cwd: app, env: { ...clean, PATH: path, ...env }, timeout: 120_000, maxBuffer: 16 << 20 });
}

/** A failed run's exit code and output (execFile rejects with them). */
async function failing(command: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await inApp(command, args);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'kubekv-package-'));
  // prepack builds dist/ from src/: the tarball is what a fresh clone would publish.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: repoRoot, timeout: 300_000, maxBuffer: 16 << 20 });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = packed!.files.map((f) => f.path);
  app = join(work, 'app');
  execFileSync('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true }));
  // The dependencies come from npm's cache when `npm ci` filled it (--prefer-offline); the registry otherwise.
  await inApp('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(work, packed!.filename)]);
}, { timeout: 600_000 });

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships dist, LICENSE, README and docs/cli.md; no source maps, no CLI declarations, no sources', () => {
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts', 'dist/cli/main.js', 'LICENSE', 'README.md', 'docs/cli.md', 'package.json']) {
      assert.ok(packedFiles.includes(file), `${file} is in the tarball`);
    }
    assert.deepEqual(packedFiles.filter((f) => f.endsWith('.map')), [], 'no source maps (their sources are not shipped)');
    assert.deepEqual(packedFiles.filter((f) => f.startsWith('dist/cli/') && f.endsWith('.d.ts')), [], 'the CLI is no API: no declarations');
    assert.deepEqual(packedFiles.filter((f) => f.startsWith('src/') || f.startsWith('test/')), []);
    assert.match(readFileSync(join(app, 'node_modules', 'kubekv', 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules', 'kubekv', 'package.json'), 'utf8')) as { peerDependenciesMeta: { 'prom-client': { optional: unknown } } };
    assert.equal(manifest.peerDependenciesMeta['prom-client'].optional, true, 'a boolean, as npm and pnpm read it');
    assert.ok(!existsSync(join(app, 'node_modules', 'prom-client')), 'the optional peer is not installed with it');
  });

  it('imports as ESM', async () => {
    const script = [
      "const k = await import('kubekv'); const t = await import('kubekv/testing');",
      "for (const name of ['ConfigMapStore', 'StateManager', 'LeaseElector', 'KubekvError', 'healthHandler']) if (typeof k[name] !== 'function') throw new Error(name);",
      "for (const name of ['MemoryStore', 'MemoryStateManager', 'MemoryCluster', 'ManualClock']) if (typeof t[name] !== 'function') throw new Error(name);",
      "const store = await t.MemoryStore.open({ name: 'b', create: true }); await store.put('k', 'v'); console.log((await store.get('k')).text);",
    ].join('\n');
    const { stdout } = await inApp(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(stdout, 'v\n');
  });

  const cjs = [
    "const k = require('kubekv'); const t = require('kubekv/testing');",
    "if (typeof k.ConfigMapStore !== 'function' || typeof k.StateManager !== 'function' || typeof t.MemoryStore !== 'function') throw new Error('missing exports');",
    "if (!(new k.InvalidOptionError('x', 1, 'y') instanceof k.KubekvError)) throw new Error('one module instance');",
    "console.log(require('kubekv/package.json').version);",
  ].join('\n');

  it('is required from CommonJS (Node >= 22.12 loads ES modules with require)', async () => {
    writeFileSync(join(app, 'check.cjs'), cjs);
    const { stdout, stderr } = await inApp(process.execPath, ['check.cjs']);
    assert.equal(stdout, `${pkg.version}\n`);
    assert.doesNotMatch(stderr, /ExperimentalWarning/);
  });

  it('is required from CommonJS and imported on the oldest supported Node (22.19)', { timeout: 300_000 }, async () => {
    const nodeMin = await npmNode('22.19.0', 'node-min');
    writeFileSync(join(app, 'check.cjs'), cjs);
    const { stdout, stderr } = await inApp(nodeMin, ['check.cjs']);
    assert.equal(stdout, `${pkg.version}\n`);
    assert.doesNotMatch(stderr, /ExperimentalWarning/);
    await inApp(nodeMin, ['--input-type=module', '-e', "await import('kubekv'); await import('kubekv/testing');"]);
  });

  it('type-checks an app under strict, exactOptionalPropertyTypes and verbatimModuleSyntax', async () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2024',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          verbatimModuleSyntax: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          // As \`tsc --init\` sets it. With false, @kubernetes/client-node's own declarations
          // (which kubekv's reference for KubeConfig) fail without @types/ws: its issue, not kubekv's.
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(repoRoot, 'node_modules', '@types')],
        },
        files: ['app.mts'],
      }),
    );
    writeFileSync(
      join(app, 'app.mts'),
      `import { ConfigMapStore, KeyModifiedError, StateManager, type KVPair, type OpenStoreOptions, type Store } from 'kubekv';
import { ManualClock, MemoryStateManager, MemoryStore, type StateManagerApi } from 'kubekv/testing';

const options: OpenStoreOptions = { name: 'app-state', create: true, timeoutMs: 5_000 };
async function bump(store: Store, key: string): Promise<KVPair> {
  for (;;) {
    const current = await store.get(key, { consistent: true });
    try {
      return await store.atomicPut(key, String(Number(current?.text ?? '0') + 1), current);
    } catch (err) {
      if (!(err instanceof KeyModifiedError)) throw err;
    }
  }
}
function work(state: StateManagerApi): void {
  state.onLeader(async ({ store, signal }) => {
    while (!signal.aborted) await bump(store, 'n');
  });
}
const memory: Store = await MemoryStore.open({ name: 'b', create: true, clock: new ManualClock() });
await bump(memory, 'n');
const real: Promise<ConfigMapStore> | undefined = process.env.REAL ? ConfigMapStore.open(options) : undefined;
void real;
work(await MemoryStateManager.start({ name: 'app' }));
void StateManager;
`,
    );
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await failing(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')]);
    assert.equal(result.code, 0, `tsc: ${result.stdout}${result.stderr}`);
  });

  it('runs `kubekv version` and `kubectl kv --help` through the installed bins', async () => {
    const version = await inApp('kubekv', ['version', '-o', 'json']);
    assert.equal((JSON.parse(version.stdout) as { kubekv: string }).kubekv, pkg.version);
    const help = await inApp('kubekv', ['--help']);
    const reference = help.stdout.match(/^Full reference: (.+)$/m)?.[1];
    assert.ok(reference && existsSync(reference), `help names the shipped docs/cli.md: ${reference}`);
    assert.equal(realpathSync(reference), realpathSync(join(app, 'node_modules', 'kubekv', 'docs', 'cli.md')));

    const kubectl = await ensureKubectl((line) => console.log(`[kubectl] ${line}`));
    const plugin = await inApp(kubectl.path, ['kv', '--help']);
    assert.match(plugin.stdout, /^kubekv: /);
    assert.match(plugin.stdout, /^Usage: kubectl kv <command> \[arguments\] \[options\]$/m, 'as a plugin it names itself kubectl kv');
    const listed = await inApp(kubectl.path, ['plugin', 'list']);
    assert.match(listed.stdout, new RegExp(`${join(app, 'node_modules', '.bin', 'kubectl-kv').replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });

  it('starts `kubekv --help` and `kubekv version` without loading a Kubernetes client', async () => {
    const loaded = await modulesLoaded(['--help']);
    assert.ok(loaded.some((url) => url.includes('/kubekv/dist/cli/')), 'the trace sees the CLI');
    assert.deepEqual(loaded.filter(heavy).slice(0, 3), [], '--help');
    assert.deepEqual((await modulesLoaded(['version'])).filter(heavy).slice(0, 3), [], 'version');
  });

  it('imports kubekv/testing without loading a Kubernetes client', async () => {
    const trace = join(work, 'trace.mjs');
    writeFileSync(trace, traceHook);
    await inApp(process.execPath, ['--import', trace, '--input-type=module', '-e', "await import('kubekv/testing');"], { KUBEKV_TRACE: join(work, 'testing.json') });
    const loaded = JSON.parse(readFileSync(join(work, 'testing.json'), 'utf8')) as string[];
    assert.deepEqual(loaded.filter(heavy).slice(0, 3), []);
  });

  it('refuses an older Node in words (the CLI, import and require)', { timeout: 300_000 }, async () => {
    const old = oldNode() ?? (await npmNodeWithVersion('20.19.0', 'node-old'));
    const refusal = new RegExp(`kubekv needs Node >= 22\\.19 \\(this is ${old.version.replaceAll('.', '\\.')}\\)`);
    const bin = join(app, 'node_modules', 'kubekv', 'dist', 'cli', 'main.js');
    const cli = await failing(old.path, [bin, '--help']);
    assert.equal(cli.code, 1);
    assert.equal(cli.stderr, `error: kubekv needs Node >= 22.19 (this is ${old.version})\n`);
    for (const args of [
      ['--input-type=module', '-e', "await import('kubekv')"],
      ['--input-type=module', '-e', "await import('kubekv/testing')"],
      ['-e', "require('kubekv/testing')"],
    ]) {
      const result = await failing(old.path, args);
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, refusal, args.join(' '));
      assert.doesNotMatch(result.stderr, /undici|bind/, args.join(' '));
    }
  });
});

/** Writes every module URL the process resolved to $KUBEKV_TRACE (JSON) when it exits. */
const traceHook = `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const result = next(specifier, context); seen.add(result.url); return result; } });
process.on('exit', () => writeFileSync(process.env.KUBEKV_TRACE, JSON.stringify([...seen])));
`;

/** The modules the installed `kubekv <args>` loads. */
async function modulesLoaded(args: string[]): Promise<string[]> {
  const trace = join(work, 'trace.mjs');
  const out = join(work, `trace-${args[0]}.json`);
  writeFileSync(trace, traceHook);
  await inApp(process.execPath, ['--import', trace, join(app, 'node_modules', 'kubekv', 'dist', 'cli', 'main.js'), ...args], { KUBEKV_TRACE: out });
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

function heavy(url: string): boolean {
  return /\/node_modules\/(@kubernetes\/client-node|undici)\//.test(url);
}

/**
 * The `node` binary of npm's `node` package at `version`, installed under
 * .cache/<dir> the first time (.ci/run installs node-min before npm test; a
 * fresh clone's `npm test` fetches it here from the npm registry), so the
 * test never depends on what else the machine has.
 */
async function npmNode(version: string, dir: string): Promise<string> {
  const prefix = join(repoRoot, '.cache', dir);
  const bin = join(prefix, 'node_modules', '.bin', 'node');
  const installed = existsSync(bin) ? execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim() : '';
  if (installed !== `v${version}`) {
    await run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `node@${version}`], { timeout: 240_000 });
  }
  return bin;
}

async function npmNodeWithVersion(version: string, dir: string): Promise<{ path: string; version: string }> {
  return { path: await npmNode(version, dir), version: `v${version}` };
}

/** A Node older than kubekv supports, if the machine has one (its image ships Node 20). */
function oldNode(): { path: string; version: string } | undefined {
  for (const path of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(path)) continue;
    const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
    const [major = 0, minor = 0] = version.slice(1).split('.').map(Number);
    if (major < 22 || (major === 22 && minor < 19)) return { path, version };
  }
  return undefined;
}
