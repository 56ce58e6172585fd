/**
 * `kubekv ls [prefix]` and `kubekv get <key>`: reads of one bucket, from one
 * quorum GET of its ConfigMap (no watch, nothing cached), values decoded.
 * `get` writes the value's raw bytes to stdout, so binary values pipe
 * unchanged (`kubekv get cert > cert.der`). A Secret bucket's values
 * (`--kind secret`) are printed by `get` only: `ls` shows `<secret>`.
 *
 * @module
 */
import { encodeKey } from '../../codec/index.js';
import { KeyNotFoundError } from '../../errors.js';
import { pairIn, type BucketState } from '../../store/bucket-state.js';
import type { KVPair } from '../../store/types.js';
import type { Command } from '../command.js';
import { bucketName, readBucket } from '../connection.js';
import { formatAge } from '../duration.js';
import { valueFields, type ValueFields } from '../dump-format.js';
import { previewValue, renderTable, safeCell } from '../output.js';

/** A key as `-o json` shows it: its revision, its value's size in bytes (decoded), its TTL and session (when it expires) and the value. */
export type PairView = HiddenPairView & ValueFields;

/** A key of a Secret bucket as listings show it: no value (only `get` prints one). */
export type HiddenPairView = { key: string; lastIndex: number; size: number; ttlMs?: number; session?: string };

/** The view of a pair; without its value when `hideValue` (a Secret bucket's listing). */
export function pairView(pair: KVPair, hideValue = false): PairView | HiddenPairView {
  const view = {
    key: pair.key,
    lastIndex: pair.lastIndex,
    size: pair.value.length,
    ...(pair.ttlMs === undefined ? {} : { ttlMs: pair.ttlMs }),
    ...(pair.session === undefined ? {} : { session: pair.session }),
  };
  return hideValue ? view : { ...view, ...valueFields(pair.value) };
}

/** The VALUE cell of a listing: a preview, or `<hidden>` for a Secret bucket. */
export function previewCell(value: Uint8Array, hideValue: boolean): string {
  return hideValue ? HIDDEN_VALUE : previewValue(value);
}

/** The TTL cell of a listing: the key's TTL (`session` for a session key), `-` for a permanent key. */
export function ttlCell(pair: KVPair): string {
  if (pair.ttlMs === undefined) return '-';
  return pair.session === undefined ? formatAge(pair.ttlMs) : `${formatAge(pair.ttlMs)} (session)`;
}

/** What listings show for a value of a Secret bucket. */
export const HIDDEN_VALUE = '<secret>';

/** The pairs under `prefix`, sorted by key, values decoded (FormatError for a corrupt one). */
export function pairsOf(state: BucketState, prefix: string): KVPair[] {
  return [...state.entries.values()]
    .filter((entry) => entry.key.startsWith(prefix))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((entry) => pairIn(state, entry));
}

/** `kubekv ls [prefix]`. */
export const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  options: ['bucket', 'kind'],
  positionals: ['prefix?'],
  summary: 'list the keys (under a prefix) with revision, size and a value preview (none for a Secret bucket)',
  async run(ctx) {
    const bucket = bucketName(ctx.options);
    const prefix = ctx.positionals[0] ?? '';
    const hide = ctx.options.kind === 'Secret';
    const pairs = pairsOf(await readBucket(await ctx.connection(), bucket, ctx.signal, ctx.options.kind), prefix);
    if (ctx.options.output === 'table' && pairs.length === 0) {
      await ctx.note(prefix ? `No keys under ${JSON.stringify(prefix)} in bucket ${bucket}.` : `Bucket ${bucket} is empty.`);
      return;
    }
    await ctx.print(pairs.map((p) => pairView(p, hide)), () =>
      renderTable({
        columns: ['KEY', 'REVISION', 'SIZE', 'TTL', 'VALUE'],
        rows: pairs.map((p) => [safeCell(p.key), String(p.lastIndex), String(p.value.length), ttlCell(p), previewCell(p.value, hide)]),
      }),
    );
  },
};

/** `kubekv get <key>`. */
export const getCommand: Command = {
  name: 'get',
  options: ['bucket', 'kind'],
  positionals: ['key'],
  summary: 'print a value: its raw bytes (binary included), or the key, revision and value with -o json|yaml',
  async run(ctx) {
    const bucket = bucketName(ctx.options);
    const key = ctx.positionals[0]!;
    encodeKey(key); // InvalidKeyError before any request
    const state = await readBucket(await ctx.connection(), bucket, ctx.signal, ctx.options.kind);
    const entry = state.entries.get(key);
    if (!entry) throw new KeyNotFoundError(key);
    const pair = pairIn(state, entry);
    if (ctx.options.output !== 'table') return ctx.print(pairView(pair), () => '');
    // On stderr: stdout carries the value's exact bytes.
    if (pair.ttlMs !== undefined) await ctx.note(pair.session === undefined ? `expires ${formatAge(pair.ttlMs)} after its last write` : `bound to session ${pair.session} (TTL ${formatAge(pair.ttlMs)})`);
    await ctx.out(pair.value);
    // On a terminal only: end the line so the prompt does not run on. Pipes get the exact bytes.
    if (ctx.io.stdout.isTTY && pair.value.length > 0 && pair.value[pair.value.length - 1] !== 0x0a) await ctx.out('\n');
  },
};
