/**
 * `kubekv watch [prefix]`: the keys under a prefix, then every put and
 * delete, in order, until SIGINT or SIGTERM (exit 0). Built on the store's
 * watchTree, so it never skips silently: a bucket state that cannot be
 * decoded ends the command with FORMAT_ERROR after the changes before it.
 * `-o json` prints one JSON object per line, `-o yaml` one document per
 * event, `-o table` one line per key: `<revision> <EVENT> <key> <preview>`.
 * A Secret bucket's values (`--kind secret`) are never shown: `<secret>`.
 *
 * @module
 */
import type { TreeEvent } from '../../store/types.js';
import type { Command } from '../command.js';
import { bucketName, openStore } from '../connection.js';
import { renderStreamItem, safeCell } from '../output.js';
import { pairView, previewCell } from './read.js';

/** An event as `-o json` / `-o yaml` print it. */
export function eventView(event: TreeEvent, hideValues = false): unknown {
  switch (event.type) {
    case 'snapshot':
      return { type: 'snapshot', revision: event.revision, entries: event.pairs.map((pair) => pairView(pair, hideValues)) };
    case 'put':
      return { type: 'put', revision: event.revision, ...pairView(event.pair, hideValues) };
    case 'delete':
      return { type: 'delete', revision: event.revision, key: event.key, reason: event.reason };
  }
}

/** An event as `-o table` lines (a snapshot: one per key). */
export function eventLines(event: TreeEvent, hideValues = false): string {
  const line = (kind: string, key: string, rest = '') => `${event.revision} ${kind.padEnd(8)} ${safeCell(key)}${rest ? ` ${rest}` : ''}\n`;
  switch (event.type) {
    case 'snapshot':
      return event.pairs.map((pair) => line('SNAPSHOT', pair.key, previewCell(pair.value, hideValues))).join('');
    case 'put':
      return line('PUT', event.pair.key, previewCell(event.pair.value, hideValues));
    case 'delete':
      return line(event.reason === 'expired' ? 'EXPIRED' : 'DELETE', event.key);
  }
}

/** `kubekv watch [prefix]`. */
export const watchCommand: Command = {
  name: 'watch',
  options: ['bucket', 'kind'],
  positionals: ['prefix?'],
  summary: 'print the keys under a prefix, then every change, until Ctrl-C (values hidden for a Secret bucket)',
  async run(ctx) {
    const bucket = bucketName(ctx.options);
    const prefix = ctx.positionals[0] ?? '';
    const format = ctx.options.output;
    const hide = ctx.options.kind === 'Secret';
    const store = await openStore(await ctx.connection(), bucket, { signal: ctx.signal, kind: ctx.options.kind });
    try {
      if (ctx.io.stdout.isTTY) await ctx.note(`watching bucket ${store.namespace}/${bucket}${prefix ? ` under ${JSON.stringify(prefix)}` : ''}; Ctrl-C to stop`);
      // Ends (without an error) when the signal aborts.
      for await (const event of store.watchTree(prefix, { signal: ctx.signal })) {
        await ctx.out(format === 'table' ? eventLines(event, hide) : renderStreamItem(eventView(event, hide), format));
      }
    } finally {
      await store.close();
    }
  },
};
