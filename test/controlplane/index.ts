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
 * Topologies: by default one etcd and one kube-apiserver, clients talking to
 * it directly. With `ha` (see ha.ts): a three-member etcd cluster and two or
 * more apiservers behind a TCP load balancer, each apiserver reaching etcd
 * through proxies of its own, with fault controls in {@link ControlPlane.ha}.
 *
 * Non-guarantees: there is no kube-controller-manager, so namespaces never
 * finish deleting (use {@link ControlPlane.freshNamespace}, never delete one),
 * there is no garbage collection, no default ServiceAccount and no
 * kube-root-ca.crt ConfigMap.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureBinary, kubernetesVersion, repoRoot } from './build.js';
import { HaTopology, removeEtcdMemberData, type HaContext, type HaControl, type HaOptions } from './ha.js';
import { freePortList, peakRss, readyz, startApiserver, startEtcd, stopChild, withTimeout, type ProbeTls } from './processes.js';

export type { HaControl, HaOptions } from './ha.js';

const execFileAsync = promisify(execFile);

/** Options of {@link ControlPlane.start}. */
export interface ControlPlaneOptions {
  /** State directory (certificates, etcd data, kubeconfigs, logs). Default: a new directory under .cache/controlplane-runs/. */
  dir?: string;
  /** Receives progress lines (build, start, restart). Default: discard. */
  log?: (line: string) => void;
  /** kube-apiserver's --v. Default 0. */
  apiserverVerbosity?: number;
  /**
   * Start kube-apiserver with the CoordinatedLeaderElection feature gate and
   * the coordination.k8s.io/v1beta1 API (LeaseCandidate) on, both off by
   * default through Kubernetes 1.36. Default false.
   */
  coordinatedLeaderElection?: boolean;
  /** How long to wait for etcd and then /readyz, in ms. Default 180000. */
  readyTimeoutMs?: number;
  /** Keep an automatically created state directory after stop(), for post-mortems. Default: the KUBEKV_KEEP_CONTROLPLANE env var is "1". */
  keep?: boolean;
  /**
   * The highly available topology: three etcd members, `apiservers`
   * kube-apiservers (default 2) behind a TCP load balancer that `server` and
   * every kubeconfig point at, and fault controls in {@link ControlPlane.ha}.
   * Starting it takes longer and needs about three times the memory of the
   * single topology. Default: false (one etcd, one apiserver).
   */
  ha?: boolean | HaOptions;
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
  /** Highest resident set size seen, in bytes, per process (VmHWM); in HA, the highest of any one apiserver / member. */
  peakRssBytes: { apiserver: number; etcd: number };
  /** HA only: the same per process ("apiserver-0", "etcd-2"). */
  peakRssByProcess?: Record<string, number>;
}

interface Ports {
  apiserver: number;
  etcdClient: number;
  etcdPeer: number;
}

/** The control plane owned by this process. */
export class ControlPlane implements ControlPlaneHandle {
  readonly dir: string;
  readonly binary: string;
  readonly adminKubeconfigPath: string;
  /** Single topology only. */
  #ports: Ports | undefined;
  /** HA topology only. */
  #ha: HaTopology | undefined;
  #etcd: ChildProcess | undefined;
  #apiserver: ChildProcess | undefined;
  #log: (line: string) => void;
  #verbosity: number;
  #coordinated: boolean;
  #readyTimeoutMs: number;
  #stats: ControlPlaneStats;
  #stopped = false;
  #removeDirOnStop = false;

  private constructor(dir: string, binary: string, ports: Ports | undefined, options: ControlPlaneOptions, buildMs: number) {
    this.dir = dir;
    this.binary = binary;
    this.#ports = ports;
    this.adminKubeconfigPath = join(dir, 'admin.kubeconfig');
    this.#log = options.log ?? (() => {});
    this.#verbosity = options.apiserverVerbosity ?? 0;
    this.#coordinated = options.coordinatedLeaderElection ?? false;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 180_000;
    this.#stats = { kubernetesVersion, buildMs, startToReadyMs: 0, peakRssBytes: { apiserver: 0, etcd: 0 } };
  }

  /** https URL of kube-apiserver; in HA, of the load balancer. */
  get server(): string {
    return this.#ha?.server ?? `https://127.0.0.1:${this.#ports!.apiserver}`;
  }

  /** URL of etcd's client endpoint (plain HTTP on loopback); in HA, member 0's. */
  get etcdUrl(): string {
    return this.#ha?.etcdClientUrl(0) ?? `http://127.0.0.1:${this.#ports!.etcdClient}`;
  }

