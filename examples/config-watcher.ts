/**
 * A typed configuration watcher over a ConfigMap that people manage with
 * kubectl, as knative's configmap watcher does: plain `data` keys, defaults
 * for missing ones, validation that names every problem, and onChange
 * callbacks with the typed config.
 *
 *   kubectl create configmap app-config --from-literal=log-level=debug --from-literal=max-connections=50
 *   kubectl patch configmap app-config --type merge -p '{"data":{"features":"search,export"}}'
 *
 * kubekv reads a ConfigMap it did not create (docs/format.md, "ConfigMaps
 * kubekv did not create"): its keys read as they are, and opening, watching
 * and closing the store never write to it, so get/list/watch RBAC is enough.
 *
 * What it promises:
 * - Every config it hands out is one real version of the ConfigMap, parsed
 *   whole: an edit of several keys at once is never seen half applied.
 * - An invalid edit changes nothing: the last good config stays current and
 *   `onInvalid` gets an InvalidConfigError listing each problem. The next
 *   valid edit takes effect as usual.
 * - A config that is invalid at start-up is an error (there is no last good
 *   one to keep), like a knative component that refuses to start.
 * - A deleted ConfigMap reads as empty: the config goes back to its defaults.
 *
 * Run against a cluster (then edit the ConfigMap in another terminal):
 *   node --import tsx examples/config-watcher.ts [--name app-config] [--namespace ns] [--kubeconfig path]
 */
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { BucketNotFoundError, ConfigMapStore, type ReadableStore } from 'kubekv';
import { clusterFlags, clusterOptions, isMain, stopSignal } from './cli.js';

/** The application's configuration, typed. */
export interface AppConfig {
  /** `log-level`: debug, info, warn or error. Default info. */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** `max-connections`: an integer from 1 to 10000. Default 100. */
  maxConnections: number;
  /** `request-timeout-ms`: an integer from 1 to 300000. Default 5000. */
  requestTimeoutMs: number;
  /** `features`: comma-separated feature flags, sorted. Default none. */
  features: string[];
}

/** The configuration when the ConfigMap sets nothing. */
export const defaults: Readonly<AppConfig> = { logLevel: 'info', maxConnections: 100, requestTimeoutMs: 5000, features: [] };

/** A ConfigMap whose content is not a valid configuration; `problems` has one line per bad key. */
export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError';
  /** Each problem, naming the key and the value found. */
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

const logLevels: ReadonlySet<string> = new Set(['debug', 'info', 'warn', 'error']);
const knownKeys: ReadonlySet<string> = new Set(['log-level', 'max-connections', 'request-timeout-ms', 'features']);

/** Parses the ConfigMap's data into an AppConfig, applying defaults; throws InvalidConfigError naming every bad key. */
export function parseAppConfig(data: ReadonlyMap<string, string>): AppConfig {
  const problems: string[] = [];
  const integer = (key: string, min: number, max: number, fallback: number): number => {
    const text = data.get(key);
    if (text === undefined) return fallback;
    const value = Number(text.trim());
    if (/^\s*\d+\s*$/.test(text) && value >= min && value <= max) return value;
    problems.push(`${key}: ${JSON.stringify(text)} is not an integer from ${min} to ${max}`);
    return fallback;
  };
  const level = data.get('log-level')?.trim() ?? defaults.logLevel;
  if (!logLevels.has(level)) problems.push(`log-level: ${JSON.stringify(level)} is not one of ${[...logLevels].join(', ')}`);
  const config: AppConfig = {
    logLevel: level as AppConfig['logLevel'],
    maxConnections: integer('max-connections', 1, 10_000, defaults.maxConnections),
    requestTimeoutMs: integer('request-timeout-ms', 1, 300_000, defaults.requestTimeoutMs),
    features: [...new Set((data.get('features') ?? '').split(',').map((f) => f.trim()).filter((f) => f !== ''))].sort(),
  };
  // A misspelt key would otherwise be ignored silently, leaving the default in force.
  for (const key of data.keys()) {
    if (!knownKeys.has(key)) problems.push(`${key}: unknown key (known: ${[...knownKeys].join(', ')})`);
  }
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return config;
}

