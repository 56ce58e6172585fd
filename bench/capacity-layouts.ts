/**
 * The bucket layouts `npm run bench -- capacity` measures, one column each.
 * Shared by the benchmark and its follower process (capacity-follower.ts),
 * which opens a bucket by layout id.
 *
 * Today there is one: the whole bucket in one ConfigMap. When issue 19's
 * head + chunks layout lands, add it here (same id on both sides, e.g.
 * `{ id: 'chunked', label: 'kubekv chunked', open: (o) => ConfigMapStore.open({ ...o, ... }) }`)
 * and every table of the benchmark gains its column; nothing else changes.
 */
import { ConfigMapStore, type OpenStoreOptions, type Store } from '../src/index.js';

/** One way of laying a bucket out on the cluster, opened through kubekv's public API. */
export interface StoreLayout {
  /** Short id, passed to the follower process. */
  id: string;
  /** Column header (at most 16 characters). */
  label: string;
  /** Opens (or with `create`, creates) a bucket in this layout. */
  open(options: OpenStoreOptions): Promise<Store>;
}

export const storeLayouts: readonly StoreLayout[] = [
  { id: 'today', label: 'kubekv 1-object', open: (options) => ConfigMapStore.open(options) },
];

/** The layout with `id`; throws naming the known ones. */
export function layoutById(id: string): StoreLayout {
  const layout = storeLayouts.find((l) => l.id === id);
  if (!layout) throw new Error(`unknown layout ${JSON.stringify(id)}; known: ${storeLayouts.map((l) => l.id).join(', ')}`);
  return layout;
}
