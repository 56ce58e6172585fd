/**
 * kubekv's LeaseElector and client-go's leaderelection contend for ONE Lease:
 * a Go peer (`kubekv-controlplane elect`) and two kubekv electors, each in its
 * own process, with short timings (leaseDuration 3 s, renewDeadline 2 s,
 * retryPeriod 500 ms). The test releases (SIGTERM) and kills (SIGKILL) the
 * current leader round after round, restarting processes, for ~30 s; then it
 * checks that no two participants ever led at the same time and that
 * leadership passed from Go to kubekv and from kubekv to Go.
 *
 * Leadership intervals come from the participants' own "started"/"stopped"
 * lines (each stamped with the child's Date.now(); one machine, one clock).
 * Where a participant cannot report the end, the interval ends at:
 * - SIGKILL: the moment the test sent it (the process can do nothing after);
 * - SIGTERM of the Go peer: the moment the test sent it. Its signal handler
 *   cancels the context given to OnStartedLeading at once, but client-go calls
 *   OnStoppedLeading only after its release write returned, so the peer's
 *   "stopped" line is printed AFTER the next leader could start; the
 *   cancellation is when its leadership really ended. (kubekv prints "stopped"
 *   before it releases, so its own line is used.)
 * Overlap is allowed only up to TOLERANCE_MS, the slop of stamping times in
 * whole milliseconds in different processes (a takeover needs at least one
 * API round trip after the release or the expiry, far more than that).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { controlPlaneEnv, testControlPlane, type ControlPlaneDescription } from '../../controlplane/remote.js';
import { waitFor } from '../../support/wait.js';

const TOLERANCE_MS = 5;
const LEASE = 'interop';
const cp = testControlPlane();
const binary = (JSON.parse(readFileSync(process.env[controlPlaneEnv]!, 'utf8')) as ControlPlaneDescription).binary;
const electorScript = fileURLToPath(new URL('../../support/elector-process.ts', import.meta.url));
let ns: string;

interface Interval {
  who: string;
  start: number;
  end: number;
  how: string;
}

/** One contender, across restarts (same identity each time, as a StatefulSet pod would have). */
class Participant {
  readonly intervals: Interval[] = [];
  readonly log: string[] = [];
  readonly unexpected: string[] = [];
  #child: ChildProcess | undefined;
  #openSince: number | undefined;
  #endCap: number | undefined;
  #signalled = false;
  #stderr: string[] = [];

  constructor(readonly identity: string, readonly kind: 'go' | 'kubekv') {}