/** Callbacks of {@link watchConfig}. */
export interface WatchConfigOptions<T> {
  /** Turns the ConfigMap's data into a config; throws InvalidConfigError when it is not valid. */
  parse: (data: ReadonlyMap<string, string>) => T;
  /** Called with the first config, then with each new valid one (and the one it replaces). */
  onChange: (config: T, previous: T | undefined) => void;
  /** Called when an edit is invalid; `current` is the last good config, which stays in force. */
  onInvalid: (error: InvalidConfigError, current: T) => void;
  /** Stops watching: watchConfig() then resolves. */
  signal: AbortSignal;
}

/**
 * Watches a store's keys and keeps a typed config from them until `signal`
 * aborts. Rejects with InvalidConfigError if the first state is invalid, and
 * with the store's error if the ConfigMap cannot be decoded (FormatError).
 */
export async function watchConfig<T>(store: ReadableStore, options: WatchConfigOptions<T>): Promise<void> {
  let current: T | undefined;
  let seen: string | undefined;
  for await (const _event of store.watchTree('', { signal: options.signal })) {
    // One edit of several keys arrives as several events. Rather than apply
    // them one by one (and parse half-applied states), read the whole state
    // the cache holds, which already includes every key of that edit, and
    // skip events whose state has been seen.
    const data = new Map((await store.list('')).map((pair) => [pair.key, pair.text] as const));
    const fingerprint = JSON.stringify([...data]);
    if (fingerprint === seen) continue;
    seen = fingerprint;
    let next: T;
    try {
      next = options.parse(data);
    } catch (err) {
      if (!(err instanceof InvalidConfigError) || current === undefined) throw err;
      options.onInvalid(err, current);
      continue;
    }
    if (current !== undefined && JSON.stringify(next) === JSON.stringify(current)) continue;
    const previous = current;
    current = next;
    options.onChange(next, previous);
  }
}

/** Options of {@link main}. */
export interface ConfigWatcherOptions {
  /** Stops watching; main() then closes the store and returns. */
  signal: AbortSignal;
  /** Name of the ConfigMap. Default "app-config". */
  name?: string;
  /** Namespace; default kubekv's (NAMESPACE env, service account, kubeconfig context). */
  namespace?: string;
  /** Cluster access; default in-cluster, KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Called with each new config. Default: print it. */
  onChange?: (config: AppConfig, previous: AppConfig | undefined) => void;
  /** Called when an edit is rejected. Default: print the problems. */
  onInvalid?: (error: InvalidConfigError, current: AppConfig) => void;
}

/** Watches the ConfigMap until `signal` aborts. Rejects with BucketNotFoundError if it does not exist. */
export async function main(options: ConfigWatcherOptions): Promise<void> {
  // Without `create`, opening only reads: a missing ConfigMap is BucketNotFoundError.
  await using store = await ConfigMapStore.open({
    name: options.name ?? 'app-config',
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options.kubeConfig === undefined ? {} : { kubeConfig: options.kubeConfig }),
    signal: options.signal,
  });
  await watchConfig<AppConfig>(store, {
    parse: parseAppConfig,
    onChange: options.onChange ?? ((config) => console.log('configuration now', JSON.stringify(config))),
    onInvalid: options.onInvalid ?? ((error) => console.log(`edit rejected, keeping the last good configuration:\n  ${error.problems.join('\n  ')}`)),
    signal: options.signal,
  });
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { ...clusterFlags, name: { type: 'string' } } });
  try {
    await main({ ...clusterOptions(values), ...(values.name ? { name: values.name } : {}), signal: stopSignal() });
  } catch (err) {
    if (!(err instanceof BucketNotFoundError)) throw err;
    // The ConfigMap is the operator's to create (this watcher only reads): say which, and how.
    console.error(
      `ConfigMap ${err.namespace}/${err.bucket} does not exist; this watcher reads it and never creates it. Create it, e.g.:\n` +
        `  kubectl create configmap ${err.bucket} -n ${err.namespace} --from-literal=log-level=info --from-literal=max-connections=100`,
    );
    process.exitCode = 1;
  }
}
