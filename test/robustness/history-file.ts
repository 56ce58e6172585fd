/**
 * The JSON-lines files both workloads keep their histories in (see README.md,
 * "History format"): the writer every process appends its records with, the
 * reader and the time order the orchestrator merges them by, and the merged
 * file it writes. What a record holds, and which clock stamps it, is the
 * workload's (history.ts, state-history.ts).
 *
 * Guarantee: {@link HistoryFileWriter.append} returns only after the line was
 * handed to the kernel (a synchronous write on an O_APPEND descriptor), so a
 * record written before an action survives a SIGKILL during the action. Lines
 * are written whole, in one write each, so a killed process never leaves half
 * a line behind another process's lines. Non-guarantee: no fsync; a machine
 * crash may lose the tail (the harness never crashes the machine).
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';

/** A history record: any JSON object with the time it was written at. */
export interface Stamped<T> {
  at: T;
}

/** A record without its time; {@link HistoryFileWriter.append} stamps it. */
export type WithoutStamp<R> = R extends Stamped<unknown> ? Omit<R, 'at'> : never;

/** Appends records of type `R` as JSON lines to one file, each stamped by the writer's clock. */
export class HistoryFileWriter<R extends Stamped<unknown>> {
  readonly #fd: number;
  readonly #now: () => R['at'];
  #closed = false;

  /** Opens `path` for appending (a restarted process continues its predecessor's file); `now` gives the stamp. */
  constructor(readonly path: string, now: () => R['at']) {
    this.#fd = openSync(path, 'a');
    this.#now = now;
  }

  /**
   * Stamps `record` with the current time and writes it as one line before
   * returning. Stamping here, at the write, keeps every file in time order,
   * so the orchestrator's merge by time never reorders one process's records.
   */
  append(record: WithoutStamp<R>): R {
    const stamped = { ...record, at: this.#now() } as unknown as R;
    if (!this.#closed) writeSync(this.#fd, `${JSON.stringify(stamped)}\n`);
    return stamped;
  }

  /** Closes the file; later appends are dropped (a watcher racing the shutdown). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }
}

/**
 * Reads a history file. A line that does not parse (there should be none:
 * lines are written whole) is reported through `onBadLine` and skipped, so
 * a damaged file still yields everything else.
 */
export function readHistoryFile<R>(path: string, onBadLine: (line: string, lineNo: number) => void = () => {}): R[] {
  const records: R[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line) as R);
    } catch {
      onBadLine(line, i + 1);
    }
  });
  return records;
}

/** Orders records by the time `at` reads from each, stably (records with equal times keep their order). */
export function orderByTime<R>(records: R[], at: (record: R) => number | bigint): R[] {
  return records
    .map((record, i) => ({ record, i, at: at(record) }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.i - b.i))
    .map((e) => e.record);
}

/** Writes `records`, one JSON line each, as the merged history file at `path` (replacing it). */
export async function writeHistoryFile(path: string, records: readonly unknown[]): Promise<void> {
  await writeFile(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
