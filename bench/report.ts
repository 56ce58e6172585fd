/**
 * Printing a benchmark's figures as markdown tables (aligned, so they read
 * as well in a terminal as pasted into an issue), and keeping them as JSON
 * under .bench/ at the repository root, so a closing note can quote a run
 * exactly. .bench/ ignores itself (it holds a .gitignore of `*`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../test/controlplane/build.js';

/** Prints `rows` under `header` as a markdown table, after a `title` line (when given); the first column left-aligned, the others right-aligned. */
export function printTable(title: string | undefined, header: string[], rows: string[][]): void {
  const widths = header.map((h, c) => Math.max(3, h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const cells = (row: string[]) => `| ${widths.map((w, c) => (c === 0 ? (row[c] ?? '').padEnd(w) : (row[c] ?? '').padStart(w))).join(' | ')} |`;
  if (title) console.log(`\n${title}\n`);
  console.log(cells(header));
  console.log(`|${widths.map((w, c) => (c === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const row of rows) console.log(cells(row));
}

/** A whole number with thousands separators; '-' when not finite. */
export const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
/** `n` with `digits` decimals; '-' when not finite. */
export const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');
/** a / b as "12.3x"; '-' unless both are positive figures. */
export const ratio = (a: number, b: number): string => (Number.isFinite(a / b) && a >= 0 && b > 0 ? `${(a / b).toFixed(a / b < 10 ? 2 : 1)}x` : '-');

/** Writes `data` as .bench/<name>-<time>.json and .bench/<name>-latest.json; returns the first path. */
export async function writeJsonReport(name: string, data: unknown): Promise<string> {
  const dir = join(repoRoot, '.bench');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, '.gitignore'), '*\n');
  const text = `${JSON.stringify(data, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`;
  const path = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(path, text);
  await writeFile(join(dir, `${name}-latest.json`), text);
  return path;
}
