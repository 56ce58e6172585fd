/**
 * A real Kubernetes control plane for kubekv's tests: kube-apiserver
 * (k8s.io/kubernetes) and etcd (go.etcd.io/etcd/server/v3), each its own
 * process of the kubekv-controlplane binary, on 127.0.0.1 with generated
 * certificates and RBAC on. No fake API server exists anywhere in this repo.
 *
 * Guarantees: ports are chosen free and retried on collision; etcd keeps its
 * data across restartApiserver(), restartEtcd() and restartAll(); the child processes die
 * with this process even if it crashes (PR_SET_PDEATHSIG + parent polling in
 * the binary, a synchronous kill on exit here).
 *
 * Non-guarantees: there is no kube-controller-manager, so namespaces never
 * finish deleting (use {@link ControlPlane.freshNamespace}, never delete one),
 * there is no garbage collection, no default ServiceAccount and no
 * kube-root-ca.crt ConfigMap.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureBinary, kubernetesVersion, repoRoot } from './build.js';

const execFileAsync = promisify(execFile);

/** Options of {@link ControlPlane.start}. */
export interface ControlPlaneOptions {
  /** State directory (certificates, etcd data, kubeconfigs, logs). Default: a new directory under .cache/controlplane-runs/. */
  dir?: string;
  /** Receives progress lines (build, start, restart). Default: discard. */
  log?: (line: string) => void;
  /** kube-apiserver's --v. Default 0. */
  apiserverVerbosity?: number;
  /** How long to wait for etcd and then /readyz, in ms. Default 180000. */
  readyTimeoutMs?: number;
  /** Keep an automatically created state directory after stop(), for post-mortems. Default: the KUBEKV_KEEP_CONTROLPLANE env var is "1". */
  keep?: boolean;
}

/** User identity to mint a kubeconfig for. */
export interface MintUserOptions {
  /** User name, e.g. "alice" or "system:serviceaccount:ns:app". */
  user: string;
  /** Groups, e.g. ["system:serviceaccounts"]. Default none. */
  groups?: string[];
  /** Default namespace of the kubeconfig's context. */
  namespace?: string;
}

/** What tests need from a running control plane; the owner and the remote handle share it. */
export interface ControlPlaneHandle {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** Kubeconfig of an identity in system:masters. */
  readonly adminKubeconfigPath: string;
  /** State directory. */
  readonly dir: string;
  /** A fresh KubeConfig loaded from the admin kubeconfig. */
  adminKubeConfig(): KubeConfig;
  /** Writes a kubeconfig for any identity (client certificate from the test CA) and returns its path. */
  mintUser(options: MintUserOptions): Promise<string>;
  /** Creates a namespace with a unique name starting with `prefix` and returns the name. */
  freshNamespace(prefix?: string): Promise<string>;
  /** Restarts kube-apiserver on the same port; etcd and its data stay. */
  restartApiserver(): Promise<void>;
  /** Restarts etcd and kube-apiserver on the same ports; data is kept. */
  restartAll(): Promise<void>;
  /**
   * Restarts etcd alone on the same ports, keeping its data directory;
   * kube-apiserver stays up (failing requests meanwhile) and reconnects.
   * Resolves once /readyz answers ok again.
   */
  restartEtcd(): Promise<void>;
  /**
   * Compacts etcd at its current revision and restarts kube-apiserver, so every
   * older resourceVersion is gone: a watch or list from one gets 410 Gone.
   * (The apiserver's watch cache keeps its own history, so compaction alone
   * would not expire versions it still holds; the restart rebuilds it from the
   * compacted store, as a long outage does to a real cluster.) Returns the
   * revision compacted at.
   */
  compact(): Promise<number>;
}

/** Figures the harness measured, for the CI log and notes. */
export interface ControlPlaneStats {
  kubernetesVersion: string;
  /** Milliseconds spent compiling the binary in this run (0: cached). */
  buildMs: number;
  /** Milliseconds from spawning etcd to /readyz answering ok, first start. */
  startToReadyMs: number;
  /** Highest resident set size seen, in bytes, per process (VmHWM). */
  peakRssBytes: { apiserver: number; etcd: number };
}

interface Ports {
  apiserver: number;
  etcdClient: number;
  etcdPeer: number;
}

const running = new Set<ChildProcess>();
// Last line of defence: never leave a child behind, even on process.exit().
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The control plane owned by this process. */
export class ControlPlane implements ControlPlaneHandle {
  readonly dir: string;
  readonly binary: string;
  readonly adminKubeconfigPath: string;
  #ports: Ports;
  #etcd: ChildProcess | undefined;
  #apiserver: ChildProcess | undefined;
  #log: (line: string) => void;
  #verbosity: number;
  #readyTimeoutMs: number;
  #stats: ControlPlaneStats;
  #stopped = false;
  #removeDirOnStop = false;

