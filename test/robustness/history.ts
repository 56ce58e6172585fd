/**
 * The history records of the robustness harness (see README.md, "History
 * format"), shared by the client processes that write them and the
 * orchestrator that merges them for the checker.
 *
 * Guarantee (history-file.ts): {@link HistoryWriter.append} returns only
 * after the line was handed to the kernel, so an invoke written before a call
 * survives a SIGKILL during the call, and lines never interleave.
 * Non-guarantee: no fsync; a machine crash may lose the tail.
 */
import { HistoryFileWriter, orderByTime, readHistoryFile, type WithoutStamp } from './history-file.js';

/** A condition of a conditional write: an expected lastIndex, or "absent" (create-only). */
export type Prev = number | 'absent';

/**
 * One operation of a batch, as recorded. `size` marks a large value
 * (values.ts): `value` is the id at its head, `size` its length in bytes.
 */
export type BatchOpRecord =
  | ({ op: 'put'; key: string; value: string; size?: number; expect?: Prev } & Lifetime)
  | { op: 'delete'; key: string; expect?: number };

/**
 * How long a put's key lives (issue 20): `ttlMs` (it expires that long
 * after the write), or `session` (the id of the session it is bound to: it
 * goes when the session is closed, or swept once its owner stopped
 * renewing), or neither (until deleted). The checker lets such a key vanish
 * from the put's invoke + ttlMs, or from its session's close invoke, loss
 * (sessionLost) or open invoke + the session's ttlMs, never before.
 */
export type Lifetime = { ttlMs?: number; session?: never } | { session?: string; ttlMs?: never };

/**
 * A session operation of a client (session-owner.ts): `sessionOpen` (ok
 * result `{ session: id }`), `sessionClose`, `sessionAbandon` (its owner
 * stops renewing, without closing it; recorded as an invoke and an ok at
 * once, for the summary and for people: the checker's bound does not use
 * it) and `sessionLost` (its signal aborted for anything but a close: the
 * owner releases the Lease when it can, so the keys may vanish from then
 * on; an invoke and an ok at once). Not store operations: the checker
 * takes them out of the history.
 */
export type SessionOpFields =
  | { op: 'sessionOpen'; ttlMs: number }
  | { op: 'sessionClose' | 'sessionAbandon' | 'sessionLost'; session: string };

/** Who deleted, created or edited the bucket: a kubekv store, or raw API calls as kubectl makes them. */
export type BucketActor = 'kubekv' | 'hand';

/** An operation on the bucket as a whole, by the bucket nemesis (README, "Bucket operations"). */
export type BucketOpFields =
  | { op: 'deleteBucket' | 'createBucket'; by: BucketActor }
  /** Touches only data keys starting with `foreignPrefix` and annotations kubekv does not own (or, on purpose, kubekv.dev/writers); `changes` says what, for people. */
  | { op: 'editBucket'; by: 'hand'; foreignPrefix: string; changes: string[] };

/** The operation an invoke describes. */
export type OpFields =
  | { op: 'get'; key: string; consistent: boolean }
  | ({ op: 'put'; key: string; value: string; size?: number } & Lifetime)
  | { op: 'delete'; key: string }
  | ({ op: 'atomicPut'; key: string; value: string; size?: number; prev: Prev } & Lifetime)
  | { op: 'atomicDelete'; key: string; prev: number }
  | { op: 'batch'; ops: BatchOpRecord[] }
  | SessionOpFields
  | BucketOpFields;

/** What an ok completion carries, by op (README table). */
export type OkResult =
  | { found: false }
  | { found: true; value: string; size?: number; lastIndex: number }
  | { lastIndex: number }
  | { deleted: boolean }
  | { revision: number }
  | { session: string }
  | Record<string, never>;

/** A key with its value (the op id that wrote it) and per-key revision. */
export interface PairRecord {
  key: string;
  value: string;
  /** Set for a large value: its length in bytes (`value` is the id at its head). */
  size?: number;
  lastIndex: number;
}

/** Written (and on disk) before the call is made. */
export type InvokeRecord = { t: 'invoke'; id: string; client: number; at: string } & OpFields;
/** The call resolved. */
export interface OkRecord { t: 'ok'; id: string; at: string; result: OkResult }
/** The call was definitely not applied; `code` is the kubekv error code, `cause` the messages of its cause chain (diagnostics). */
export interface FailRecord { t: 'fail'; id: string; at: string; code: string; cause?: string }
/** The call may or may not have been applied; `cause` as for fail (the checker reads it: outcomes.go). */
export interface UnknownRecord { t: 'unknown'; id: string; at: string; code: string; cause?: string }

/** One event of a client's watchTree(''). */
export type WatchRecord = { t: 'watch'; client: number; at: string } & (
  | { type: 'snapshot'; pairs: PairRecord[]; revision: number }
  | { type: 'put'; key: string; value: string; size?: number; lastIndex: number; revision: number }
  | { type: 'delete'; key: string; revision: number; reason?: 'expired' }
);
/** The client's watch iterator threw; it is reopened. */
export interface WatchErrorRecord { t: 'watch-error'; client: number; at: string; code: string }
/** A (re)opened watch iterator; its snapshot follows. */
export interface WatchStartRecord { t: 'watch-start'; client: number; at: string }
/** The orchestrator's consistent read of every key after the faults healed. */
export interface FinalRecord { t: 'final'; at: string; pairs: PairRecord[]; revision: number }
/** A client stopped cleanly after its watcher caught up with the final revision (or its wait ran out). */
export interface ClientEndRecord { t: 'client-end'; client: number; at: string }

/** Any line of a history file. */
export type HistoryRecord =
  | InvokeRecord
  | OkRecord
  | FailRecord
  | UnknownRecord
  | WatchRecord
  | WatchErrorRecord
  | WatchStartRecord
  | FinalRecord
  | ClientEndRecord;

/** The record without its timestamp; {@link HistoryWriter.append} stamps it. */
export type Unstamped<R> = R extends HistoryRecord ? WithoutStamp<R> : never;

/** CLOCK_MONOTONIC nanoseconds as a decimal string: the same clock in every process on the host. */
export function monotonicNow(): string {
  return process.hrtime.bigint().toString();
}

/** Appends JSON lines to one history file, stamped with {@link monotonicNow}. */
export class HistoryWriter extends HistoryFileWriter<HistoryRecord> {
  /** Opens `path` for appending (a restarted client continues its predecessor's file). */
  constructor(path: string) {
    super(path, monotonicNow);
  }
}

/** Reads a history file; see {@link readHistoryFile}. */
export function readHistory(path: string, onBadLine?: (line: string, lineNo: number) => void): HistoryRecord[] {
  return readHistoryFile<HistoryRecord>(path, onBadLine);
}

/** Orders records by `at` (stable: records with equal times keep their file order). */
export function byTime(records: HistoryRecord[]): HistoryRecord[] {
  return orderByTime(records, (r) => BigInt(r.at));
}
