/**
 * The highly available topology of the test control plane: a real
 * three-member etcd cluster (peers on 127.0.0.1) and two or more
 * kube-apiservers, clients reaching them through the harness's TCP load
 * balancer (balancer.ts), as clusters do.
 *
 *     client ──> balancer ──> apiserver i ──> proxy (i, m) ──> etcd member m
 *
 * Each apiserver reaches each etcd member through a TCP proxy of its own
 * (test/support/tcp-proxy.ts; one per apiserver per member), listed together
 * in its --etcd-servers, so its etcd client fails over between members as in
 * production, and one apiserver can be partitioned from etcd while the
 * others carry on.
 *
 * Guarantees: a killed apiserver gets no new connections from the balancer
 * (connect refused, next backend); a restarted apiserver or etcd member comes
 * back on the same ports (an etcd member with its data directory, rejoining
 * the cluster); the cluster stays writable with one member down (quorum 2/3).
 *
 * Non-guarantees: the balancer checks TCP only, so an apiserver partitioned
 * from etcd still gets its share of connections; every member keeps its data
 * under one state directory (etcd-m<i>/), so nothing here survives the loss
 * of that directory.
 */
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TcpProxy } from '../support/tcp-proxy.js';
import { Balancer } from './balancer.js';
import { exited, freePortList, killChild, peakRss, readyz, startApiserver, startEtcd, stopChild, withTimeout, type RoleContext } from './processes.js';

const execFileAsync = promisify(execFile);

/** Number of etcd members of the HA topology. */
export const etcdMemberCount = 3;
const memberIndexes = Array.from({ length: etcdMemberCount }, (_, i) => i);

/** Options of the HA topology (`ControlPlane.start({ ha: { ... } })`). */
export interface HaOptions {
  /** Number of kube-apiservers behind the balancer, 1 to 5. Default 2. */
  apiservers?: number;
}

/**
 * Fault controls of an HA control plane (`cp.ha`). Indexes count from 0;
 * an index out of range throws a RangeError.
 */
export interface HaControl {
  /** Number of kube-apiservers. */
  readonly apiservers: number;
  /** Number of etcd members (3). */
  readonly etcdMembers: number;
  /** https URL of apiserver `i` itself, bypassing the balancer. */
  apiserverUrl(i: number): string;
  /** SIGKILLs apiserver `i`; resolves once it exited and the balancer carries no connection to it. */
  killApiserver(i: number): Promise<void>;
  /** Starts apiserver `i` again on its port; resolves once its /readyz is ok. Throws if it is running. */
  startApiserver(i: number): Promise<void>;
  /**
   * Black-holes apiserver `i`'s etcd connections, open and new: bytes are
   * held, not reset, so its requests that need etcd hang until they time out.
   */
  partitionApiserverFromEtcd(i: number): void;
  /** Ends the partition: the held bytes are delivered and traffic flows again. */
  healApiserverFromEtcd(i: number): void;
  /** SIGKILLs etcd member `i`; resolves once it exited. */
  killEtcdMember(i: number): Promise<void>;
  /**
   * Starts etcd member `i` again on its ports with its data directory; it
   * rejoins the cluster. Resolves once it is ready and sees a leader. Throws
   * if it is running.
   */
  startEtcdMember(i: number): Promise<void>;
  /**
   * Index of the current etcd leader: a running member that reports itself
   * as leader, confirmed by a majority of the members. Waits through an
   * election (up to 30 s).
   */
  etcdLeader(): Promise<number>;
}

/** What the topology needs from the ControlPlane that owns it. */
export interface HaContext extends RoleContext {
  log: (line: string) => void;
}

interface HaPorts {
  balancer: number;
  apiservers: number[];
  etcdClient: number[];
  etcdPeer: number[];
}

/** The answer of etcd's grpc-gateway POST /v3/maintenance/status (uint64 fields are JSON strings). */
interface EtcdStatus {
  header?: { member_id?: string };
  leader?: string;
}

/** How long etcdLeader() waits for a leader, in ms. */
const LEADER_TIMEOUT_MS = 30_000;

