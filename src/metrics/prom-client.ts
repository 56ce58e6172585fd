/**
 * prom-client, loaded only when an application asks for metrics.
 *
 * prom-client is an optional peer dependency: kubekv must load and work
 * without it. So nothing imports it at module level (not even its types:
 * the shapes used are declared structurally below, and the public option
 * takes any object shaped like a Registry), and it is required here, lazily,
 * the first time a `metrics` option is resolved.
 *
 * Why a synchronous require (createRequire) rather than `await import()`:
 * the option is resolved inside constructors that cannot await (LeaseElector,
 * store.newLock's Lock) and before any request, so a missing prom-client is
 * an InvalidOptionError at the call that passed the option, never a failure
 * later in the write path. prom-client is CommonJS; Node >= 22.12 could also
 * require() it if it became an ES module. Resolved from kubekv's own location,
 * the peer dependency is the application's copy, so the metrics register in
 * the application's Registry with its own classes. Why not have the caller
 * pass prom-client as well: one option (`{ registry }`) is what the issue and
 * users expect, and a Registry of another copy works anyway (registerMetric
 * only stores the metric and calls its get() on scrape).
 */
import { createRequire } from 'node:module';
import { InvalidOptionError } from '../errors.js';

/** Label values by label name. */
export type Labels = Record<string, string>;

/** What kubekv uses of a prom-client Counter. */
export interface CounterLike {
  inc(labels: Labels, value?: number): void;
}

/** What kubekv uses of a prom-client Gauge. */
export interface GaugeLike {
  set(labels: Labels, value: number): void;
  inc(labels: Labels, value?: number): void;
  dec(labels: Labels, value?: number): void;
  remove(labels: Labels): void;
}

/** What kubekv uses of a prom-client Histogram. */
export interface HistogramLike {
  observe(labels: Labels, value: number): void;
}

/** The configuration object prom-client's metric constructors take (the fields kubekv sets). */
export interface MetricConfig {
  name: string;
  help: string;
  labelNames: string[];
  registers: unknown[];
  buckets?: number[];
  collect?: () => void;
}

/** The prom-client classes kubekv constructs. */
export interface PromClient {
  Counter: new (config: MetricConfig) => CounterLike;
  Gauge: new (config: MetricConfig) => GaugeLike;
  Histogram: new (config: MetricConfig) => HistogramLike;
}

let loaded: PromClient | undefined;

/**
 * prom-client's classes, required on first use and kept. Throws
 * InvalidOptionError naming `option` when prom-client is not installed (or
 * is not prom-client).
 */
export function loadPromClient(option: string): PromClient {
  if (loaded) return loaded;
  let module: unknown;
  try {
    module = createRequire(import.meta.url)('prom-client');
  } catch (err) {
    throw new InvalidOptionError(option, 'prom-client', 'metrics need prom-client, an optional peer dependency that is not installed: npm install prom-client', { cause: err });
  }
  const candidate = module as Partial<Record<keyof PromClient, unknown>> | null;
  if (typeof candidate?.Counter !== 'function' || typeof candidate.Gauge !== 'function' || typeof candidate.Histogram !== 'function') {
    throw new InvalidOptionError(option, 'prom-client', 'the installed prom-client does not export Counter, Gauge and Histogram (prom-client >= 15 is supported)');
  }
  loaded = candidate as PromClient;
  return loaded;
}
