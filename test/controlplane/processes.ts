/**
 * Process plumbing shared by the single and the HA topology: spawning a role
 * of the kubekv-controlplane binary, stopping it, waiting for it to be ready,
 * and the small helpers around that (free ports, timeouts, peak memory).
 *
 * Guarantees: every child spawned here is in {@link running} until it exits
 * and is SIGKILLed synchronously when this process exits, even through
 * process.exit() (the binary's PR_SET_PDEATHSIG and parent polling cover a
 * crash of this process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Every child process of the control plane still alive. */
export const running = new Set<ChildProcess>();
// Last line of defence: never leave a child behind, even on process.exit().
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Client certificate material for /readyz probes. */
export interface ProbeTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * Spawns `binary <role> ...args`, its stderr appended to `<dir>/<logName>.stderr.log`
 * (`logName` defaults to the role), and tracks it in {@link running}.
 */
export function spawnRole(binary: string, dir: string, role: string, args: string[], stdout: 'pipe' | 'ignore', logName = role): ChildProcess {
  const stderr = openSync(join(dir, `${logName}.stderr.log`), 'a');
  const child = spawn(binary, [role, ...args], { stdio: ['ignore', stdout, stderr] });
  closeSync(stderr);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** True once `child` has exited (or was never started). */
export function exited(child: ChildProcess | undefined): boolean {
  return !child || child.exitCode !== null || child.signalCode !== null;
}

/**
 * Stops `child` with SIGTERM, then SIGKILL after a grace period (3 s for an
 * apiserver, 20 s otherwise); resolves when it exited.
 */
export async function stopChild(child: ChildProcess | undefined, role: string, log: (line: string) => void): Promise<void> {
  if (exited(child)) return;
  const exit = once(child!, 'exit');
  child!.kill('SIGTERM');
  // kube-apiserver's graceful shutdown waits for open watches to drain, which
  // clients reconnecting elsewhere never do here; a few seconds of grace
  // then SIGKILL keeps restarts fast (and is what a crashed server does).
  const graceMs = role.startsWith('apiserver') ? 3000 : 20_000;
  const timer = setTimeout(() => {
    log(`${role} did not stop within ${graceMs} ms; killing it`);
    child!.kill('SIGKILL');
  }, graceMs);
  await exit;
  clearTimeout(timer);
}

/** SIGKILLs `child` (a crash, no shutdown at all) and resolves when it exited. */
export async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (exited(child)) return;
  const exit = once(child!, 'exit');
  child!.kill('SIGKILL');
  await exit;
}

/** Resolves when an etcd child prints its "etcd ready" line; rejects if it exits first or after `timeoutMs`. */
export async function etcdReadyLine(child: ChildProcess, stderrLog: string, timeoutMs: number): Promise<void> {
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('etcd ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`etcd exited with ${code} before ready:\n${tail(stderrLog)}`)));
  });
  await withTimeout(ready, timeoutMs, 'etcd to become ready');
}

/**
 * Resolves when `url`/readyz answers 200, or as soon as `child` has exited
 * (the caller races this with the exit to report it). Never times out by
 * itself: wrap it in {@link withTimeout}.
 */
