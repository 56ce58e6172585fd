/**
 * Election figures, each replica an OS process (test/support/elector-process.ts,
 * and client-go's own leaderelection via the control-plane binary's `elect`):
 * failover after SIGKILL, handover after a graceful close, both p50 over 10
 * trials with client-go's default and with short timings; and the API
 * requests an idle follower makes per minute, counted by the API server
 * itself (apiserver_request_total for leases), next to client-go's follower.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { repoRoot } from '../test/controlplane/build.js';
import type { ControlPlane } from '../test/controlplane/index.js';
import { ms, quantile } from './stats.js';
import { benchSteer } from './election-steer.bench.js';

interface Timings {
  name: string;
  lease: number;
  renew: number;
  retry: number;
}
const DEFAULTS: Timings = { name: 'client-go defaults 15 s / 10 s / 2 s', lease: 15_000, renew: 10_000, retry: 2_000 };
const SHORT: Timings = { name: 'short 3 s / 2 s / 0.5 s', lease: 3_000, renew: 2_000, retry: 500 };
const TRIALS = 10;

/** One contender process and the events it printed. */
class Contender {
  readonly events: Array<{ event: string; at: number }> = [];
  readonly child: ChildProcess;
  constructor(command: string, args: string[]) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'], cwd: repoRoot });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as { event: string; at: number });
      } catch {
        // not an event line
      }
    });
  }
  async until(event: string, after = 0, timeoutMs = 120_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find((e) => e.event === event && e.at >= after);
      if (hit) return hit.at;
      if (Date.now() > deadline) throw new Error(`no ${event} event within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  stop(): void {
    this.child.kill('SIGKILL');
  }
}

function kubekv(cp: ControlPlane, namespace: string, lease: string, identity: string, t: Timings): Contender {
  return new Contender(process.execPath, [
    '--import', 'tsx', join(repoRoot, 'test/support/elector-process.ts'), '--kubeconfig', cp.adminKubeconfigPath, '--namespace', namespace,
    '--name', lease, '--identity', identity, '--lease-duration-ms', String(t.lease), '--renew-deadline-ms', String(t.renew), '--retry-period-ms', String(t.retry),
  ]);
}

function clientGo(cp: ControlPlane, namespace: string, lease: string, identity: string, t: Timings): Contender {
  return new Contender(cp.binary, [
    'elect', '--kubeconfig', cp.adminKubeconfigPath, '--namespace', namespace, '--name', lease, '--identity', identity,
    '--lease-duration', `${t.lease}ms`, '--renew-deadline', `${t.renew}ms`, '--retry-period', `${t.retry}ms`,
  ]);
}

/**
 * Runs `count` trials at once (one Lease each): leader A, follower B, then
 * `signal` A; returns ms until B leads. Failovers run 10 at a time (each waits
 * out a lease); handovers one at a time, since 20 processes waking at once on
 * two cores would measure the scheduler, not the handover.
 */
async function handoverTrials(cp: ControlPlane, t: Timings, signal: 'SIGKILL' | 'SIGTERM'): Promise<number[]> {
  if (signal === 'SIGKILL') return trialBatch(cp, t, signal, TRIALS);
  const results: number[] = [];
  for (let i = 0; i < TRIALS; i++) results.push(...(await trialBatch(cp, t, signal, 1)));
  return results;
}

async function trialBatch(cp: ControlPlane, t: Timings, signal: 'SIGKILL' | 'SIGTERM', count: number): Promise<number[]> {
  const namespace = await cp.freshNamespace(`bench-${signal.toLowerCase()}`);
  const pairs = Array.from({ length: count }, (_, i) => ({ a: kubekv(cp, namespace, `lease-${i}`, `a-${i}`, t), b: undefined as Contender | undefined }));
  try {
    for (const pair of pairs) await pair.a.until('started');
    for (const [i, pair] of pairs.entries()) pair.b = kubekv(cp, namespace, `lease-${i}`, `b-${i}`, t);
    for (const pair of pairs) await pair.b!.until('leader');
    // Let every follower see at least one renewal, as in steady state.
    await new Promise((r) => setTimeout(r, t.retry * 1.5));
    const sentAt = Date.now();
    for (const pair of pairs) pair.a.child.kill(signal);
    return await Promise.all(pairs.map(async (pair) => (await pair.b!.until('started', sentAt)) - sentAt));
  } finally {
    for (const pair of pairs) {
      pair.a.stop();
      pair.b?.stop();
    }
  }
}

/** Sum of apiserver_request_total for leases by verb. */
async function leaseRequests(kc: KubeConfig): Promise<Map<string, number>> {
  const url = `${kc.getCurrentCluster()!.server}/metrics`;
  const context = new RequestContext(url, HttpMethod.GET);
  await kc.applySecurityAuthentication(context);
  const text = await (await fetch(url, { headers: context.getHeaders(), dispatcher: context.getDispatcher() })).text();
  const byVerb = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{') || !line.includes('resource="leases"')) continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? '?';
    byVerb.set(verb, (byVerb.get(verb) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return byVerb;
}

/** Lease requests per minute, by verb, across the whole API server over `windowMs`. */
async function leaseRate(kc: KubeConfig, windowMs: number): Promise<Map<string, number>> {
  const before = await leaseRequests(kc);
  await new Promise((r) => setTimeout(r, windowMs));
  const after = await leaseRequests(kc);
  const rate = new Map<string, number>();
  for (const [verb, count] of after) rate.set(verb, ((count - (before.get(verb) ?? 0)) * 60_000) / windowMs);
  return rate;
}

/**
 * Requests per minute the follower added over the baseline. PUTs are left
 * out of the total: the leader's own renewals (30/min with jitter) make a
 * PUT difference of a couple per minute noise; the breakdown still shows it.
 */
function minus(a: Map<string, number>, b: Map<string, number>): { total: number; detail: string } {
  let total = 0;
  const parts: string[] = [];
  for (const [verb, value] of a) {
    const extra = Math.max(0, value - (b.get(verb) ?? 0));
    if (verb !== 'PUT') total += extra;
    if (extra >= 0.5) parts.push(`${verb} ${extra.toFixed(0)}`);
  }
  return { total, detail: parts.join(', ') || 'none' };
}

async function idleFollowerRequests(cp: ControlPlane): Promise<void> {
  const kc = cp.adminKubeConfig();
  const namespace = await cp.freshNamespace('bench-idle');
  const windowMs = 60_000;
  const leader = kubekv(cp, namespace, 'idle', 'leader', DEFAULTS);
  const followers: Contender[] = [];
  try {
    await leader.until('started');
    const baseline = await leaseRate(kc, windowMs);
    followers.push(kubekv(cp, namespace, 'idle', 'kubekv-follower', DEFAULTS));
    await followers[0]!.until('leader');
    const withKubekv = minus(await leaseRate(kc, windowMs), baseline);
    followers[0]!.stop();
    followers.push(clientGo(cp, namespace, 'idle', 'client-go-follower', DEFAULTS));
    await followers[1]!.until('leader');
    const withClientGo = minus(await leaseRate(kc, windowMs), baseline);
    console.log(`  idle follower API requests per minute, GET/LIST/WATCH/POST (default timings, counted by the apiserver over ${windowMs / 1000} s windows):`);
    console.log(`    kubekv follower      ${withKubekv.total.toFixed(1)}/min  (${withKubekv.detail})`);
    console.log(`    client-go follower   ${withClientGo.total.toFixed(1)}/min  (${withClientGo.detail})`);
  } finally {
    leader.stop();
    for (const follower of followers) follower.stop();
  }
}

/** Prints the election figures. */
export async function benchElection(cp: ControlPlane): Promise<void> {
  console.log('\nLeaseElector (each contender an OS process)');
  for (const t of [SHORT, DEFAULTS]) {
    const failover = await handoverTrials(cp, t, 'SIGKILL');
    const handover = await handoverTrials(cp, t, 'SIGTERM');
    const bound = t.lease + 1.2 * t.retry;
    console.log(`  ${t.name}:`);
    console.log(`    failover after SIGKILL  p50 ${ms(quantile(failover, 0.5))}  max ${ms(Math.max(...failover))}  (target <= ${ms(bound)}, n=${TRIALS})`);
    console.log(`    handover after close()  p50 ${ms(quantile(handover, 0.5))}  max ${ms(Math.max(...handover))}  (target < 300 ms, n=${TRIALS})`);
  }
  await idleFollowerRequests(cp);
  await benchSteer(cp);
}
