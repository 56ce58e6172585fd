/**
 * The fault schedule of the state workload. Like nemesis.ts it picks, from
 * the run's seed, one fault at a time, applies it for a bounded time, heals
 * it and waits a gap; on abort the fault in progress is healed at once.
 * Replica faults pick the current leader (as the observer last saw the Lease)
 * 60 % of the time, since most faults on a follower change nothing.
 *
 * | kind | what happens | how long |
 * | --- | --- | --- |
 * | `kill` | SIGKILL a replica, restart it as a new incarnation (new identity) | down 0.3-2 s |
 * | `pause` | SIGSTOP a replica, then SIGCONT; often past its lease | 1-7 s |
 * | `drop` | reset every connection of a replica's proxy | instant |
 * | `partition` | cut a replica off: its proxy resets and refuses connections | 1-6 s |
 * | `blackhole` | a replica's requests hang; held bytes are delivered late on heal, also abandoned ones | 1-6 s |
 * | `resign` | the replica calls StateManager.resign() (cool-down 0-3 s); a follower's resign only cools it down | instant |
 * | `handoff` | the replica calls StateManager.handoff() naming another replica's current incarnation; refused (NotLeaderError) on a follower | instant |
 * | `clock-skew` | a replica's injected clock runs at 0.8-0.95 or 1.05-1.25 (one replica at a time); runs in the background while other faults go on | 5-20 s |
 * | `restart-apiserver` | restart kube-apiserver | until /readyz |
 * | `restart-etcd` | restart etcd | until /readyz |
 * | `kill-apiserver` (--ha) | kill one apiserver, start it again | down 1-5 s |
 * | `partition-apiserver` (--ha) | cut one apiserver off etcd, then heal | 2-6 s |
 * | `kill-etcd` (--ha) | kill one etcd member (the etcd leader half the time), start it again | down 1-5 s |
 *
 * Every fault is recorded as `fault` lines (start, heal, error) with the
 * victim's replica index and incarnation, or the member, and the clock rate.
 * Non-guarantee: the schedule follows from the seed; what it hits does not.
 */
import type { TcpProxy } from '../support/tcp-proxy.js';
import { holdFault, parseFaultSpec, serverFault, sleepUnlessAborted } from './fault-schedule.js';
import { Prng } from './prng.js';
import type { FaultRecord } from './state-history.js';

/** Fault kinds on the single topology. */
export const stateFaultKinds = ['kill', 'pause', 'drop', 'partition', 'blackhole', 'clock-skew', 'restart-apiserver', 'restart-etcd', 'resign', 'handoff'] as const;
/** Fault kinds that need `--ha`. */
export const haFaultKinds = ['kill-apiserver', 'partition-apiserver', 'kill-etcd'] as const;
/** One kind of fault of the state workload. */
export type StateFaultKind = (typeof stateFaultKinds)[number] | (typeof haFaultKinds)[number];

/**
 * What the HA control plane offers (test/controlplane, `ControlPlane.start({ ha })`),
 * declared here so this file compiles whether or not that option has landed.
 */
export interface HaControlLike {
  readonly apiservers: number;
  readonly etcdMembers: number;
  apiserverUrl(i: number): string;
  killApiserver(i: number): void | Promise<void>;
  startApiserver(i: number): void | Promise<void>;
  partitionApiserverFromEtcd(i: number): void | Promise<void>;
  healApiserverFromEtcd(i: number): void | Promise<void>;
  killEtcdMember(i: number): void | Promise<void>;
  startEtcdMember(i: number): void | Promise<void>;
  etcdLeader(): Promise<number>;
}

/** Parses `--faults` for the state workload: "none", "all" (the HA kinds only with `ha`), or a list; throws naming an unknown kind. */
export function parseStateFaults(spec: string, ha: boolean): StateFaultKind[] {
  const known: readonly StateFaultKind[] = ha ? [...stateFaultKinds, ...haFaultKinds] : stateFaultKinds;
  return parseFaultSpec(spec, known, (kind) => ((haFaultKinds as readonly string[]).includes(kind) ? ' (needs --ha)' : ''));
}

/** What the state nemesis acts on. */
export interface StateNemesisTarget {
  replicas: number;
  /** The leader's replica index as last observed, if known. */
  leader(): number | undefined;
  /** The incarnation of replica `i` (recorded with each fault). */
  incarnation(i: number): number;
  proxy(i: number): TcpProxy;
  /** SIGKILL replica `i` and wait for its exit. */
  kill(i: number): Promise<void>;
  /** Start replica `i` again (next incarnation). */
  restart(i: number): void;
  pause(i: number): void;
  resume(i: number): void;
  setRate(i: number, rate: number): void;
  /** Replica `i` calls StateManager.resign({ coolDownMs }). */
  resign(i: number, coolDownMs: number): void;
  /** Replica `i` calls StateManager.handoff(identity of replica `to`). */
  handoff(i: number, to: number): void;
  restartApiserver(): Promise<void>;
  restartEtcd(): Promise<void>;
  /** The HA control, when the run has one. */
  ha: HaControlLike | undefined;
}

const weights: Record<StateFaultKind, number> = {
  kill: 3,
  pause: 3,
  drop: 1,
  partition: 3,
  blackhole: 2,
  'clock-skew': 2,
  'restart-apiserver': 1,
  'restart-etcd': 1,
  resign: 2,
  handoff: 2,
  'kill-apiserver': 2,
  'partition-apiserver': 2,
  'kill-etcd': 2,
};

