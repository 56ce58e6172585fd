/**
 * What the state workload's orchestrator and a replica process
 * (state-replica.ts) tell each other: the job (the replica's one
 * command-line argument), commands as JSON lines on its stdin, events as JSON
 * lines on its stdout. Kept apart so the orchestrator imports types only.
 */

/** Election timings of the replicas (client-go's names, ms). */
export interface StateTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** A replica process's assignment. */
export interface ReplicaJob {
  /** Replica index (the `replica` of its history records). */
  index: number;
  /** 0 for the first process of this index, +1 per restart; part of its identity `r<index>.<inc>`. */
  incarnation: number;
  /** Kubeconfig whose server is this replica's fault proxy. */
  kubeconfig: string;
  namespace: string;
  /** StateManager name: Lease `<name>-leader`, bucket `<name>-state`. */
  name: string;
  timings: StateTimings;
  /** Clock rate to start with (a restart during a clock skew keeps the skew). */
  rate: number;
  /** History file (replica-<index>.jsonl). */
  history: string;
  /** Epoch ms after which the replica exits by itself whatever happens (a leak guard). */
  hardDeadline: number;
}

/** Orchestrator to replica (stdin). */
export type ReplicaCommand =
  /** Run the injected clock at `rate` from now on. */
  | { cmd: 'rate'; rate: number }
  /** Wait (at most `waitMs`) until the cache holds `finalRevision`, write a cache record, answer `reported`. */
  | { cmd: 'report'; finalRevision: number; waitMs: number }
  /** close() the StateManager (bounded) and exit 0. */
  | { cmd: 'stop' }
  /** StateManager.resign() with this cool-down (the resign fault). */
  | { cmd: 'resign'; coolDownMs: number }
  /** StateManager.handoff(to) (the handoff fault); refused harmlessly when this replica does not lead. */
  | { cmd: 'handoff'; to: string };

/** Replica to orchestrator (stdout). */
export type ReplicaEvent =
  | { event: 'listening'; port: number }
  | { event: 'ready'; identity: string }
  | { event: 'reported'; caughtUp: boolean; revision: number }
  | { event: 'stopped' };

/** The answer of `POST /increment?id=` (200). */
export interface IncrementAck {
  id: string;
  value: number;
  epoch: number;
  by: string;
}

/** The answer of a refused increment (409 NOT_LEADER with the leader as last seen; 503 otherwise). */
export interface IncrementRefusal {
  error: string;
  leader?: string | undefined;
}

/** Identity of replica `index`'s incarnation `inc`. */
export function replicaIdentity(index: number, inc: number): string {
  return `r${index}.${inc}`;
}

/** The replica index named by an identity from {@link replicaIdentity}, or undefined. */
export function replicaOfIdentity(identity: string | undefined): number | undefined {
  const match = /^r(\d+)\.\d+$/.exec(identity ?? '');
  return match ? Number(match[1]) : undefined;
}
