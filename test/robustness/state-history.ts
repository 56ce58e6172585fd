/**
 * The history of the state workload (`--workload state`, see README.md):
 * the record types written by the replicas, the increment clients, the
 * observer, the nemesis and the final read, and the writer they share.
 *
 * Times are wall-clock milliseconds (`Date.now()`), never a replica's
 * injected clock: the clock-skew fault slows or speeds that clock, and the
 * validators need one time line for every process on the host.
 *
 * Guarantee (history-file.ts): {@link StateHistoryWriter.append} returns
 * only after the line was handed to the kernel in one write, so a line
 * written before an action survives a SIGKILL during it and lines never
 * interleave.
 */
import { createHash } from 'node:crypto';
import { HistoryFileWriter, orderByTime, readHistoryFile, type WithoutStamp } from './history-file.js';

/** Where a replica record comes from: replica index and process incarnation (0 for the first process). */
interface FromReplica { replica: number; inc: number }

/** A replica process started; `rate` is its clock's rate at start. */
export type ReplicaStartRecord = { t: 'replica-start'; at: number; identity: string; rate: number } & FromReplica;
/** The replica's clock rate changed (the clock-skew fault). */
export type ClockRecord = { t: 'clock'; at: number; rate: number } & FromReplica;
/** onLeader ran: written before the replica serves any increment of this leadership. */
export type LeaderRecord = { t: 'leader'; at: number; identity: string; epoch: number } & FromReplica;
/** The leadership's signal aborted; `reason` is the abort reason's kubekv code (or its name). */
export type LeaderEndRecord = { t: 'leader-end'; at: number; epoch: number; reason: string } & FromReplica;
/** onFollower ran. */
export type FollowerRecord = { t: 'follower'; at: number; leader: string | undefined } & FromReplica;
/** The leader is about to write increment `id` (written before the write). */
export type ApplyRecord = { t: 'apply'; at: number; id: string; epoch: number } & FromReplica;
/** Increment `id` is in the bucket with `value`, written under `epoch`; `dup` when an earlier attempt had applied it. Written before the answer goes out. */
export type AppliedRecord = { t: 'applied'; at: number; id: string; epoch: number; value: number; dup: boolean } & FromReplica;
/** An increment was refused (NOT_LEADER before or during the write, FENCED, ABORTED, ...) or its write's outcome is unknown (`unknown`). */
export type RejectRecord = { t: 'reject'; at: number; id: string; code: string; unknown: boolean } & FromReplica;
/** What a replica's cache held at the end (after it saw the final revision, or its wait ran out). */
export type CacheRecord = {
  t: 'cache';
  at: number;
  revision: number;
  caughtUp: boolean;
  counter: number;
  ops: number;
  /** Hash of the sorted `id=value` list of the ops keys. */
  digest: string;
} & FromReplica;

/** The increment client sent a new op id (written before the first attempt). */
export interface InvokeRecord { t: 'invoke'; at: number; client: number; id: string }
/** A replica answered 200 for `id`. */
export interface AckRecord { t: 'ack'; at: number; client: number; id: string; epoch: number; value: number; by: string }
/** The client stopped retrying `id` without an acknowledgement (end of run): its outcome is unknown. */
export interface GiveUpRecord { t: 'give-up'; at: number; client: number; id: string }

/** An increment as stored in the bucket (`ops/<id>`), with the value it got and the epoch it was written under. */
export interface OpEntry { id: string; value: number; epoch: number }

/** One committed state of the bucket ConfigMap, as the observer's raw watch delivered it. */
export interface StateRecord {
  t: 'state';
  at: number;
  /** ConfigMap resourceVersion. */
  rv: string;
  /** The `kubekv.dev/epoch` annotation as a number (0 when absent). */
  epoch: number;
  /** The `counter` key's value (0 when absent). */
  counter: number;
  /** Ops keys present now and not in the previous recorded state. */
  added: OpEntry[];
  /** Ops ids present in the previous recorded state and not now. */
  removed: string[];
  /** True when states may be missing before this one (the watch had to re-list, e.g. after 410 Gone). */
  gap: boolean;
}
/** One state of the Lease, from the observer's raw watch. */
export interface LeaseRecord { t: 'lease'; at: number; rv: string; holder: string | undefined; transitions: number }
/** The observer's watch failed and is reopened. */
export interface ObserverErrorRecord { t: 'observer-error'; at: number; what: 'bucket' | 'lease'; error: string }

/** A fault of the state nemesis. `replica`/`inc` name a replica victim, `member` an apiserver or etcd member. */
export interface FaultRecord {
  t: 'fault';
  at: number;
  phase: 'start' | 'heal' | 'error';
  kind: string;
  replica?: number;
  inc?: number;
  member?: number;
  /** The replica a `handoff` fault named as the next leader. */
  to?: number;
  /** Planned duration of the fault, ms. */
  ms?: number;
  /** Clock rate (clock-skew). */
  rate?: number;
  error?: string;
}

/** The orchestrator's consistent read after the faults healed and the clients stopped. */
export interface StateFinalRecord { t: 'final'; at: number; revision: number; rv: string; epoch: number; counter: number; ops: OpEntry[] }

/** Any line of a state-workload history. */
export type StateRecordAny =
  | ReplicaStartRecord
  | ClockRecord
  | LeaderRecord
  | LeaderEndRecord
  | FollowerRecord
  | ApplyRecord
  | AppliedRecord
  | RejectRecord
  | CacheRecord
  | InvokeRecord
  | AckRecord
  | GiveUpRecord
  | StateRecord
  | LeaseRecord
  | ObserverErrorRecord
  | FaultRecord
  | StateFinalRecord;

/** A record without its time; {@link StateHistoryWriter.append} stamps it. */
export type UnstampedState<R> = R extends StateRecordAny ? WithoutStamp<R> : never;

/** Appends JSON lines to one history file, stamped with Date.now(). */
export class StateHistoryWriter extends HistoryFileWriter<StateRecordAny> {
  /** Opens `path` for appending (a restarted replica continues its predecessor's file). */
  constructor(path: string) {
    super(path, Date.now);
  }
}

/** Reads a state history file; see {@link readHistoryFile}. */
export function readStateHistory(path: string, onBadLine?: (line: string, lineNo: number) => void): StateRecordAny[] {
  return readHistoryFile<StateRecordAny>(path, onBadLine);
}

/** Orders records by time, stably (one file's records keep their order). */
export function byWallTime(records: StateRecordAny[]): StateRecordAny[] {
  return orderByTime(records, (r) => r.at);
}

/** Hash of a sorted `id=value` list of ops keys: replicas hash their cache, the orchestrator the final read. */
export function opsDigest(sortedIdValues: string[]): string {
  return createHash('sha256').update(sortedIdValues.join('\n')).digest('hex').slice(0, 16);
}