/** The seeded fault schedule of the state workload; see the module doc. */
export class StateNemesis {
  /** Faults applied, by kind. */
  readonly counts = {} as Record<StateFaultKind, number>;
  /** Faults whose action failed, by kind. */
  readonly errors = {} as Record<StateFaultKind, number>;
  readonly #t: StateNemesisTarget;
  readonly #kinds: readonly StateFaultKind[];
  readonly #rng: Prng;
  readonly #record: (fault: Omit<FaultRecord, 't' | 'at'>) => void;
  /** The running clock skew, healed by its own timer or on abort. */
  #skew: { replica: number; timer: NodeJS.Timeout; heal: () => void } | undefined;

  constructor(target: StateNemesisTarget, kinds: readonly StateFaultKind[], seed: number, record: (fault: Omit<FaultRecord, 't' | 'at'>) => void) {
    this.#t = target;
    this.#kinds = kinds;
    this.#rng = new Prng(seed, 0x737461);
    this.#record = record;
    for (const kind of [...stateFaultKinds, ...haFaultKinds]) {
      this.counts[kind] = 0;
      this.errors[kind] = 0;
    }
  }

  /** Applies faults until `signal` aborts; resolves once every fault (the clock skew too) is healed. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#kinds.length === 0) return;
    const choices = this.#kinds.map((k) => [k, weights[k]] as const);
    try {
      // The first fault waits a gap too, so the workload gets going first.
      while (await sleepUnlessAborted(this.#rng.int(2000, 5000), signal)) {
        const kind = this.#rng.weighted(choices);
        // One skew at a time keeps every pair of clocks within the safety bound.
        if (kind === 'clock-skew' && this.#skew) continue;
        const replica = this.#victim();
        this.counts[kind]++;
        try {
          await this.#apply(kind, replica, signal);
        } catch (err) {
          this.errors[kind]++;
          this.#record({ kind, phase: 'error', error: err instanceof Error ? err.message : String(err) });
        }
      }
    } finally {
      this.#healSkew();
    }
  }

  #victim(): number {
    const leader = this.#t.leader();
    if (leader !== undefined && this.#rng.chance(0.6)) return leader;
    return this.#rng.int(0, this.#t.replicas - 1);
  }

  async #apply(kind: StateFaultKind, replica: number, signal: AbortSignal): Promise<void> {
    const t = this.#t;
    const rng = this.#rng;
    const victim = () => ({ replica, inc: t.incarnation(replica) });
    const timed = (ms: number, fields: Partial<FaultRecord>, apply: () => unknown, heal: () => unknown) =>
      holdFault(ms, signal, apply, heal, (phase) => this.#record(phase === 'start' ? { kind, phase, ms, ...fields } : { kind, phase, ...fields }));
    const server = (action: () => Promise<unknown>) => serverFault(action, (phase) => this.#record({ kind, phase }));
    const ha = () => {
      if (!t.ha) throw new Error(`${kind} needs the HA control plane (--ha)`);
      return t.ha;
    };
    switch (kind) {
      case 'kill':
        return timed(rng.int(300, 2000), victim(), () => t.kill(replica), () => t.restart(replica));
      case 'pause':
        return timed(rng.int(1000, 7000), victim(), () => t.pause(replica), () => t.resume(replica));
      case 'drop':
        return timed(0, victim(), () => t.proxy(replica).dropConnections(), () => {});
      case 'partition':
        return timed(rng.int(1000, 6000), victim(), () => t.proxy(replica).block(), () => t.proxy(replica).heal());
      case 'blackhole':
        return timed(rng.int(1000, 6000), victim(), () => t.proxy(replica).blackhole({ deliverAbandoned: true }), () => t.proxy(replica).heal());
      case 'clock-skew':
        return this.#startSkew(replica, rng.int(5000, 20_000));
      case 'resign':
        return timed(0, victim(), () => t.resign(replica, rng.int(0, 3000)), () => {});
      case 'handoff': {
        const to = (replica + rng.int(1, t.replicas - 1)) % t.replicas;
        return timed(0, { ...victim(), to }, () => t.handoff(replica, to), () => {});
      }
      case 'restart-apiserver':
        return server(() => t.restartApiserver());
      case 'restart-etcd':
        return server(() => t.restartEtcd());
      case 'kill-apiserver': {
        const member = rng.int(0, ha().apiservers - 1);
        return timed(rng.int(1000, 5000), { member }, () => ha().killApiserver(member), () => ha().startApiserver(member));
      }
      case 'partition-apiserver': {
        const member = rng.int(0, ha().apiservers - 1);
        return timed(rng.int(2000, 6000), { member }, () => ha().partitionApiserverFromEtcd(member), () => ha().healApiserverFromEtcd(member));
      }
      case 'kill-etcd': {
        const member = rng.chance(0.5) ? await ha().etcdLeader() : rng.int(0, ha().etcdMembers - 1);
        return timed(rng.int(1000, 5000), { member }, () => ha().killEtcdMember(member), () => ha().startEtcdMember(member));
      }
    }
  }

  /** Starts a background skew of `replica`'s clock for `ms`; the schedule goes on meanwhile. */
  #startSkew(replica: number, ms: number): void {
    const rng = this.#rng;
    const rate = Math.round((rng.chance(0.5) ? 0.8 + 0.15 * rng.next() : 1.05 + 0.2 * rng.next()) * 1000) / 1000;
    const fields = { replica, inc: this.#t.incarnation(replica) };
    this.#t.setRate(replica, rate);
    this.#record({ kind: 'clock-skew', phase: 'start', ms, rate, ...fields });
    const heal = () => {
      clearTimeout(skew.timer);
      this.#skew = undefined;
      this.#t.setRate(replica, 1);
      this.#record({ kind: 'clock-skew', phase: 'heal', rate: 1, ...fields });
    };
    const skew = { replica, timer: setTimeout(heal, ms), heal };
    this.#skew = skew;
  }

  #healSkew(): void {
    this.#skew?.heal();
  }
}