  private constructor(dir: string, binary: string, ports: Ports, options: ControlPlaneOptions, buildMs: number) {
    this.dir = dir;
    this.binary = binary;
    this.#ports = ports;
    this.adminKubeconfigPath = join(dir, 'admin.kubeconfig');
    this.#log = options.log ?? (() => {});
    this.#verbosity = options.apiserverVerbosity ?? 0;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 180_000;
    this.#stats = { kubernetesVersion, buildMs, startToReadyMs: 0, peakRssBytes: { apiserver: 0, etcd: 0 } };
  }

  /** https URL of kube-apiserver. */
  get server(): string {
    return `https://127.0.0.1:${this.#ports.apiserver}`;
  }

  /** URL of etcd's client endpoint (plain HTTP on loopback). */
  get etcdUrl(): string {
    return `http://127.0.0.1:${this.#ports.etcdClient}`;
  }

  /** Builds the binary if needed, starts etcd and kube-apiserver, and waits for /readyz. */
  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const log = options.log ?? (() => {});
    const { path: binary, buildMs } = await ensureBinary(log);
    const dir = options.dir ?? (await newRunDir());
    const removeDirOnStop = !options.dir && !(options.keep ?? process.env.KUBEKV_KEEP_CONTROLPLANE === '1');
    await mkdir(dir, { recursive: true });
    await execFileAsync(binary, ['pki', '--dir', dir]);

