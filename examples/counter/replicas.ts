/**
 * Runs replicas of examples/counter/server.ts as OS processes, each through
 * its own TCP proxy to the API server (so one replica can be cut off), plus a
 * client that finds the leader and retries increments across failovers.
 * Used by the demo (npm run demo) and the failover tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import { TcpProxy, serverPort } from '../../test/support/tcp-proxy.js';

const serverScript = join(dirname(fileURLToPath(import.meta.url)), 'server.ts');

/** A line a replica printed. */
export interface ReplicaEvent {
  event: string;
  identity: string;
  at: number;
  [field: string]: unknown;
}

/** Timings passed to the replicas (client-go's names, in ms). */
export interface Timings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** One replica process. */
export class Replica {
  readonly identity: string;
  readonly events: ReplicaEvent[] = [];
  readonly proxy: TcpProxy;
  readonly exited: Promise<void>;
  #child: ChildProcess;
  #port = 0;

  private constructor(identity: string, child: ChildProcess, proxy: TcpProxy) {
    this.identity = identity;
    this.#child = child;
    this.proxy = proxy;
    this.exited = once(child, 'exit').then(() => undefined);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as ReplicaEvent;
        this.events.push(event);
        if (event.event === 'listening') this.#port = event.port as number;
      } catch {
        // not one of ours (e.g. a warning); ignore
      }
    });
  }

  /** Starts a replica and waits until it serves HTTP. */
  static async start(kc: KubeConfig, namespace: string, identity: string, timings: Timings): Promise<Replica> {
    const proxy = await TcpProxy.start(serverPort(kc));
    const dir = mkdtempSync(join(tmpdir(), 'kubekv-replica-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, proxy.kubeConfigFor(kc).exportConfig(), { mode: 0o600 });
    const child = spawn(process.execPath, [
      '--import', 'tsx', serverScript,
      '--identity', identity, '--namespace', namespace, '--kubeconfig', kubeconfig,
      '--lease-duration', String(timings.leaseDurationMs),
      '--renew-deadline', String(timings.renewDeadlineMs),
      '--retry-period', String(timings.retryPeriodMs),
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    const replica = new Replica(identity, child, proxy);
    const deadline = Date.now() + 60_000;
    while (replica.#port === 0) {
      if (child.exitCode !== null) throw new Error(`replica ${identity} exited with ${child.exitCode} before listening`);
      if (Date.now() > deadline) throw new Error(`replica ${identity} did not start listening within 60 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return replica;
  }

  /** Base URL of its HTTP server. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** True until the process exits. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Sends a signal (SIGKILL, SIGTERM, SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }

  /** What the replica says about leadership (undefined when it does not answer). */
  async value(): Promise<{ value: number; identity: string; leader: string | undefined; isLeader: boolean } | undefined> {
    try {
      const res = await fetch(`${this.url}/value`, { signal: AbortSignal.timeout(2000) });
      return res.ok ? ((await res.json()) as { value: number; identity: string; leader: string | undefined; isLeader: boolean }) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Kills the process if it still runs and closes its proxy. */
  async stop(): Promise<void> {
    if (this.running) {
      this.#child.kill('SIGCONT');
      this.#child.kill('SIGKILL');
      await this.exited;
    }
    await this.proxy.close();
  }
}

/** An acknowledged increment. */
export interface Ack {
  id: string;
  value: number;
  by: string;
  epoch: number;
}

/**
 * Sends one increment to whoever leads, following 421 redirects and retrying
 * the SAME id across connection errors and failovers until acknowledged (the
 * server dedupes by id). Rejects after `timeoutMs`.
 */
export async function increment(replicas: readonly Replica[], id: string, timeoutMs = 60_000): Promise<Ack> {
  const deadline = Date.now() + timeoutMs;
  let target: Replica | undefined;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const candidates = replicas.filter((r) => r.running);
    target ??= candidates[attempt % Math.max(1, candidates.length)];
    if (!target) break;
    try {
      const res = await fetch(`${target.url}/increment?id=${encodeURIComponent(id)}`, { method: 'POST', signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as Ack & { leader?: string };
      if (res.status === 200) return body;
      // Follow the redirect unless it points back at the replica that sent it
      // (a cut-off replica still believes in its own stale record).
      const named = res.status === 421 && body.leader ? replicas.find((r) => r.identity === body.leader && r.running) : undefined;
      target = named && named !== target ? named : undefined;
    } catch {
      target = undefined;
    }
    await new Promise((r) => setTimeout(r, Math.min(500, 20 * (attempt + 1))));
  }
  throw new Error(`increment ${id} was not acknowledged within ${timeoutMs} ms`);
}

/** Waits until exactly one running replica says it leads and returns it. */
export async function waitForLeader(replicas: readonly Replica[], timeoutMs = 30_000, except?: Replica): Promise<Replica> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const views = await Promise.all(replicas.filter((r) => r.running && r !== except).map(async (r) => [r, await r.value()] as const));
    const leaders = views.filter(([, v]) => v?.isLeader).map(([r]) => r);
    if (leaders.length === 1) return leaders[0]!;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no single leader within ${timeoutMs} ms`);
}