/** The HA processes, balancer and proxies of one ControlPlane. */
export class HaTopology implements HaControl {
  readonly apiservers: number;
  readonly etcdMembers = etcdMemberCount;
  readonly #ctx: HaContext;
  readonly #ports: HaPorts;
  readonly #apiserverProcs: (ChildProcess | undefined)[];
  readonly #etcdProcs: (ChildProcess | undefined)[] = [];
  /** #proxies[i][m]: apiserver i's proxy to etcd member m. */
  #proxies: TcpProxy[][] = [];
  #balancer: Balancer | undefined;
  /** Peak RSS (VmHWM) seen per process label ("apiserver-0", "etcd-1"), in bytes. */
  readonly #peakRss: Record<string, number> = {};

  private constructor(ctx: HaContext, ports: HaPorts) {
    this.#ctx = ctx;
    this.#ports = ports;
    this.apiservers = ports.apiservers.length;
    this.#apiserverProcs = ports.apiservers.map(() => undefined);
  }

  /** Validates `options` and picks free ports; start() then starts the processes. */
  static async create(ctx: HaContext, options: HaOptions): Promise<HaTopology> {
    const apiservers = options.apiservers ?? 2;
    if (!Number.isInteger(apiservers) || apiservers < 1 || apiservers > 5) {
      throw new RangeError(`ha.apiservers must be an integer from 1 to 5, got ${String(apiservers)}`);
    }
    const ports = await freePortList(1 + apiservers + 2 * etcdMemberCount);
    return new HaTopology(ctx, {
      balancer: ports[0]!,
      apiservers: ports.slice(1, 1 + apiservers),
      etcdClient: ports.slice(1 + apiservers, 1 + apiservers + etcdMemberCount),
      etcdPeer: ports.slice(1 + apiservers + etcdMemberCount),
    });
  }

  /** https URL of the balancer, which every client uses. */
  get server(): string {
    return `https://127.0.0.1:${this.#ports.balancer}`;
  }

  /** Plain-HTTP client URL of etcd member `i` (direct, not through a proxy). */
  etcdClientUrl(i: number): string {
    return `http://127.0.0.1:${this.#ports.etcdClient[this.#member(i)]}`;
  }

  apiserverUrl(i: number): string {
    return `https://127.0.0.1:${this.#ports.apiservers[this.#apiserver(i)]}`;
  }

