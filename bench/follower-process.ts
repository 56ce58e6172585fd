/**
 * Runs capacity-follower.ts in a fresh process (so the memory it measures
 * is the bucket's alone) and takes the medians of several runs. Shared by
 * the capacity benchmark and the follower benchmark (follower.bench.ts).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { repoRoot } from '../test/controlplane/build.js';
import type { StoreLayout } from './capacity-layouts.js';
import { quantile } from './stats.js';

/** Growth of process.memoryUsage() figures from before the open, in bytes. */
export interface MemoryGrowth {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** What one follower process measured (capacity-follower.ts says how). */
export interface FollowerFigures {
  openMs: number;
  syncedMs: number;
  synced: boolean;
  keys: number;
  keyBytes: number;
  valueBytes: number;
  rssBefore: number;
  /** RSS growth after a list of every key (= afterList.rss). */
  rssDelta: number;
  /** Heap used plus external growth after that list. */
  heapDelta: number;
  /** Growth once synced, before any read. */
  atSynced: MemoryGrowth;
  /** Growth after one list('') (its pairs garbage by then). */
  afterList: MemoryGrowth;
}

/** Where a follower finds the bucket. */
export interface FollowerTarget {
  kubeconfigPath: string;
  namespace: string;
  layout: StoreLayout;
  bucket: string;
  /** Extra environment (KUBEKV_BENCH_HEAP_SNAPSHOT, ...). */
  env?: Record<string, string>;
}

/** Opens the bucket in a fresh process (capacity-follower.ts) and returns what it measured. */
export async function runFollower(target: FollowerTarget): Promise<FollowerFigures> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(repoRoot, 'bench/capacity-follower.ts'), target.kubeconfigPath, target.namespace, target.bucket, `capacity-warmup-${target.layout.id}`, target.layout.id],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...target.env } },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const timer = setTimeout(() => child.kill(), 180_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  const json = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !json) throw new Error(`capacity follower for ${target.bucket} exited ${code}: ${out}`);
  return JSON.parse(json) as FollowerFigures;
}

/** `runs` runs of {@link runFollower}, each figure the median of its runs (synced: all of them). */
export async function medianFollower(target: FollowerTarget, runs: number): Promise<FollowerFigures> {
  const all: FollowerFigures[] = [];
  for (let i = 0; i < runs; i++) all.push(await runFollower(target));
  return medianOf(all);
}

/** Each figure the median of `runs` (synced: all of them). */
export function medianOf(runs: readonly FollowerFigures[]): FollowerFigures {
  const median = (f: (x: FollowerFigures) => number) => quantile(runs.map(f), 0.5);
  const growth = (pick: (x: FollowerFigures) => MemoryGrowth): MemoryGrowth => ({
    rss: median((x) => pick(x).rss),
    heapUsed: median((x) => pick(x).heapUsed),
    heapTotal: median((x) => pick(x).heapTotal),
    external: median((x) => pick(x).external),
    arrayBuffers: median((x) => pick(x).arrayBuffers),
  });
  return {
    openMs: median((x) => x.openMs),
    syncedMs: median((x) => x.syncedMs),
    synced: runs.every((x) => x.synced),
    keys: median((x) => x.keys),
    keyBytes: median((x) => x.keyBytes),
    valueBytes: median((x) => x.valueBytes),
    rssBefore: median((x) => x.rssBefore),
    rssDelta: median((x) => x.rssDelta),
    heapDelta: median((x) => x.heapDelta),
    atSynced: growth((x) => x.atSynced),
    afterList: growth((x) => x.afterList),
  };
}
