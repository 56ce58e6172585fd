/**
 * Prometheus metrics through prom-client, optional: with no `metrics`
 * option nothing is loaded, created or registered, and every hook is absent
 * (the instrumented code calls `observer?.x()`).
 *
 * Guarantees:
 * - Resolving the option checks everything up front and throws
 *   InvalidOptionError naming it: not a Registry, prom-client missing, or a
 *   metric of one of kubekv's names already registered that kubekv did not
 *   make the same way (another type or labels).
 * - Any number of stores, managers, electors and locks may share one
 *   Registry: each metric is registered once per Registry and reused (found
 *   with getSingleMetric), its series told apart by labels (namespace and
 *   bucket, or the Lease name). Two kubekv copies in one process share them
 *   too (the markers are global symbols).
 * - A hook never throws and never waits: a broken metric costs its sample,
 *   never a write or an election step.
 *
 * Non-guarantees: counters of a closed store or lock stay (they are totals);
 * only the staleness gauge of a closed store goes. Two electors for the
 * same Lease name in one process on one Registry share one
 * leader_election_master_status series, as they would in client-go.
 */
import { InvalidOptionError } from '../errors.js';
import {
  ALL_METRICS,
  CACHE_STALENESS,
  CAS_CONFLICTS,
  ETCD_BUDGET_WAIT,
  ETCD_BYTES,
  FENCED_WRITES,
  LEADER_SLOWPATH,
  LEADER_STATUS,
  LOCK_ACQUISITIONS,
  LOCK_HOLD_DURATION,
  LOCK_LOSSES,
  LOCKS_HELD,
  WATCH_RESTARTS,
  WRITE_DURATION,
  WRITE_RETRIES,
  WRITES,
  type MetricDefinition,
} from './catalogue.js';
import type { ElectionObserver, LockObserver, StoreObserver } from './observer.js';
import { loadPromClient, type CounterLike, type GaugeLike, type HistogramLike, type Labels, type PromClient } from './prom-client.js';

/**
 * The part of a prom-client `Registry` kubekv uses. Typed structurally
 * because prom-client is an optional peer dependency: any prom-client
 * Registry fits (`new Registry()`, or prom-client's default `register`).
 */
export interface MetricsRegistry {
  /** Adds a metric; prom-client's metric constructors call it. */
  registerMetric(metric: unknown): void;
  /** The metric registered under `name`, if any; kubekv reuses its own metrics through it. */
  getSingleMetric(name: string): unknown;
}

/**
 * Prometheus metrics of a StateManager, store, elector or lock (see
 * docs/observability.md for every metric, its type, labels and meaning).
 * Needs prom-client (an optional peer dependency) installed.
 */
export interface MetricsOptions {
  /**
   * The prom-client Registry to register kubekv's metrics in. Share one
   * Registry between any number of kubekv objects: each metric is
   * registered once and told apart by labels, so nothing is registered
   * twice. Without this option nothing is registered anywhere.
   */
  registry: MetricsRegistry;
}

/** Marks a metric kubekv made, with its type and labels, so a later resolve can reuse it (global: shared by kubekv copies). */
const MADE_BY_KUBEKV = Symbol.for('kubekv.metric');
/** The staleness gauge's sources, kept on the gauge itself so every store sharing the Registry feeds the same collect(). */
const STALENESS_SOURCES = Symbol.for('kubekv.metric.stalenessSources');

interface StalenessSource {
  readonly labels: Labels;
  /** Seconds. */
  read(): number;
}

type Marked = Record<symbol, unknown>;

/**
 * Validates a `metrics` option and makes what creates the observers, or
 * undefined when the option is absent. Throws InvalidOptionError naming
 * `option` (or `option.registry`).
 */