    let lastError: unknown;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const cp = new ControlPlane(dir, binary, await freePorts(), options, buildMs);
      const started = Date.now();
      cp.#removeDirOnStop = removeDirOnStop && attempt === 3;
      try {
        await cp.#startEtcd();
        await cp.#startApiserver();
        await cp.#writeAdminKubeconfig();
        cp.#stats.startToReadyMs = Date.now() - started;
        cp.#removeDirOnStop = removeDirOnStop;
        log(`control plane ready at ${cp.server} in ${cp.#stats.startToReadyMs} ms (state in ${dir})`);
        return cp;
      } catch (err) {
        lastError = err;
        await cp.stop();
        // A port taken between choosing and binding is the one failure worth retrying.
        if (!/address already in use|bind/i.test(String(err))) break;
        log(`port collision, retrying (${attempt}/3)`);
      }
    }
    throw lastError;
  }

  /** Keeps the state directory (logs, etcd data) after stop(), e.g. because tests failed. */
  keepStateDir(): void {
    this.#removeDirOnStop = false;
  }

  /** Measured figures so far (peak memory is sampled now). */
  stats(): ControlPlaneStats {
    this.#sampleMemory();
    return structuredClone(this.#stats);
  }

  adminKubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.adminKubeconfigPath);
    return kc;
  }

  async mintUser(options: MintUserOptions): Promise<string> {
    return mintKubeconfig(this.binary, this.dir, this.server, options);
  }

  async freshNamespace(prefix = 'test'): Promise<string> {
    return createNamespace(this.adminKubeConfig(), prefix);
  }

  async restartApiserver(): Promise<void> {
    this.#log('restarting kube-apiserver');
    await this.#stopChild(this.#apiserver, 'apiserver');
    this.#apiserver = undefined;
    await this.#startApiserver();
  }

  async restartAll(): Promise<void> {
    this.#log('restarting etcd and kube-apiserver');
    await this.#stopChild(this.#apiserver, 'apiserver');
    this.#apiserver = undefined;
    await this.#stopChild(this.#etcd, 'etcd');
    this.#etcd = undefined;
    await this.#startEtcd();
    await this.#startApiserver();
  }

  async restartEtcd(): Promise<void> {
    this.#log('restarting etcd');
    await this.#stopChild(this.#etcd, 'etcd');
    this.#etcd = undefined;
    await this.#startEtcd();
    // The apiserver's etcd client reconnects by itself; wait until it serves again.
    await withTimeout(this.#waitReady(), this.#readyTimeoutMs, 'kube-apiserver /readyz after the etcd restart');
  }

  async compact(): Promise<number> {
    const { stdout } = await execFileAsync(this.binary, ['compact', '--etcd', this.etcdUrl]);
    const revision = Number(stdout.trim());
    this.#log(`compacted etcd at revision ${revision}`);
    await this.restartApiserver();
    return revision;
  }

  /** Stops kube-apiserver and etcd; removes an automatically created state directory unless `keep`. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#stopChild(this.#apiserver, 'apiserver');
    await this.#stopChild(this.#etcd, 'etcd');
    if (this.#removeDirOnStop) await rm(this.dir, { recursive: true, force: true });
  }

  /** Stops the control plane; `await using cp = await ControlPlane.start()` works. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #startEtcd(): Promise<void> {
    const child = this.#spawn('etcd', [
      '--dir', this.dir,
      '--client-port', String(this.#ports.etcdClient),
      '--peer-port', String(this.#ports.etcdPeer),
    ], 'pipe');
    this.#etcd = child;
    const lines = createInterface({ input: child.stdout! });
    const ready = new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.startsWith('etcd ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`etcd exited with ${code} before ready:\n${tail(join(this.dir, 'etcd.stderr.log'))}`)));
    });
    await withTimeout(ready, this.#readyTimeoutMs, 'etcd to become ready');
  }

  async #startApiserver(): Promise<void> {
    const child = this.#spawn('apiserver', [
      '--dir', this.dir,
      '--port', String(this.#ports.apiserver),
      '--etcd', this.etcdUrl,
      '--v', String(this.#verbosity),
    ], 'ignore');
    this.#apiserver = child;
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`kube-apiserver exited with ${String(code)} before ready:\n${tail(join(this.dir, 'apiserver.stderr.log'))}`);
    });
    exited.catch(() => {}); // observed below via race; avoid an unhandled rejection later
    await withTimeout(Promise.race([this.#waitReady(), exited]), this.#readyTimeoutMs, 'kube-apiserver /readyz');
  }

  async #waitReady(): Promise<void> {
    const tls = {
      ca: readFileSync(join(this.dir, 'ca.crt')),
      ...(await this.#adminCert()),
    };
    for (;;) {
      if (this.#apiserver?.exitCode !== null && this.#apiserver?.exitCode !== undefined) return;
      const status = await httpsStatus(`${this.server}/readyz`, tls).catch(() => 0);
      if (status === 200) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  #adminCertCache: { cert: Buffer; key: Buffer } | undefined;
  async #adminCert(): Promise<{ cert: Buffer; key: Buffer }> {
    if (!this.#adminCertCache) {
      const path = await mintKubeconfig(this.binary, this.dir, this.server, {
        user: 'kubekv-harness',
        groups: ['system:masters'],
      }, join(this.dir, 'harness.kubeconfig'));
      const kc = new KubeConfig();
      kc.loadFromFile(path);
      const user = kc.getCurrentUser();
      this.#adminCertCache = {
        cert: Buffer.from(user?.certData ?? '', 'base64'),
        key: Buffer.from(user?.keyData ?? '', 'base64'),
      };
    }
    return this.#adminCertCache;
  }

  async #writeAdminKubeconfig(): Promise<void> {
    await mintKubeconfig(this.binary, this.dir, this.server, { user: 'kubekv-admin', groups: ['system:masters'], namespace: 'default' }, this.adminKubeconfigPath);
  }

  #spawn(role: 'etcd' | 'apiserver', args: string[], stdout: 'pipe' | 'ignore'): ChildProcess {
    const stderr = openSync(join(this.dir, `${role}.stderr.log`), 'a');
    const child = spawn(this.binary, [role, ...args], { stdio: ['ignore', stdout, stderr] });
    closeSync(stderr);
    running.add(child);
    child.once('exit', () => running.delete(child));
    return child;
  }

  #sampleMemory(): void {
    for (const [role, child] of [['apiserver', this.#apiserver], ['etcd', this.#etcd]] as const) {
      const hwm = child?.pid ? peakRss(child.pid) : 0;
      this.#stats.peakRssBytes[role] = Math.max(this.#stats.peakRssBytes[role], hwm);
    }
  }

  async #stopChild(child: ChildProcess | undefined, role: string): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.#sampleMemory();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    // kube-apiserver's graceful shutdown waits for open watches to drain, which
    // clients reconnecting elsewhere never do here; a few seconds of grace
    // then SIGKILL keeps restarts fast (and is what a crashed server does).
    const graceMs = role === 'apiserver' ? 3000 : 20_000;
    const timer = setTimeout(() => {
      this.#log(`${role} did not stop within ${graceMs} ms; killing it`);
      child.kill('SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Signs a client certificate for `options.user` and writes a kubeconfig; returns its path. */
export async function mintKubeconfig(binary: string, dir: string, server: string, options: MintUserOptions, out?: string): Promise<string> {
  const path = out ?? join(dir, 'users', `${options.user.replace(/[^a-zA-Z0-9_.-]/g, '_')}-${randomBytes(3).toString('hex')}.kubeconfig`);
  const args = ['kubeconfig', '--dir', dir, '--server', server, '--user', options.user, '--out', path];
  if (options.groups?.length) args.push('--groups', options.groups.join(','));
  if (options.namespace) args.push('--namespace', options.namespace);
  await execFileAsync(binary, args);
  return path;
}

/** Creates a uniquely named namespace (never deleted: without a controller-manager it would hang in Terminating). */
export async function createNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'test';
  const name = `${base}-${randomBytes(4).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

async function newRunDir(): Promise<string> {
  const root = join(repoRoot, '.cache', 'controlplane-runs');
  await mkdir(root, { recursive: true });
  return mkdtemp(join(root, 'run-'));
}

async function freePorts(): Promise<Ports> {
  // Hold all three listeners at once so the three ports are distinct.
  const servers = await Promise.all([0, 1, 2].map(async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return server;
  }));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return { apiserver: ports[0]!, etcdClient: ports[1]!, etcdPeer: ports[2]! };
}

function httpsStatus(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function peakRss(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