  /** Starts the balancer, the proxies, the etcd cluster and every apiserver; resolves when all are ready. */
  async start(): Promise<void> {
    // The balancer first: its port is the one a collision most likely hits, and it fails fastest.
    this.#balancer = await Balancer.start(this.#ports.apiservers, this.#ports.balancer);
    for (let i = 0; i < this.apiservers; i++) {
      this.#proxies.push(await Promise.all(this.#ports.etcdClient.map((port) => TcpProxy.start(port))));
    }
    // Members of a new cluster become ready only together (each waits for a quorum).
    await Promise.all(memberIndexes.map((i) => this.#spawnEtcd(i, 'new')));
    await Promise.all(this.#ports.apiservers.map((_, i) => this.#spawnApiserver(i)));
  }

  async killApiserver(i: number): Promise<void> {
    this.#apiserver(i);
    this.#sampleMemory();
    await killChild(this.#apiserverProcs[i]);
    this.#ctx.log(`killed apiserver ${i}`);
    // The kernel resets its connections; wait until the balancer has let go of them.
    const deadline = Date.now() + 5000;
    while ((this.#balancer?.connections(i) ?? 0) > 0 && Date.now() < deadline) await sleep(20);
  }

  async startApiserver(i: number): Promise<void> {
    if (!exited(this.#apiserverProcs[this.#apiserver(i)])) throw new Error(`apiserver ${i} is running; killApiserver(${i}) first`);
    await this.#spawnApiserver(i);
  }

  partitionApiserverFromEtcd(i: number): void {
    for (const proxy of this.#proxies[this.#apiserver(i)] ?? []) proxy.blackhole();
    this.#ctx.log(`apiserver ${i} partitioned from etcd`);
  }

  healApiserverFromEtcd(i: number): void {
    for (const proxy of this.#proxies[this.#apiserver(i)] ?? []) proxy.heal();
    this.#ctx.log(`apiserver ${i} healed from etcd`);
  }

  async killEtcdMember(i: number): Promise<void> {
    this.#member(i);
    this.#sampleMemory();
    await killChild(this.#etcdProcs[i]);
    this.#ctx.log(`killed etcd member ${i}`);
  }

  async startEtcdMember(i: number): Promise<void> {
    if (!exited(this.#etcdProcs[this.#member(i)])) throw new Error(`etcd member ${i} is running; killEtcdMember(${i}) first`);
    await this.#spawnEtcd(i, 'existing');
    await this.#seesLeader(i);
  }

  async etcdLeader(): Promise<number> {
    const deadline = Date.now() + LEADER_TIMEOUT_MS;
    for (;;) {
      const { leader, statuses } = await this.#leaderNow();
      if (leader !== undefined) return leader;
      if (Date.now() > deadline) throw new Error(`no etcd leader within ${LEADER_TIMEOUT_MS} ms: ${JSON.stringify(statuses)}`);
      await sleep(100);
    }
  }

  /** Restarts apiserver `i` (SIGTERM, short grace) on its port; resolves once it is ready. */
  async restartApiserver(i: number): Promise<void> {
    this.#sampleMemory();
    await stopChild(this.#apiserverProcs[this.#apiserver(i)], `apiserver-${i}`, this.#ctx.log);
    await this.#spawnApiserver(i);
  }

  /** Restarts the etcd members one at a time (quorum holds throughout), then waits for every apiserver's /readyz. */
  async restartEtcd(): Promise<void> {
    for (let i = 0; i < etcdMemberCount; i++) {
      this.#sampleMemory();
      await stopChild(this.#etcdProcs[i], `etcd-${i}`, this.#ctx.log);
      await this.startEtcdMember(i);
    }
    await this.#allApiserversReady();
  }

  /** Stops every apiserver and member, then starts the cluster and the apiservers again. */
  async restartAll(): Promise<void> {
    this.#sampleMemory();
    await Promise.all(this.#apiserverProcs.map((child, i) => stopChild(child, `apiserver-${i}`, this.#ctx.log)));
    await this.#stopMembers();
    // A restarted cluster is ready only once a quorum is back: start the members together.
    await Promise.all(memberIndexes.map((i) => this.#spawnEtcd(i, 'existing')));
    await Promise.all(this.#apiserverProcs.map((_, i) => this.#spawnApiserver(i)));
  }

  /** Compacts etcd at its current revision, then restarts every apiserver in turn (see ControlPlaneHandle.compact). */
  async compact(): Promise<number> {
    const member = this.#etcdProcs.findIndex((child) => !exited(child));
    if (member < 0) throw new Error('compact(): no etcd member is running');
    const { stdout } = await execFileAsync(this.#ctx.binary, ['compact', '--etcd', this.etcdClientUrl(member)]);
    const revision = Number(stdout.trim());
    this.#ctx.log(`compacted etcd at revision ${revision}`);
    for (let i = 0; i < this.apiservers; i++) await this.restartApiserver(i);
    return revision;
  }

  /** Peak RSS per process label so far, in bytes (sampled now). */
  peakRss(): Record<string, number> {
    this.#sampleMemory();
    return { ...this.#peakRss };
  }

  /** Stops the balancer, every apiserver, every member and the proxies. Safe to call more than once. */
  async stop(): Promise<void> {
    this.#sampleMemory();
    await this.#balancer?.close();
    this.#balancer = undefined;
    await Promise.all(this.#apiserverProcs.map((child, i) => stopChild(child, `apiserver-${i}`, this.#ctx.log)));
    await this.#stopMembers();
    await Promise.all(this.#proxies.flat().map((proxy) => proxy.close()));
    this.#proxies = [];
  }

  async #spawnEtcd(i: number, state: 'new' | 'existing'): Promise<void> {
    const initialCluster = this.#ports.etcdPeer.map((port, m) => `${memberName(m)}=http://127.0.0.1:${port}`).join(',');
    const etcd = startEtcd(this.#ctx, this.#ports.etcdClient[i]!, this.#ports.etcdPeer[i]!, { name: memberName(i), initialCluster, state });
    this.#etcdProcs[i] = etcd.child;
    await etcd.ready;
  }

  async #spawnApiserver(i: number): Promise<void> {
    const etcdServers = (this.#proxies[i] ?? []).map((proxy) => `http://127.0.0.1:${proxy.port}`).join(',');
    const apiserver = startApiserver(this.#ctx, this.#ports.apiservers[i]!, etcdServers, this.apiserverUrl(i), `apiserver-${i}`);
    this.#apiserverProcs[i] = apiserver.child;
    await apiserver.ready;
  }

  async #allApiserversReady(): Promise<void> {
    const tls = await this.#ctx.probeTls();
    await withTimeout(
      // Only the running ones: an apiserver killed by a test stays down until it starts it again.
      Promise.all(this.#apiserverProcs.map((child, i) => (exited(child) ? Promise.resolve() : readyz(this.apiserverUrl(i), tls, () => child)))),
      this.#ctx.readyTimeoutMs,
      'every kube-apiserver /readyz after the etcd restart',
    );
  }

  /** The leader as the running members see it now, if a majority agrees on one of them. */
  async #leaderNow(): Promise<{ leader: number | undefined; statuses: (EtcdStatus | undefined)[] }> {
    const statuses = await Promise.all(this.#etcdProcs.map((child, i) => (exited(child) ? Promise.resolve(undefined) : this.#status(i))));
    // A follower keeps naming a dead leader until its election timeout, so
    // only a member that names itself counts, and a majority must agree.
    const leader = statuses.findIndex((s) => s?.leader && s.leader !== '0' && s.leader === s.header?.member_id);
    const agreeing = leader < 0 ? 0 : statuses.filter((s) => s?.leader === statuses[leader]!.leader).length;
    return { leader: agreeing > etcdMemberCount / 2 ? leader : undefined, statuses };
  }

  /**
   * Stops every member, followers first: a leader stopping beside them would
   * try to hand leadership to a follower that is going away and wait seconds
   * for it; alone, it finds no follower to hand it to and stops at once.
   */
  async #stopMembers(): Promise<void> {
    const { leader } = await this.#leaderNow();
    await Promise.all(this.#etcdProcs.map((child, i) => (i === leader ? Promise.resolve() : stopChild(child, `etcd-${i}`, this.#ctx.log))));
    if (leader !== undefined) await stopChild(this.#etcdProcs[leader], `etcd-${leader}`, this.#ctx.log);
  }

  /** Resolves once member `i` names a leader; rejects after LEADER_TIMEOUT_MS. */
  async #seesLeader(i: number): Promise<void> {
    const deadline = Date.now() + LEADER_TIMEOUT_MS;
    for (;;) {
      const status = await this.#status(i);
      if (status?.leader && status.leader !== '0') return;
      if (Date.now() > deadline) throw new Error(`etcd member ${i} saw no leader within ${LEADER_TIMEOUT_MS} ms: ${JSON.stringify(status)}`);
      await sleep(100);
    }
  }

  /** Member `i`'s status from etcd's grpc-gateway; undefined when it does not answer within 2 s. */
  async #status(i: number): Promise<EtcdStatus | undefined> {
    try {
      const res = await fetch(`${this.etcdClientUrl(i)}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(2000),
      });
      return res.ok ? ((await res.json()) as EtcdStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  #sampleMemory(): void {
    const sample = (label: string, child: ChildProcess | undefined) => {
      this.#peakRss[label] = Math.max(this.#peakRss[label] ?? 0, peakRss(child?.pid));
    };
    this.#apiserverProcs.forEach((child, i) => sample(`apiserver-${i}`, child));
    this.#etcdProcs.forEach((child, i) => sample(`etcd-${i}`, child));
  }

  #apiserver(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.apiservers) throw new RangeError(`apiserver index must be 0 to ${this.apiservers - 1}, got ${i}`);
    return i;
  }

  #member(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= etcdMemberCount) throw new RangeError(`etcd member index must be 0 to ${etcdMemberCount - 1}, got ${i}`);
    return i;
  }
}

/** etcd member name of index `i`; its data lives in etcd-<name>/ (see etcd.go). */
function memberName(i: number): string {
  return `m${i}`;
}

/** Deletes every HA etcd member's data directory under `dir` (etcd.go keeps member <name> in etcd-<name>/). */
export async function removeEtcdMemberData(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(entries.filter((e) => e.isDirectory() && /^etcd-m\d+$/.test(e.name)).map((e) => rm(join(dir, e.name), { recursive: true, force: true })));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
