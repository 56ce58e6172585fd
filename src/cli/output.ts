/**
 * Output: `-o table` (the default: aligned columns, kubectl style, or
 * `Field: value` lines for one object), `-o json` (indented JSON), `-o yaml`.
 * The JSON and YAML forms carry the same data; the table is for people and
 * may abbreviate (value previews, ages). Text written to a terminal is never
 * raw: control characters in keys and values are shown escaped.
 *
 * @module
 */
import type { OutputFormat } from './args.js';
import { toYaml } from './yaml.js';

/** Where the CLI writes; process.stdout / process.stderr in main.ts, buffers in tests. */
export interface Sink {
  write(chunk: string | Uint8Array, callback?: (err?: Error | null) => void): boolean;
}

/** Writes `chunk` and resolves once the stream took it. */
export function writeTo(sink: Sink, chunk: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    sink.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

/** A table: a header row and rows of cells. */
export interface Table {
  columns: readonly string[];
  rows: readonly (readonly string[])[];
}

/** Renders `table` with columns padded by three spaces, as kubectl's tabwriter does. */
export function renderTable(table: Table): string {
  const all = [table.columns, ...table.rows];
  const widths = table.columns.map((_, i) => Math.max(...all.map((row) => width(row[i] ?? ''))));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - width(cell) + 3))).join('').trimEnd())
    .join('\n') + '\n';
}

/** Renders `Field: value` lines with the values aligned (one object, like `kubectl describe`). */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const pad = Math.max(...fields.map(([name]) => name.length)) + 2;
  return fields.map(([name, value]) => `${`${name}:`.padEnd(pad)}${value}`.trimEnd()).join('\n') + '\n';
}

/** `data` as the JSON or YAML document `-o` asked for; undefined for `table` (the caller renders). */
export function renderData(data: unknown, format: OutputFormat): string | undefined {
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  if (format === 'yaml') return toYaml(data);
  return undefined;
}

/** One event of a stream (`watch`) as one line of JSON, or a YAML document. */
export function renderStreamItem(data: unknown, format: Exclude<OutputFormat, 'table'>): string {
  return format === 'json' ? `${JSON.stringify(data)}\n` : `---\n${toYaml(data)}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of a value when its bytes are UTF-8, else undefined. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A value for a table cell: its text, shortened to `max` characters, JSON
 * quoted when it holds anything a terminal would act on (or is empty, or
 * has edge spaces); `<binary, N bytes>` when it is not UTF-8.
 */
export function previewValue(bytes: Uint8Array, max = 48): string {
  const text = utf8Text(bytes);
  if (text === undefined) return `<binary, ${bytes.length} bytes>`;
  const chars = [...text];
  const short = chars.length > max ? `${chars.slice(0, max - 3).join('')}...` : text;
  return safeCell(short);
}

/** A key or name for a table cell: as is, or JSON quoted when it holds control characters, spaces at its edges, or is empty. */
export function safeCell(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text === '' || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text) || text.trim() !== text ? JSON.stringify(text) : text;
}

/** Display width, counting code points (close enough for the names and previews printed). */
function width(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
