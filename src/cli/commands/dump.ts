/**
 * `kubekv dump` and `kubekv restore [file|-]`: a bucket's keys and values
 * as one JSON document (dump-format.ts; docs/cli.md has an example), and
 * back. A restore is ONE atomic write (a store batch): every key of the dump
 * is stored, or none is. With `--replace` the keys the bucket holds that the
 * dump lacks are deleted in the same write, each on condition that it is
 * unchanged since restore read it (one changed meanwhile fails the restore
 * with KEY_MODIFIED rather than being deleted; one created meanwhile stays).
 * Without it, other keys stay.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { InvalidOptionError } from '../../errors.js';
import { validateName } from '../../kube/config.js';
import type { BatchOperation } from '../../store/types.js';
import { readAll, type Command } from '../command.js';
import { bucketName, readBucket } from '../connection.js';
import { buildDump, entryBytes, parseDump, serializeDump } from '../dump-format.js';
import { pairsOf } from './read.js';
import { withWritableStore } from './write.js';

/** `kubekv dump`. */
export const dumpCommand: Command = {
  name: 'dump',
  options: ['bucket', 'kind'],
  positionals: [],
  summary: 'write the bucket\'s keys and decoded values as one JSON document (the dump format)',
  async run(ctx) {
    if (ctx.options.output === 'yaml') throw new InvalidOptionError('output', 'yaml', '`dump` writes its JSON format only (restore reads it back)');
    const bucket = bucketName(ctx.options);
    const conn = await ctx.connection();
    const state = await readBucket(conn, bucket, ctx.signal, ctx.options.kind);
    const dump = buildDump({ namespace: conn.namespace, bucket, revision: state.revision, at: new Date() }, pairsOf(state, ''));
    await ctx.out(serializeDump(dump));
  },
};

/** `kubekv restore [file|-]`. */
export const restoreCommand: Command = {
  name: 'restore',
  options: ['bucket', 'kind', 'force', 'lease', 'replace', 'create-bucket', 'timeout'],
  positionals: ['file?'],
  summary: 'write a dump (from a file, or stdin) into a bucket in one atomic write; --replace also deletes keys the dump lacks',
  async run(ctx) {
    const source = ctx.positionals[0] ?? '-';
    const dump = parseDump(Buffer.from(source === '-' ? await readAll(ctx.io.stdin) : await readDumpFile(source)).toString('utf8'));
    const bucket = ctx.options.bucket === undefined ? validateName('bucket', dump.bucket, "the dump's bucket") : bucketName(ctx.options);
    const { timeoutMs, replace } = ctx.options;
    const call = { signal: ctx.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
    const keep = new Set(dump.entries.map((entry) => entry.key));
    const result = await withWritableStore(ctx, bucket, async (store) => {
      // A TTL counts from the restore; a session key keeps its session's TTL (dump-format.ts).
      const ops: BatchOperation[] = dump.entries.map((entry) => ({ op: 'put', key: entry.key, value: entryBytes(entry), ...(entry.ttlMs === undefined ? {} : { ttlMs: entry.ttlMs }) }));
      if (replace) {
        // The store's state as open() read it (a quorum GET), just now.
        for (const pair of await store.list('')) {
          if (!keep.has(pair.key)) ops.push({ op: 'delete', key: pair.key, expect: pair.lastIndex });
        }
      }
      return { revision: await store.batch(ops, call), namespace: store.namespace, deleted: ops.length - dump.entries.length };
    });
    const data = { namespace: result.namespace, bucket, keys: dump.entries.length, deleted: result.deleted, revision: result.revision };
    await ctx.print(data, () => `restored ${data.keys} keys into bucket ${data.namespace}/${bucket}${replace ? `, deleted ${data.deleted}` : ''} (revision ${data.revision})\n`);
  },
};

async function readDumpFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new InvalidOptionError('file', path, `a readable dump file (${(err as { code?: string }).code ?? String(err)})`, { cause: err });
  }
}