export async function readyz(url: string, tls: ProbeTls, child: () => ChildProcess | undefined): Promise<void> {
  for (;;) {
    const current = child();
    if (current?.exitCode !== null && current?.exitCode !== undefined) return;
    const status = await httpsStatus(`${url}/readyz`, tls).catch(() => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Waits for a freshly spawned apiserver's /readyz at `url`; rejects with the
 * tail of its log if it exits first, or after `timeoutMs`.
 */
export async function apiserverReady(child: ChildProcess, url: string, tls: ProbeTls, stderrLog: string, timeoutMs: number): Promise<void> {
  const died = () => new Error(`kube-apiserver exited with ${String(child.exitCode ?? child.signalCode)} before ready:\n${tail(stderrLog)}`);
  // It may have died while the caller prepared `tls`, before 'exit' is listened to here.
  if (exited(child)) throw died();
  const exit = once(child, 'exit').then(() => {
    throw died();
  });
  exit.catch(() => {}); // observed below via race; avoid an unhandled rejection later
  await withTimeout(Promise.race([readyz(url, tls, () => child), exit]), timeoutMs, `kube-apiserver /readyz at ${url}`);
}

/** What starting a role needs from the control plane that owns it, the same in both topologies. */
export interface RoleContext {
  binary: string;
  /** State directory: certificates, data, `<name>.stderr.log`. */
  dir: string;
  /** kube-apiserver's --v. */
  verbosity: number;
  /** Start kube-apiserver with the CoordinatedLeaderElection gate and coordination.k8s.io/v1beta1 on. */
  coordinatedLeaderElection?: boolean;
  /** How long to wait for a role to be ready, in ms. */
  readyTimeoutMs: number;
  /** Client certificate for /readyz probes. */
  probeTls(): Promise<ProbeTls>;
}

/**
 * A role just spawned: `child` at once, so the owner holds it (and stops it)
 * even if it never gets ready; `ready` settles when it is ready, or rejects
 * with the tail of its log if it exits first or times out.
 */
export interface StartedRole {
  child: ChildProcess;
  ready: Promise<void>;
}

/** An etcd member of a cluster (HA); without it, etcd runs as a cluster of one. */
export interface EtcdMember {
  /** Member name; its data lives in etcd-<name>/, its log is etcd-<name>.stderr.log. */
  name: string;
  /** etcd's --initial-cluster: `name=peer URL` of every member. */
  initialCluster: string;
  /** `new` for the first start of the cluster, `existing` to rejoin it. */
  state: 'new' | 'existing';
}

/** Spawns etcd on `clientPort` / `peerPort` (as `member` of a cluster, if given). */
export function startEtcd(ctx: RoleContext, clientPort: number, peerPort: number, member?: EtcdMember): StartedRole {
  const logName = member ? `etcd-${member.name}` : 'etcd';
  const child = spawnRole(ctx.binary, ctx.dir, 'etcd', [
    '--dir', ctx.dir,
    ...(member ? ['--name', member.name] : []),
    '--client-port', String(clientPort),
    '--peer-port', String(peerPort),
    ...(member ? ['--initial-cluster', member.initialCluster, '--initial-cluster-state', member.state] : []),
  ], 'pipe', logName);
  return { child, ready: etcdReadyLine(child, join(ctx.dir, `${logName}.stderr.log`), ctx.readyTimeoutMs) };
}

/**
 * Spawns kube-apiserver on `port` with `etcd` (comma-separated etcd client
 * URLs); ready once `url`/readyz answers. `logName` names its log (default
 * "apiserver"), e.g. "apiserver-1" in HA.
 */
export function startApiserver(ctx: RoleContext, port: number, etcd: string, url: string, logName = 'apiserver'): StartedRole {
  const child = spawnRole(ctx.binary, ctx.dir, 'apiserver', [
    '--dir', ctx.dir,
    '--port', String(port),
    '--etcd', etcd,
    '--v', String(ctx.verbosity),
    ...(ctx.coordinatedLeaderElection ? ['--coordinated-leader-election'] : []),
  ], 'ignore', logName);
  const ready = (async () => apiserverReady(child, url, await ctx.probeTls(), join(ctx.dir, `${logName}.stderr.log`), ctx.readyTimeoutMs))();
  return { child, ready };
}

/** `count` distinct ports free on 127.0.0.1 a moment ago (a caller retries on a collision). */
export async function freePortList(count: number): Promise<number[]> {
  // Hold all listeners at once so the ports are distinct.
  const servers = await Promise.all(Array.from({ length: count }, async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return server;
  }));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** GETs `url` with client certificate TLS and a 2 s timeout; resolves with the HTTP status. */
export function httpsStatus(url: string, tls: ProbeTls): Promise<number> {
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

/** `promise`, or a rejection naming `what` after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
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

/** Highest resident set size of a process so far (VmHWM), in bytes; 0 when it is gone. */
export function peakRss(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The last `lines` lines of a log file, for error messages. */
export function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