export function resolveMetrics(value: unknown, option = 'metrics'): Metrics | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError(option, value, 'an object { registry } holding a prom-client Registry');
  for (const key of Object.keys(value)) {
    if (key !== 'registry') throw new InvalidOptionError(`${option}.${key}`, (value as Record<string, unknown>)[key], 'unknown metrics option; known: registry');
  }
  const registry = (value as { registry?: unknown }).registry;
  if (!isRegistry(registry)) throw new InvalidOptionError(`${option}.registry`, registry, 'a prom-client Registry (new Registry(), or prom-client\'s register)');
  const prom = loadPromClient(option);
  for (const definition of ALL_METRICS) {
    const existing = registry.getSingleMetric(definition.name);
    if (existing !== undefined && !madeAs(existing, definition)) {
      throw new InvalidOptionError(
        `${option}.registry`,
        registry,
        `it already holds a metric named ${definition.name} that kubekv did not make as a ${signature(definition)}; use another Registry`,
      );
    }
  }
  return new Metrics(prom, registry);
}

/** Makes the observers of one Registry; see {@link resolveMetrics}. */
export class Metrics {
  readonly #prom: PromClient;
  readonly #registry: MetricsRegistry;

  /** Use {@link resolveMetrics}, which validates first. */
  constructor(prom: PromClient, registry: MetricsRegistry) {
    this.#prom = prom;
    this.#registry = registry;
  }

  /**
   * A store's hooks, labelled {namespace, bucket}. `stalenessMs` is read at
   * each scrape (the store's status().stalenessMs).
   */
  store(namespace: string, bucket: string, stalenessMs: () => number): StoreObserver {
    const labels: Labels = { namespace, bucket };
    const writes = this.#counter(WRITES);
    const duration = this.#histogram(WRITE_DURATION);
    const conflicts = this.#counter(CAS_CONFLICTS);
    const etcdBytes = this.#counter(ETCD_BYTES);
    const budgetWait = this.#counter(ETCD_BUDGET_WAIT);
    const retries = this.#counter(WRITE_RETRIES);
    const fenced = this.#counter(FENCED_WRITES);
    const restarts = this.#counter(WATCH_RESTARTS);
    const staleness = this.#stalenessGauge();
    const sources = staleness[STALENESS_SOURCES] as Set<StalenessSource>;
    const source: StalenessSource = { labels, read: () => stalenessMs() / 1000 };
    safely(() => {
      // Series that alerts compare against exist from the start, at 0.
      writes.inc({ ...labels, result: 'ok' }, 0);
      conflicts.inc(labels, 0);
      etcdBytes.inc(labels, 0);
      budgetWait.inc(labels, 0);
      fenced.inc(labels, 0);
      sources.add(source);
    });
    return {
      written: (error, ms) =>
        safely(() => {
          const result = resultLabel(error);
          writes.inc({ ...labels, result });
          if (error === undefined) duration.observe(labels, ms / 1000);
          else if (result === 'fenced') fenced.inc(labels);
        }),
      conflict: () => safely(() => conflicts.inc(labels)),
      retry: (reason) => safely(() => retries.inc({ ...labels, reason: labelValue(reason) })),
      etcdBytes: (bytes) => safely(() => etcdBytes.inc(labels, bytes)),
      budgetWaited: (ms) => safely(() => budgetWait.inc(labels, ms / 1000)),
      watchRestarted: (reason) => safely(() => restarts.inc({ ...labels, reason })),
      close: () =>
        safely(() => {
          if (!sources.delete(source)) return;
          // Another open store of the same bucket still reports this series.
          if (![...sources].some((s) => sameLabels(s.labels, labels))) staleness.remove(labels);
        }),
    };
  }

  /** An elector's hooks, labelled {name: the Lease name} as client-go labels them. Sets the gauge to 0 now, as client-go's NewLeaderElector does. */
  election(leaseName: string): ElectionObserver {
    const labels: Labels = { name: leaseName };
    const status = this.#gauge(LEADER_STATUS);
    const slowPath = this.#counter(LEADER_SLOWPATH);
    safely(() => {
      status.set(labels, 0);
      slowPath.inc(labels, 0);
    });
    return {
      leading: (isLeader) => safely(() => status.set(labels, isLeader ? 1 : 0)),
      slowPath: () => safely(() => slowPath.inc(labels)),
    };
  }

