/**
 * `kubekv put <key> <value|->` and `kubekv del <key>` (or `del --prefix`,
 * every key under a prefix in one write): writes
 * through a ConfigMapStore, so each is a CAS on the ConfigMap's
 * resourceVersion with the store's retries, deadline and three endings
 * (done; not done, with a definite error; outcome unknown, exit code 6).
 * `-` reads the value's bytes from stdin, binary included.
 *
 * Both refuse to write to a bucket a StateManager leads unless `--force`
 * (see leadership.ts and docs/cli.md).
 *
 * @module
 */
import { encodeKey } from '../../codec/index.js';
import { ApiError, BucketNotFoundError, KeyNotFoundError } from '../../errors.js';
import type { ConfigMapStore } from '../../store/configmap-store.js';
import { readAll, type Command, type CommandContext } from '../command.js';
import { bucketName, notFound, openStore, readBucketIfExists } from '../connection.js';
import { checkWritable } from '../leadership.js';
import { formatAge } from '../duration.js';
import { safeCell } from '../output.js';

/**
 * Checks the bucket can be written (exists, or `--create-bucket`; not led,
 * or `--force`), opens it and runs `write`, closing the store after.
 */
export async function withWritableStore<T>(ctx: CommandContext, bucket: string, write: (store: ConfigMapStore) => Promise<T>): Promise<T> {
  const conn = await ctx.connection();
  const { options, signal } = ctx;
  const state = await readBucketIfExists(conn, bucket, signal, options.kind);
  if (!state && !options.createBucket) throw await notFound(conn, new BucketNotFoundError(conn.namespace, bucket), signal);
  await checkWritable(conn, bucket, state, options, signal);
  let store: ConfigMapStore;
  try {
    store = await openStore(conn, bucket, { create: options.createBucket, signal, timeoutMs: options.timeoutMs, kind: options.kind });
  } catch (err) {
    // Creating a bucket in a missing namespace is a 404 too.
    if (!state && (err instanceof BucketNotFoundError || (err instanceof ApiError && err.status === 404))) throw await notFound(conn, err, signal);
    throw err;
  }
  try {
    return await write(store);
  } finally {
    await store.close();
  }
}

/** `kubekv put <key> <value|->`. */
export const putCommand: Command = {
  name: 'put',
  options: ['bucket', 'kind', 'force', 'lease', 'if-absent', 'if-revision', 'create-bucket', 'timeout', 'ttl'],
  positionals: ['key', 'value'],
  summary: 'store a value (`-` reads its bytes from stdin); --if-absent / --if-revision make it conditional; --ttl makes it expire',
  async run(ctx) {
    const bucket = bucketName(ctx.options);
    const [key, raw] = ctx.positionals as [string, string];
    encodeKey(key); // InvalidKeyError before reading stdin or any request
    const value = raw === '-' ? await readAll(ctx.io.stdin) : raw;
    const { ifAbsent, ifRevision, timeoutMs, ttlMs } = ctx.options;
    const call = { signal: ctx.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(ttlMs === undefined ? {} : { ttlMs }) };
    const pair = await withWritableStore(ctx, bucket, (store) => {
      if (ifAbsent) return store.atomicPut(key, value, undefined, call);
      if (ifRevision !== undefined) return store.atomicPut(key, value, ifRevision, call);
      return store.put(key, value, call);
    });
    const expires = ttlMs === undefined ? '' : ` (expires ${formatAge(ttlMs)} after this write)`;
    await ctx.print({ key, lastIndex: pair.lastIndex, size: pair.value.length, ...(ttlMs === undefined ? {} : { ttlMs }) }, () => `stored ${safeCell(key)} in bucket ${bucket} at revision ${pair.lastIndex}${expires}\n`);
  },
};

/** `kubekv del <key>`. */
export const delCommand: Command = {
  name: 'del',
  aliases: ['delete', 'rm'],
  options: ['bucket', 'kind', 'force', 'lease', 'if-revision', 'ignore-not-found', 'prefix', 'timeout'],
  positionals: ['key'],
  summary: 'delete a key (a missing key exits 3 unless --ignore-not-found); --if-revision makes it conditional; --prefix deletes every key under <key>',
  details:
    'With --prefix, <key> is a prefix: every key that starts with it is deleted in one atomic write (as etcdctl del --prefix),\n' +
    'and the count is printed; none under it is not an error. An empty prefix ("") deletes every key of the bucket.',
  async run(ctx) {
    const bucket = bucketName(ctx.options);
    const key = ctx.positionals[0]!;
    const { ifRevision, ignoreNotFound, timeoutMs } = ctx.options;
    const call = { signal: ctx.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
    if (ctx.options.prefix) {
      const count = await withWritableStore(ctx, bucket, (store) => store.deleteTree(key, call));
      await ctx.print({ prefix: key, deleted: count }, () => `deleted ${count} key${count === 1 ? '' : 's'} under ${safeCell(key)} from bucket ${bucket}\n`);
      return;
    }
    encodeKey(key);
    const deleted = await withWritableStore(ctx, bucket, async (store) => {
      if (ifRevision === undefined) return store.delete(key, call);
      await store.atomicDelete(key, ifRevision, call);
      return true;
    });
    if (!deleted && !ignoreNotFound) throw new KeyNotFoundError(key);
    await ctx.print({ key, deleted }, () => (deleted ? `deleted ${safeCell(key)} from bucket ${bucket}\n` : `${safeCell(key)} was not in bucket ${bucket}\n`));
  },
};