  /** Fault controls of the HA topology; undefined in the single topology. */
  get ha(): HaControl | undefined {
    return this.#ha;
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
      const cp = new ControlPlane(dir, binary, options.ha ? undefined : await freePorts(), options, buildMs);
      const started = Date.now();
      cp.#removeDirOnStop = removeDirOnStop && attempt === 3;
      try {
        if (options.ha) {
          cp.#ha = await HaTopology.create(cp.#context(), options.ha === true ? {} : options.ha);
          await cp.#ha.start();
        } else {
          await cp.#startEtcd();
          await cp.#startApiserver();
        }
        await cp.#writeAdminKubeconfig();
        cp.#stats.startToReadyMs = Date.now() - started;
        cp.#removeDirOnStop = removeDirOnStop;
        log(`control plane ready at ${cp.server} in ${cp.#stats.startToReadyMs} ms (state in ${dir})`);
        return cp;
      } catch (err) {
        lastError = err;
        await cp.stop();
        // A port taken between choosing and binding is the one failure worth retrying.
        if (err instanceof RangeError || !/address already in use|bind/i.test(String(err))) break;
        log(`port collision, retrying (${attempt}/3)`);
        // An HA cluster on new ports is a new cluster: members that kept the
        // failed attempt's data would wait for peers that no longer exist.
        if (options.ha) await removeEtcdMemberData(dir);
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

  /** In HA, restarts apiserver 0 (the others keep serving). */
  async restartApiserver(): Promise<void> {
    this.#log('restarting kube-apiserver');
    if (this.#ha) return this.#ha.restartApiserver(0);
    await this.#stopChild(this.#apiserver, 'apiserver');
    this.#apiserver = undefined;
    await this.#startApiserver();
  }

  /** In HA, stops every apiserver and member, then starts them all again. */
  async restartAll(): Promise<void> {
    this.#log('restarting etcd and kube-apiserver');
    if (this.#ha) return this.#ha.restartAll();
    await this.#stopChild(this.#apiserver, 'apiserver');
    this.#apiserver = undefined;
    await this.#stopChild(this.#etcd, 'etcd');
    this.#etcd = undefined;
    await this.#startEtcd();
    await this.#startApiserver();
  }

  /** In HA, restarts the members one at a time (the cluster keeps its quorum), then waits for every apiserver's /readyz. */
  async restartEtcd(): Promise<void> {
    this.#log('restarting etcd');
    if (this.#ha) return this.#ha.restartEtcd();
    await this.#stopChild(this.#etcd, 'etcd');
    this.#etcd = undefined;
    await this.#startEtcd();
    // The apiserver's etcd client reconnects by itself; wait until it serves again.
    await withTimeout(this.#waitReady(), this.#readyTimeoutMs, 'kube-apiserver /readyz after the etcd restart');
  }

  /** In HA, restarts every apiserver in turn after compacting. */
  async compact(): Promise<number> {
    if (this.#ha) return this.#ha.compact();
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
    await this.#ha?.stop();
    if (this.#ha) this.#recordHaMemory();
    await this.#stopChild(this.#apiserver, 'apiserver');
    await this.#stopChild(this.#etcd, 'etcd');
    if (this.#removeDirOnStop) await rm(this.dir, { recursive: true, force: true });
  }

  /** Stops the control plane; `await using cp = await ControlPlane.start()` works. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #startEtcd(): Promise<void> {
    const etcd = startEtcd(this.#context(), this.#ports!.etcdClient, this.#ports!.etcdPeer);
    this.#etcd = etcd.child;
    await etcd.ready;
  }

  async #startApiserver(): Promise<void> {
    const apiserver = startApiserver(this.#context(), this.#ports!.apiserver, this.etcdUrl, this.server);
    this.#apiserver = apiserver.child;
    await apiserver.ready;
  }

  async #waitReady(): Promise<void> {
    await readyz(this.server, await this.#probeTls(), () => this.#apiserver);
  }

  async #probeTls(): Promise<ProbeTls> {
    return { ca: readFileSync(join(this.dir, 'ca.crt')), ...(await this.#adminCert()) };
  }

  /** What starting a role (either topology) and the HA topology need from this control plane. */
  #context(): HaContext {
    return {
      binary: this.binary,
      dir: this.dir,
      log: this.#log,
      verbosity: this.#verbosity,
      coordinatedLeaderElection: this.#coordinated,
      readyTimeoutMs: this.#readyTimeoutMs,
      probeTls: () => this.#probeTls(),
    };
  }

  /** The promise, not its value, so apiservers started together mint the harness kubeconfig once. */
  #adminCertCache: Promise<{ cert: Buffer; key: Buffer }> | undefined;
  #adminCert(): Promise<{ cert: Buffer; key: Buffer }> {
    this.#adminCertCache ??= (async () => {
      const path = await mintKubeconfig(this.binary, this.dir, this.server, {
        user: 'kubekv-harness',
        groups: ['system:masters'],
      }, join(this.dir, 'harness.kubeconfig'));
      const kc = new KubeConfig();
      kc.loadFromFile(path);
      const user = kc.getCurrentUser();
      return {
        cert: Buffer.from(user?.certData ?? '', 'base64'),
        key: Buffer.from(user?.keyData ?? '', 'base64'),
      };
    })();
    // A failed mint is tried again by the next caller, as before the cache.
    this.#adminCertCache.catch(() => (this.#adminCertCache = undefined));
    return this.#adminCertCache;
  }

  async #writeAdminKubeconfig(): Promise<void> {
    await mintKubeconfig(this.binary, this.dir, this.server, { user: 'kubekv-admin', groups: ['system:masters'], namespace: 'default' }, this.adminKubeconfigPath);
  }

  #sampleMemory(): void {
    if (this.#ha) {
      this.#recordHaMemory();
      return;
    }
    for (const [role, child] of [['apiserver', this.#apiserver], ['etcd', this.#etcd]] as const) {
      const hwm = child?.pid ? peakRss(child.pid) : 0;
      this.#stats.peakRssBytes[role] = Math.max(this.#stats.peakRssBytes[role], hwm);
    }
  }

  #recordHaMemory(): void {
    const byProcess = this.#ha!.peakRss();
    this.#stats.peakRssByProcess = byProcess;
    for (const role of ['apiserver', 'etcd'] as const) {
      const peaks = Object.entries(byProcess).filter(([label]) => label.startsWith(`${role}-`)).map(([, bytes]) => bytes);
      this.#stats.peakRssBytes[role] = Math.max(this.#stats.peakRssBytes[role], ...peaks);
    }
  }

  async #stopChild(child: ChildProcess | undefined, role: string): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.#sampleMemory();
    await stopChild(child, role, this.#log);
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
  const ports = await freePortList(3);
  return { apiserver: ports[0]!, etcdClient: ports[1]!, etcdPeer: ports[2]! };
}
