/**
 * The bucket layouts `npm run bench -- capacity` measures, one column each.
 * Shared by the benchmark and its follower process (capacity-follower.ts),
 * which opens a bucket by layout id.
 *
 * A layout is a label plus extra ConfigMapStore.open options: the bench
 * opens every bucket of a column with `{ ...layout.options, name, namespace,
 * kubeConfig, create }`, so a layout may set any option open() takes (a
 * compaction threshold, a chunking switch, `kind`, compression, ...) but not
 * the four the bench sets itself.
 *
 * Two ways to add a column:
 * - in code, once the option exists in OpenStoreOptions (type-checked):
 *   `{ id: 'chunked', label: 'kubekv chunked', options: { <option>: <value> } }`
 *   appended to {@link builtInLayouts};
 * - without editing anything, e.g. on a branch before it merges: the
 *   environment variable KUBEKV_BENCH_CAPACITY_LAYOUTS, a JSON array of
 *   `{ "id", "label", "options" }` appended after the built-in ones, e.g.
 *   `KUBEKV_BENCH_CAPACITY_LAYOUTS='[{"id":"chunked","label":"kubekv chunked","options":{"compactAtBytes":65536}}]'`
 *   (the follower processes inherit it). Options given this way are not
 *   type-checked; an option open() does not know is simply ignored by it,
 *   so check the column's object counts (objects row) to see it took effect.
 */
import { ConfigMapStore, type OpenStoreOptions, type Store } from '../src/index.js';

/** Options the bench sets itself on every open (a layout's own values for them are overridden). */
export type BenchSetOptions = 'name' | 'namespace' | 'kubeConfig' | 'create';

/** One way of laying a bucket out on the cluster, opened through kubekv's public API. */
export interface StoreLayout {
  /** Short id ([a-z0-9-], at most 12 characters): used in bucket names and passed to the follower process. */
  id: string;
  /** Column header (at most 18 characters). */
  label: string;
  /** Extra ConfigMapStore.open options of every bucket in this layout. */
  options: Readonly<Omit<Partial<OpenStoreOptions>, BenchSetOptions>>;
}

/**
 * The layouts measured in every run; the first is the baseline: the
 * single-object layout of kubekv before issue 19 (no chunks, no etcd
 * budget), then kubekv as it opens by default (head + chunks, etcd budget).
 */
export const builtInLayouts: readonly StoreLayout[] = [
  { id: 'today', label: 'kubekv 1-object', options: { chunks: false, etcdBudget: false } },
  { id: 'chunked', label: 'kubekv chunked', options: {} },
];

/** Environment variable adding layouts (see the module doc). */
export const LAYOUTS_ENV = 'KUBEKV_BENCH_CAPACITY_LAYOUTS';

/** The built-in layouts, then those of {@link LAYOUTS_ENV}; throws naming a bad entry. */
export function storeLayouts(): StoreLayout[] {
  const layouts = [...builtInLayouts];
  const raw = process.env[LAYOUTS_ENV];
  if (raw?.trim()) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new Error(`${LAYOUTS_ENV} is not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new Error(`${LAYOUTS_ENV} must be a JSON array of { id, label, options }`);
    for (const [i, entry] of (parsed as unknown[]).entries()) {
      const e = entry as Partial<StoreLayout> | null;
      if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || typeof e.label !== 'string') {
        throw new Error(`${LAYOUTS_ENV}[${i}] must be { "id": string, "label": string, "options"?: object }`);
      }
      const options = e.options ?? {};
      if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new Error(`${LAYOUTS_ENV}[${i}].options must be an object`);
      layouts.push({ id: e.id, label: e.label, options });
    }
  }
  for (const layout of layouts) {
    if (!/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/.test(layout.id)) throw new Error(`layout id ${JSON.stringify(layout.id)}: use 1-12 of [a-z0-9-], not starting or ending with -`);
    if (layout.label.length === 0 || layout.label.length > 18) throw new Error(`layout label ${JSON.stringify(layout.label)}: 1-18 characters`);
  }
  const ids = layouts.map((l) => l.id);
  const labels = layouts.map((l) => l.label);
  if (new Set(ids).size !== ids.length || new Set(labels).size !== labels.length) throw new Error(`layout ids and labels must be unique: ${ids.join(', ')} / ${labels.join(', ')}`);
  return layouts;
}

/** The layout with `id`; throws naming the known ones. */
export function layoutById(id: string): StoreLayout {
  const layouts = storeLayouts();
  const layout = layouts.find((l) => l.id === id);
  if (!layout) throw new Error(`unknown layout ${JSON.stringify(id)}; known: ${layouts.map((l) => l.id).join(', ')}`);
  return layout;
}

/** Opens (with `create`, creates) a bucket in `layout`: its options, then the bench's own. */
export function openLayout(layout: StoreLayout, options: Pick<OpenStoreOptions, BenchSetOptions>): Promise<Store> {
  return ConfigMapStore.open({ ...layout.options, ...options });
}
