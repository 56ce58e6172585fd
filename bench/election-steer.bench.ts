/**
 * Steering leadership, 3 StateManager replicas on one Lease with the
 * default timings (15 s / 10 s / 2 s) while the leader writes without pause
 * (a put after each put, like the counter demo's load): the time from
 * resign() to another replica leading, and from handoff(x) to x leading,
 * where "leading" is the new leader's onLeader handler starting (its epoch
 * raised on the bucket: writes allowed), and how many handoffs ended with
 * x, not another, leading. The replicas share this process (2 cores: one
 * process per replica would measure the scheduler as much as the handover);
 * their requests go to the real API server.
 */
import type { ControlPlane } from '../test/controlplane/index.js';
import { StateManager } from '../src/index.js';
import { ms, quantile } from './stats.js';

const TRIALS = 10;
/** The resigned replica's cool-down here, and the pause between trials just above it: each resign() then has two replicas free to take over, as in steady state (the default cool-down is a lease duration, 15 s). */
const COOL_DOWN_MS = 3_000;

interface Replica {
  manager: StateManager;
  /** performance.now() of each onLeader start. */
  led: number[];
  writes: number;
}

async function until<T>(check: () => T | undefined, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Prints resign / handoff figures. */
export async function benchSteer(cp: ControlPlane): Promise<void> {
  const namespace = await cp.freshNamespace('bench-steer');
  const replicas: Replica[] = [];
  try {
    for (const identity of ['steer-a', 'steer-b', 'steer-c']) {
      const manager = await StateManager.start({ name: 'steer', namespace, kubeConfig: cp.adminKubeConfig(), identity, advertise: `http://${identity}:8080`, events: false });
      const replica: Replica = { manager, led: [], writes: 0 };
      manager.onLeader(async ({ signal, store }) => {
        replica.led.push(performance.now());
        while (!signal.aborted) {
          try {
            await store.put('counter', String(replica.writes++));
          } catch {
            // NotLeaderError / FencedError at the end of the period: the loop ends with the signal.
          }
        }
      });
      replicas.push(replica);
    }
    const leaderNow = () => replicas.find((r) => r.manager.isLeader);
    const resigns: number[] = [];
    const handoffs: number[] = [];
    let preferredLed = 0;
    for (let trial = 0; trial < 2 * TRIALS; trial++) {
      const leader = await until(leaderNow, 'leader');
      // Let the new leader's writer run a while, and the last cool-down end.
      await new Promise((r) => setTimeout(r, COOL_DOWN_MS + 500));
      const others = replicas.filter((r) => r !== leader);
      const before = new Map(replicas.map((r) => [r, r.led.length]));
      const newLeader = () => others.find((r) => r.led.length > before.get(r)!);
      if (trial % 2 === 0) {
        const t0 = performance.now();
        await leader.manager.resign({ coolDownMs: COOL_DOWN_MS });
        const next = await until(newLeader, 'new leader after resign()');
        resigns.push(next.led.at(-1)! - t0);
      } else {
        const target = others[trial % others.length]!;
        const t0 = performance.now();
        await leader.manager.handoff(target.manager.identity, { coolDownMs: COOL_DOWN_MS });
        const next = await until(newLeader, 'new leader after handoff()');
        handoffs.push(next.led.at(-1)! - t0);
        if (next === target) preferredLed++;
      }
    }
    const writes = replicas.reduce((n, r) => n + r.writes, 0);
    console.log(`\nSteering leadership: 3 StateManager replicas, 15 s / 10 s / 2 s, leader writing without pause, coolDownMs ${COOL_DOWN_MS} (one process, real API server)`);
    console.log(`  resign() -> another replica leading (epoch raised)   p50 ${ms(quantile(resigns, 0.5))}  max ${ms(Math.max(...resigns))}  (n=${resigns.length}; lease duration 15 s)`);
    console.log(`  handoff(x) -> x leading (epoch raised)               p50 ${ms(quantile(handoffs, 0.5))}  max ${ms(Math.max(...handoffs))}  (n=${handoffs.length})`);
    console.log(`  handoffs that ended with the preferred replica leading: ${preferredLed} of ${handoffs.length}`);
    console.log(`  leader puts during the run: ${writes}`);
  } finally {
    for (const replica of replicas) await replica.manager.close();
  }
}