  /** A bucket's lock hooks, labelled {namespace, bucket} (never the key or the lock's Lease name: one series per bucket). */
  lock(namespace: string, bucket: string): LockObserver {
    const labels: Labels = { namespace, bucket };
    const acquisitions = this.#counter(LOCK_ACQUISITIONS);
    const losses = this.#counter(LOCK_LOSSES);
    const held = this.#gauge(LOCKS_HELD);
    const holds = this.#histogram(LOCK_HOLD_DURATION);
    safely(() => {
      acquisitions.inc(labels, 0);
      losses.inc(labels, 0);
      held.inc(labels, 0);
    });
    return {
      acquired: () =>
        safely(() => {
          acquisitions.inc(labels);
          held.inc(labels);
        }),
      released: (heldMs, lost) =>
        safely(() => {
          held.dec(labels);
          holds.observe(labels, heldMs / 1000);
          if (lost) losses.inc(labels);
        }),
    };
  }

  #counter(definition: MetricDefinition): CounterLike {
    return this.#metric(definition, () => new this.#prom.Counter(this.#config(definition)));
  }

  #gauge(definition: MetricDefinition): GaugeLike {
    return this.#metric(definition, () => new this.#prom.Gauge(this.#config(definition)));
  }

  #histogram(definition: MetricDefinition): HistogramLike {
    return this.#metric(definition, () => new this.#prom.Histogram({ ...this.#config(definition), buckets: [...(definition.buckets ?? [])] }));
  }

  #stalenessGauge(): GaugeLike & Marked {
    const made = this.#metric<GaugeLike & Marked>(CACHE_STALENESS, () => {
      const sources = new Set<StalenessSource>();
      // prom-client calls collect() at every scrape, before reading the values.
      const gauge: GaugeLike = new this.#prom.Gauge({ ...this.#config(CACHE_STALENESS), collect: () => refreshStaleness(gauge, sources) });
      Object.defineProperty(gauge, STALENESS_SOURCES, { value: sources });
      return gauge as GaugeLike & Marked;
    });
    return made;
  }

  /** The Registry's metric of this name (made by kubekv, checked by resolveMetrics), or a new one registered there. */
  #metric<T>(definition: MetricDefinition, make: () => T): T {
    const existing = this.#registry.getSingleMetric(definition.name);
    if (existing !== undefined && madeAs(existing, definition)) return existing as T;
    const metric = make();
    Object.defineProperty(metric, MADE_BY_KUBEKV, { value: signature(definition) });
    return metric;
  }

  #config(definition: MetricDefinition) {
    return { name: definition.name, help: definition.help, labelNames: [...definition.labelNames], registers: [this.#registry] };
  }
}

/** The staleness gauge's collect(): each store's current staleness; the worst when two stores share a series. */
function refreshStaleness(gauge: GaugeLike, sources: Set<StalenessSource>): void {
  const worst = new Map<string, { labels: Labels; value: number }>();
  for (const source of sources) {
    let value: number;
    try {
      value = source.read();
    } catch {
      continue;
    }
    if (!Number.isFinite(value)) continue;
    const key = JSON.stringify(source.labels);
    const seen = worst.get(key);
    if (!seen || value > seen.value) worst.set(key, { labels: source.labels, value });
  }
  for (const { labels, value } of worst.values()) safely(() => gauge.set(labels, value));
}

function isRegistry(value: unknown): value is MetricsRegistry {
  const candidate = value as Partial<Record<keyof MetricsRegistry, unknown>> | null;
  return typeof value === 'object' && value !== null && typeof candidate?.registerMetric === 'function' && typeof candidate.getSingleMetric === 'function';
}

function signature(definition: MetricDefinition): string {
  return `${definition.type}{${[...definition.labelNames].sort().join(',')}}`;
}

function madeAs(metric: unknown, definition: MetricDefinition): boolean {
  return typeof metric === 'object' && metric !== null && (metric as Marked)[MADE_BY_KUBEKV] === signature(definition);
}

/** "ok", or the error's code in lower case ("error" for an error without one). */
function resultLabel(error: Error | undefined): string {
  if (error === undefined) return 'ok';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? labelValue(code) : 'error';
}

/** A reason or code as a label value: lower case, words joined by "_". */
function labelValue(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_');
}

function sameLabels(a: Labels, b: Labels): boolean {
  return a.namespace === b.namespace && a.bucket === b.bucket;
}

/** Runs a metric update; a failure is dropped (a metric must never fail a write or an election step). */
function safely(update: () => void): void {
  try {
    update();
  } catch {
    // Deliberately ignored: see the module doc.
  }
}