  get leading(): boolean {
    return this.#openSince !== undefined;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Spawns the process and resolves once it printed "ready". */
  async start(): Promise<void> {
    assert.equal(this.#child, undefined, `${this.identity} is already running`);
    const [command, args] = this.kind === 'go'
      ? [binary, ['elect', '--kubeconfig', cp.adminKubeconfigPath, '--namespace', ns, '--name', LEASE, '--identity', this.identity,
        '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms', '--release=true']]
      : [process.execPath, ['--import', 'tsx', electorScript, '--kubeconfig', cp.adminKubeconfigPath, '--namespace', ns, '--name', LEASE,
        '--identity', this.identity, '--lease-duration-ms', '3000', '--renew-deadline-ms', '2000', '--retry-period-ms', '500']];
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#endCap = undefined;
    this.#signalled = false;
    this.#stderr = [];
    createInterface({ input: child.stderr }).on('line', (line) => {
      this.#stderr.push(line);
      if (this.#stderr.length > 40) this.#stderr.shift();
    });
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        this.log.push(line);
        const event = JSON.parse(line) as { event: string; identity: string; at: number };
        if (event.event === 'ready') resolve();
        else if (event.event === 'started') {
          if (this.#openSince !== undefined) this.unexpected.push(`started twice without stopping: ${line}`);
          this.#openSince = event.at;
        } else if (event.event === 'stopped' && this.#openSince !== undefined) {
          this.#close(Math.min(event.at, this.#endCap ?? Infinity), 'stopped');
        }
      });
      child.once('exit', (code, signal) => {
        reject(new Error(`${this.identity} exited before it was ready (${code ?? signal}): ${this.#stderr.join('\n')}`));
      });
    });
    child.once('exit', (code, signal) => {
      const at = Date.now();
      if (this.#openSince !== undefined) this.#close(this.#endCap ?? at, `exited (${code ?? signal})`);
      if (!this.#signalled || (signal !== 'SIGKILL' && code !== 0)) {
        this.unexpected.push(`${this.identity} exited (${code ?? signal}) unasked; stderr:\n${this.#stderr.join('\n')}`);
      }
      this.#child = undefined;
    });
    await ready;
  }

  /** Sends `signal` and waits for the process to exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = once(child, 'exit');
    this.#signalled = true;
    const sentAt = Date.now();
    child.kill(signal);
    if (signal === 'SIGKILL' || this.kind === 'go') this.#endCap = sentAt;
    this.log.push(`${signal} at ${sentAt}`);
    await exited;
  }

  #close(end: number, how: string): void {
    this.intervals.push({ who: this.identity, start: this.#openSince!, end, how });
    this.#openSince = undefined;
  }
}

const go = new Participant('go-peer', 'go');
const kubekvA = new Participant('kubekv-a', 'kubekv');
const kubekvB = new Participant('kubekv-b', 'kubekv');
const all = [go, kubekvA, kubekvB];

before(async () => {
  ns = await cp.freshNamespace('interop');
});

after(async () => {
  await Promise.all(all.map((p) => p.stop('SIGKILL')));
});

describe('interop with client-go leaderelection', () => {
  it('never has two leaders while a Go peer and two kubekv electors are released, killed and restarted', async () => {
    const begun = Date.now();
    // The Go peer creates the Lease and leads first; kubekv must respect it.
    await go.start();
    await waitFor(() => go.leading, 'the Go peer to lead', 15_000, 10);
    await Promise.all([kubekvA.start(), kubekvB.start()]);
    await new Promise((r) => setTimeout(r, 2 * 500 * 1.2));
    assert.ok(go.leading, 'a kubekv elector took the Lease from a live Go leader');

    const handovers: string[] = [];
    const tookOver = new Set<Participant>();
    for (let round = 0; ; round++) {
      const leader = (await waitFor(() => all.find((p) => p.leading), 'a leader', 15_000, 10));
      // Steer leadership to a participant that has not yet taken over from
      // another by parking (SIGTERM) the other follower for this round.
      const target = all.find((p) => p !== leader && !tookOver.has(p));
      if (!target && round >= 8 && Date.now() - begun > 25_000) break;
      assert.ok(Date.now() - begun < 90_000, `gave up: ${[...tookOver].map((p) => p.identity).join(', ')} took over so far`);
      const parked = target ? all.filter((p) => p !== leader && p !== target) : [];
      for (const p of parked) await p.stop('SIGTERM');
      const fault = round % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
      await leader.stop(fault);
      const next = (await waitFor(() => all.find((p) => p !== leader && p.leading), `a new leader after ${fault} of ${leader.identity}`, 15_000, 10));
      tookOver.add(next);
      handovers.push(`${leader.identity} -(${fault})-> ${next.identity}`);
      await Promise.all([leader, ...parked].map((p) => p.start()));
    }
    await Promise.all(all.map((p) => p.stop('SIGTERM')));

    const intervals = all.flatMap((p) => p.intervals).sort((a, b) => a.start - b.start);
    const timeline = intervals.map((i) => `${i.who} [${i.start - begun}, ${i.end - begun}] ${i.how}`).join('\n');
    console.log(`${handovers.length} handovers in ${((Date.now() - begun) / 1000).toFixed(1)} s:\n${handovers.join('\n')}\nintervals (ms since start):\n${timeline}`);

    assert.deepEqual(all.flatMap((p) => p.unexpected), []);
    for (let i = 0; i < intervals.length; i++) {
      for (let j = i + 1; j < intervals.length; j++) {
        const a = intervals[i]!;
        const b = intervals[j]!;
        const overlap = Math.min(a.end, b.end) - Math.max(a.start, b.start);
        assert.ok(overlap <= TOLERANCE_MS, `two leaders for ${overlap} ms: ${JSON.stringify(a)} and ${JSON.stringify(b)}\n${timeline}`);
      }
    }
    for (const p of all) assert.ok(p.intervals.length > 0, `${p.identity} never led`);
    assert.ok(handovers.some((h) => h.startsWith('go-peer') && h.includes('-> kubekv')), `no Go -> kubekv handover:\n${handovers.join('\n')}`);
    assert.ok(handovers.some((h) => h.startsWith('kubekv') && h.endsWith('-> go-peer')), `no kubekv -> Go handover:\n${handovers.join('\n')}`);
  });
});
