/**
 * How the store workload's clients configure kubekv's chunked layout
 * (issue 19: a bucket is a small head CAS'd per commit plus immutable chunk
 * ConfigMaps; compaction, value chunks, garbage collection). `--chunks`
 * picks one of:
 *
 * | mode | client stores |
 * | --- | --- |
 * | `mixed` (default) | per client index, in turn: kubekv's defaults, then tiny thresholds of three sizes (table below) |
 * | `tiny` | every client tiny (the three sizes in turn) |
 * | `default` | kubekv's defaults (16 KiB compaction, 64 KiB large values, 10 min grace) |
 * | `off` | `chunks: false` (the single-object format of kubekv before chunks) |
 *
 * Tiny thresholds compact after nearly every commit and send most of the
 * workload's large values (32-400 KiB) and some of its small batches into
 * value chunks, so chunks are created, merged and collected all the time:
 *
 * | size | compactBytes | largeValueBytes |
 * | --- | --- | --- |
 * | a | 512 | 4 KiB |
 * | b | 2048 | 16 KiB |
 * | c | 1024 | 8 KiB |
 *
 * The grace period (gcGraceMs) of the tiny profiles is {@link
 * SAFE_GC_GRACE_MS} unless `--gc-grace` says otherwise. kubekv documents
 * that it must exceed how long another writer may take between creating a
 * chunk and committing the head that references it. Under this harness's
 * faults that is the longest write deadline (6 s) + a request in flight at
 * the deadline (2 s) + a black hole or pause that delivers it late (up to
 * 6 s): 14 s. A shorter grace lets one store collect another's chunk while
 * its commit is still on its way; the commit then lands referencing a
 * chunk that is gone, and the bucket is unreadable for every store that
 * did not make the chunk until it is deleted (the hazard the option's doc
 * names). `--gc-grace 2s` shows it happen; the summary counts the
 * ChunkMissing reports no nemesis explains.
 */
import type { ChunkOptions } from '../../src/index.js';

/** The `--chunks` modes. */
export const chunkModes = ['mixed', 'tiny', 'default', 'off'] as const;
/** One `--chunks` mode. */
export type ChunkMode = (typeof chunkModes)[number];

/** Grace of the tiny profiles: above the longest chunk-to-commit time the faults allow (module doc). */
export const SAFE_GC_GRACE_MS = 15_000;

const tinySizes: readonly Pick<Required<ChunkOptions>, 'compactBytes' | 'largeValueBytes'>[] = [
  { compactBytes: 512, largeValueBytes: 4 * 1024 },
  { compactBytes: 2048, largeValueBytes: 16 * 1024 },
  { compactBytes: 1024, largeValueBytes: 8 * 1024 },
];

/**
 * The `chunks` option of writer client `index` under `mode`: undefined for
 * kubekv's defaults, false for no chunks.
 */
export function chunkOptionsFor(mode: ChunkMode, index: number, gcGraceMs = SAFE_GC_GRACE_MS): ChunkOptions | false | undefined {
  switch (mode) {
    case 'off':
      return false;
    case 'default':
      return undefined;
    case 'tiny':
      return { ...tinySizes[index % tinySizes.length]!, gcGraceMs };
    case 'mixed':
      return index % 4 === 0 ? undefined : { ...tinySizes[(index % 4) - 1]!, gcGraceMs };
  }
}

/** A profile, for logs and run.json. */
export function describeChunks(chunks: ChunkOptions | false | undefined): string {
  if (chunks === false) return 'no chunks';
  if (chunks === undefined) return 'chunks: kubekv defaults';
  return `chunks: compact ${chunks.compactBytes} B, large values > ${chunks.largeValueBytes} B, grace ${chunks.gcGraceMs} ms`;
}
