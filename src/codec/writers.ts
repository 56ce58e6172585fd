/**
 * The writers record: how a store recognises its own commits after their
 * answer was lost, however many commits followed.
 *
 * Each store instance (a writer) has a random id and numbers its commits
 * 1, 2, 3, ... It never starts commit n+1 before commit n is settled, so at
 * most one commit per writer is ever in flight. Every commit records
 * `writer -> [n, revision]` in the {@link WRITERS_ANNOTATION}, keeping the
 * other writers' entries. A writer that lost the answer to commit n reads the
 * bucket: its entry at n means landed; an entry below n, or none, means not
 * landed as of that state. Nothing else rewrites the entry, so the answer does
 * not depend on what happened after the commit (unlike a ring of recent ids).
 *
 * Size is bounded by the number of writers: past {@link MAX_WRITERS} entries
 * the oldest (lowest revision) go and {@link WRITERS_PRUNED_ANNOTATION}
 * records the highest revision pruned, so a writer whose entry may have been
 * pruned knows it cannot tell (and reports the outcome as unknown) instead of
 * guessing.
 *
 * @module
 */
import { FormatError } from '../errors.js';
import { jsonObjectEntries } from './format.js';

/** Annotation holding the writers record: a JSON object `{"<writer id>": [commit number, revision]}`. */
export const WRITERS_ANNOTATION = 'kubekv.dev/writers';
/** Annotation holding the highest revision among entries pruned from the writers record. */
export const WRITERS_PRUNED_ANNOTATION = 'kubekv.dev/writers-pruned';
/** Annotation of format 1's first releases (the last 16 commit ids); removed by the next commit. */
export const LEGACY_RECENT_WRITES_ANNOTATION = 'kubekv.dev/recent-writes';
/** Most entries the writers record keeps (about 40 bytes each). */
export const MAX_WRITERS = 200;

/** A writer's last landed commit. */
export interface WriterEntry {
  /** The writer's commit number (1, 2, ...). */
  readonly seq: number;
  /** Bucket revision the commit produced. */
  readonly revision: number;
}

/** Parses the writers record; an absent annotation is an empty record. */
export function parseWriters(raw: string | undefined): Map<string, WriterEntry> {
  const writers = new Map<string, WriterEntry>();
  for (const [id, entry] of jsonObjectEntries(WRITERS_ANNOTATION, raw)) {
    if (!Array.isArray(entry) || entry.length !== 2 || !entry.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) {
      throw new FormatError(`annotation ${WRITERS_ANNOTATION} has an entry that is not [commit, revision] for writer ${JSON.stringify(id.slice(0, 40))}`);
    }
    writers.set(id, { seq: entry[0] as number, revision: entry[1] as number });
  }
  return writers;
}

/**
 * The record after `writer` landed commit `entry`: its entry replaced, the
 * oldest entries pruned past {@link MAX_WRITERS}.
 *
 * @returns the annotation value and the new pruned watermark (unchanged when nothing was pruned)
 */
export function recordCommit(
  writers: ReadonlyMap<string, WriterEntry>,
  prunedBelow: number,
  writer: string,
  entry: WriterEntry,
): { value: string; pruned: number } {
  const next = new Map(writers);
  next.set(writer, entry);
  let pruned = prunedBelow;
  if (next.size > MAX_WRITERS) {
    const oldest = [...next].filter(([id]) => id !== writer).sort((a, b) => a[1].revision - b[1].revision);
    for (const [id, old] of oldest.slice(0, next.size - MAX_WRITERS)) {
      next.delete(id);
      pruned = Math.max(pruned, old.revision);
    }
  }
  // Sorted by id so equal records serialise equally (stable diffs for people reading the ConfigMap).
  const ids = [...next.keys()].sort();
  const value = `{${ids.map((id) => `${JSON.stringify(id)}:[${next.get(id)!.seq},${next.get(id)!.revision}]`).join(',')}}`;
  return { value, pruned };
}

/** What a bucket state says about one of a writer's commits. */
export type CommitStatus = 'landed' | 'absent' | 'unknown';

/**
 * Whether commit `seq` of `writer`, sent on a state at revision
 * `baseRevision`, is in a state read later.
 *
 * @param state - the later state's revision, writers record and pruned watermark;
 *   `recorded` is false when the state has no writers annotation at all
 */
export function commitStatus(
  state: { revision: number; writers: ReadonlyMap<string, WriterEntry>; writersPruned: number; writersRecorded: boolean },
  writer: string,
  seq: number,
  baseRevision: number,
): CommitStatus {
  const entry = state.writers.get(writer);
  if (entry && entry.seq >= seq) return 'landed';
  // kubekv commits happened since the base, yet the record is gone (a
  // hand edit stripped it) or our entry may have been pruned: cannot tell.
  if (state.revision > baseRevision && !state.writersRecorded) return 'unknown';
  if (!entry && state.writersPruned > baseRevision) return 'unknown';
  return 'absent';
}
