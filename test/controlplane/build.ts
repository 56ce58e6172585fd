/**
 * Builds the kubekv-controlplane Go binary (real kube-apiserver + etcd) once
 * and caches it under .cache/controlplane/<key>/, where the key hashes the Go
 * sources, go.mod, go.sum and the Go version: a second run with nothing
 * changed starts at once, any change rebuilds.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Directory holding the Go module of the control plane. */
export const controlPlaneModuleDir = dirname(fileURLToPath(import.meta.url));
/** Repository root. */
export const repoRoot = resolve(controlPlaneModuleDir, '..', '..');

/** The Kubernetes release the harness builds; keep in step with go.mod. */
export const kubernetesVersion = 'v1.36.3';

/** Name of the built binary. */
export const binaryName = 'kubekv-controlplane';

/** Where Go lives when it is not on PATH (the machine image installs it here). */
const fallbackGoRoots = ['/usr/local/go/bin'];

/** Result of {@link ensureBinary}. */
export interface BuiltBinary {
  /** Absolute path of the binary. */
  path: string;
  /** True when this call compiled it (false: cache hit). */
  built: boolean;
  /** Milliseconds spent compiling (0 on a cache hit). */
  buildMs: number;
}

/** Finds the `go` command, on PATH or at the image's standard location. */
export async function goCommand(): Promise<string> {
  try {
    await run('go', ['version']);
    return 'go';
  } catch {
    for (const dir of fallbackGoRoots) {
      const candidate = join(dir, 'go');
      if (existsSync(candidate)) return candidate;
    }
    throw new Error('the Go toolchain is required to build the test control plane: `go` is not on PATH nor in /usr/local/go/bin');
  }
}

/** What {@link buildCachedGoBinary} builds and how it is cached. */
export interface CachedGoBuild {
  /** Binary name. */
  name: string;
  /** Folder under .cache/ that holds one subfolder per cache key. */
  cacheDir: string;
  /** Package to build, relative to the control plane's Go module ("." or "./checker"). */
  pkg: string;
  /** Directory of the Go module to build in. Default: the control plane's module. */
  moduleDir?: string;
  /** Strings hashed into the key after the Go version (e.g. a release pinned elsewhere). */
  salt?: string[];
  /** Files hashed into the key, each under its label, in order. */
  inputs: { label: string; path: string }[];
  /** -ldflags, if any. */
  ldflags?: string;
  /** What is built, for the progress line ("kube-apiserver + etcd"). */
  what: string;
  log: (line: string) => void;
}

/**
 * Returns a binary of the control plane's Go module from
 * .cache/<cacheDir>/<key>/<name>, building it first when the key (a hash of
 * the Go version, `salt` and `inputs`) is new: any change rebuilds, nothing
 * else does.
 */
export async function buildCachedGoBinary(build: CachedGoBuild): Promise<BuiltBinary> {
  const go = await goCommand();
  const hash = createHash('sha256');
  const { stdout: goVersion } = await run(go, ['version']);
  hash.update(goVersion);
  for (const salt of build.salt ?? []) hash.update(salt);
  for (const input of build.inputs) {
    hash.update(input.label);
    hash.update(await readFile(input.path));
  }
  const dir = join(repoRoot, '.cache', build.cacheDir, hash.digest('hex').slice(0, 16));
  const path = join(dir, build.name);
  if (existsSync(path)) return { path, built: false, buildMs: 0 };

  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  build.log(`building ${build.name} (${build.what})`);
  const started = Date.now();
  try {
    await run(go, ['build', '-trimpath', ...(build.ldflags ? ['-ldflags', build.ldflags] : []), '-o', tmp, build.pkg], {
      cwd: build.moduleDir ?? controlPlaneModuleDir,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    await rm(tmp, { force: true });
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`go build of ${build.name} failed:\n${stderr.slice(-8000)}`, { cause: err });
  }
  // Rename is atomic: a concurrent run never sees a half-written binary.
  await rename(tmp, path);
  const buildMs = Date.now() - started;
  build.log(`built ${build.name} in ${(buildMs / 1000).toFixed(1)} s`);
  return { path, built: true, buildMs };
}

/**
 * Returns the cached control-plane binary, building it first if the sources,
 * dependencies or Go version changed. A cold build of kube-apiserver takes
 * several minutes on two cores; progress goes to `log`.
 */
export async function ensureBinary(log: (line: string) => void = () => {}): Promise<BuiltBinary> {
  const files = (await readdir(controlPlaneModuleDir))
    .filter((f) => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum')
    .sort();
  const ldflags = [
    '-s',
    '-w',
    // So /version reports the real release instead of v0.0.0-master.
    `-X k8s.io/component-base/version.gitVersion=${kubernetesVersion}`,
    `-X k8s.io/component-base/version.gitMajor=${kubernetesVersion.slice(1).split('.')[0]}`,
    `-X k8s.io/component-base/version.gitMinor=${kubernetesVersion.split('.')[1]}`,
  ].join(' ');
  return buildCachedGoBinary({
    name: binaryName,
    cacheDir: 'controlplane',
    pkg: '.',
    salt: [kubernetesVersion],
    inputs: files.map((file) => ({ label: file, path: join(controlPlaneModuleDir, file) })),
    ldflags,
    what: `kube-apiserver ${kubernetesVersion} + etcd; a cold build takes several minutes`,
    log,
  });
}

/**
 * Go module that builds the real kubectl (k8s.io/kubernetes/cmd/kubectl, a
 * `tool` of that module), kept apart from the control plane's module so
 * kubectl's extra dependencies (kustomize, cli-runtime, ...) never change
 * what the apiserver is built from, nor its cache key.
 */
export const kubectlModuleDir = join(controlPlaneModuleDir, 'kubectl');

/**
 * Returns a kubectl binary of {@link kubernetesVersion}, built from Go
 * modules and cached under .cache/kubectl/<key>/ like the control plane
 * (the key hashes the Go version and that module's go.mod and go.sum). For
 * tests that run the real kubectl, e.g. finding the `kubectl-kv` plugin on
 * PATH. Built after the control plane, it reuses most of its compiled
 * packages: about 75 s on two cores.
 */
export async function ensureKubectl(log: (line: string) => void = () => {}): Promise<BuiltBinary> {
  const [major, minor] = kubernetesVersion.slice(1).split('.');
  return buildCachedGoBinary({
    name: 'kubectl',
    cacheDir: 'kubectl',
    pkg: 'k8s.io/kubernetes/cmd/kubectl',
    moduleDir: kubectlModuleDir,
    salt: [kubernetesVersion],
    inputs: ['go.mod', 'go.sum'].map((file) => ({ label: `kubectl/${file}`, path: join(kubectlModuleDir, file) })),
    // So `kubectl version` reports the release instead of v0.0.0-master.
    ldflags: `-s -w -X k8s.io/component-base/version.gitVersion=${kubernetesVersion} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor}`,
    what: `kubectl ${kubernetesVersion}`,
    log,
  });
}
