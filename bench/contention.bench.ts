/**
 * Multi-process contention: 4 and 16 OS processes, each with its own
 * ConfigMapStore on ONE bucket that already holds ~100 KB, each putting its
 * own keys as fast as it can. Every put is a CAS on the one ConfigMap, so
 * nearly every commit races the others. Prints acknowledged puts/s, failed
 * puts (target 0: contention alone must never fail a write) and lost puts
 * (target 0: an acknowledged put missing from the final bucket).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigMapStore } from '../src/index.js';
import { repoRoot } from '../test/controlplane/build.js';
import type { ControlPlane } from '../test/controlplane/index.js';

const RUN_MS = 15_000;
const KEYS_PER_WRITER = 20;

interface WriterReport {
  id: string;
  acked: number;
  unknown: number;
  failed: Record<string, number>;
  last: Record<string, string>;
  maybe: Record<string, string[]>;
}

/** Runs the contention cells and prints their figures. */
export async function benchContention(cp: ControlPlane): Promise<void> {
  const kc = cp.adminKubeConfig();
  const namespace = await cp.freshNamespace('bench-contention');
  console.log(`\nMulti-process contention (${RUN_MS / 1000} s per cell, one bucket holding ~100 KB, each process its own store and keys)`);
  console.log('    processes   acked puts/s   failed   unknown   lost');
  for (const processes of [4, 16]) {
    const bucket = `contention-${processes}`;
    const store = await ConfigMapStore.open({ name: bucket, namespace, kubeConfig: kc, create: true });
    // ~100 KB of incompressible filler, so every commit moves a realistic object.
    for (let i = 0; i < 12; i++) await store.put(`fill/${i}`, randomBytes(8 * 1024));
    const reports = await runWriters(cp.adminKubeconfigPath, namespace, bucket, processes);
    const final = await store.list('p', { consistent: true });
    await store.close();
    const stored = new Map(final.map((p) => [p.key, p.text]));
    let lost = 0;
    for (const report of reports) {
      for (const [key, value] of Object.entries(report.last)) {
        // A later put of the key with an unknown outcome may have replaced it.
        const acceptable = [value, ...(report.maybe[key] ?? [])];
        if (!acceptable.includes(stored.get(key) ?? '')) lost++;
      }
    }
    const acked = reports.reduce((n, r) => n + r.acked, 0);
    const failed = reports.reduce((n, r) => n + Object.values(r.failed).reduce((a, b) => a + b, 0), 0);
    const unknown = reports.reduce((n, r) => n + r.unknown, 0);
    const codes = [...new Set(reports.flatMap((r) => Object.keys(r.failed)))].join(',');
    console.log(
      `    ${String(processes).padStart(9)}   ${(acked / (RUN_MS / 1000)).toFixed(0).padStart(12)}   ${String(failed).padStart(6)}   ${String(unknown).padStart(7)}   ${String(lost).padStart(4)}${codes ? `   (failed: ${codes})` : ''}`,
    );
  }
}

async function runWriters(kubeconfig: string, namespace: string, bucket: string, processes: number): Promise<WriterReport[]> {
  const children = Array.from({ length: processes }, (_, i) =>
    spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench/contention-writer.ts'), kubeconfig, namespace, bucket, String(i), String(RUN_MS), String(KEYS_PER_WRITER)], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const lines = children.map((child) => createInterface({ input: child.stdout }));
  const ready = lines.map((l) => new Promise<void>((resolve) => l.once('line', () => resolve())));
  const reports = lines.map((l) => new Promise<WriterReport>((resolve) => l.on('line', (line) => line.startsWith('{') && resolve(JSON.parse(line) as WriterReport))));
  await Promise.all(ready);
  for (const child of children) child.stdin.write('go\n');
  const exits = children.map((child) => (child.exitCode === null ? once(child, 'exit') : Promise.resolve()));
  const result = await Promise.all(reports);
  await Promise.all(exits);
  return result;
}
