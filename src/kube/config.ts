/**
 * Where kubekv finds its cluster and namespace. Resolution follows what a
 * Kubernetes user expects from client-go and kubectl:
 *
 * - cluster: an explicit KubeConfig; else in-cluster (service account) when
 *   running in a Pod; else the file(s) named by KUBECONFIG; else ~/.kube/config.
 * - namespace: the explicit option; else the NAMESPACE env var (set it from the
 *   Downward API); else the Pod's service-account namespace file; else the
 *   kubeconfig context's namespace; else "default".
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type * as ClientNodeModule from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { InvalidOptionError } from '../errors.js';

type ClientNode = typeof ClientNodeModule;
let clientNode: ClientNode | undefined;
/**
 * @kubernetes/client-node, loaded on first use rather than at import: it
 * (and undici under it) takes ~0.3 s to load, which `kubekv --help` and code
 * that only validates names (kubekv/testing) should not pay. Synchronous,
 * because LeaseElector's constructor loads its KubeConfig: Node >= 22.12
 * can require() an ES module, and it is the same module instance an
 * `import` gets.
 */
function loadClientNode(): ClientNode {
  return (clientNode ??= createRequire(import.meta.url)('@kubernetes/client-node') as ClientNode);
}

/**
 * Loads @kubernetes/client-node with `import()`, for callers that can wait
 * (the CLI), so the synchronous loaders here find it loaded. The same
 * module either way on Node; under a loader that compiles require()d ES
 * modules itself (tsx, in the tests) require() would load a second,
 * slower copy.
 */
export async function preloadClientNode(): Promise<void> {
  clientNode ??= await import('@kubernetes/client-node');
}

/** Path of the namespace file Kubernetes mounts into every Pod with a service account. */
export const serviceAccountNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const serviceAccountTokenFile = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * No kubeconfig where kubekv (and kubectl) look: not in a Pod, KUBECONFIG
 * unset or naming no file that exists, no ~/.kube/config. Code
 * INVALID_OPTION (a usage error, exit 2 in the CLI): without it client-node
 * would quietly point at http://localhost:8080 and the first request would
 * fail as if a server were down. Raised by the first request (see
 * {@link loadKubeConfig}), so the options are all checked before it.
 */
export class NoKubeconfigError extends InvalidOptionError {
  /** @param where - where kubekv looked, e.g. "KUBECONFIG unset, ~/.kube/config missing, not in a Pod" */
  constructor(where: string) {
    super('kubeConfig', undefined, where);
    this.message = `no kubeconfig found (${where}): pass one (the kubeConfig option; --kubeconfig in the CLI) or set KUBECONFIG`;
  }
}

/** KubeConfigs loadKubeConfig made empty because it found none, and where it looked. */
const missing = new WeakMap<KubeConfig, string>();

/**
 * The NoKubeconfigError to raise for a request through `kc`, if
 * loadKubeConfig found no kubeconfig when it made it (transport.ts asks
 * before every request).
 */
export function missingKubeconfig(kc: KubeConfig): NoKubeconfigError | undefined {
  const where = missing.get(kc);
  return where === undefined ? undefined : new NoKubeconfigError(where);
}

/**
 * Where to find the cluster, without importing @kubernetes/client-node: a
 * kubeconfig file and/or one of its contexts, as `kubectl --kubeconfig
 * <path> --context <name>` takes them. A string is a path. `path` defaults
 * to where kubekv looks anyway (KUBECONFIG, else ~/.kube/config); `context`
 * to the file's current context.
 */
export type KubeConfigSource = string | KubeConfigLocation;

/** A kubeconfig file and one of its contexts (see {@link KubeConfigSource}). */
export interface KubeConfigLocation {
  /** Path of the kubeconfig file; default KUBECONFIG, else ~/.kube/config. */
  readonly path?: string | undefined;
  /** Name of the context to use; default the file's current context. */
  readonly context?: string | undefined;
}

/**
 * The KubeConfig a `kubeConfig` option names: a client-node KubeConfig as
 * given, or the one a {@link KubeConfigSource} describes; without one, where
 * kubekv looks by default. When there is none (see NoKubeconfigError) it
 * returns an empty one whose first request rejects with NoKubeconfigError:
 * callers validate every option first (their errors name the option), and
 * a constructor that loads its config (the LeaseElector's) does not throw
 * for want of a cluster.
 *
 * @throws {@link InvalidOptionError} naming `kubeConfig` for a value of
 * another kind, a path that does not exist or a context the file lacks
 */
export function loadKubeConfig(option?: KubeConfig | KubeConfigSource): KubeConfig {
  if (typeof option === 'string' || (isPlainObject(option) && !isKubeConfig(option))) return loadSource(option);
  const explicit = option;
  if (explicit) {
    // By shape, not instanceof: an app's own copy of client-node (another
    // version, or pnpm's strict layout) makes KubeConfigs kubekv's copy
    // does not recognise as its class, and loading ours just to compare
    // would cost the import time this module avoids.
    if (!isKubeConfig(explicit)) {
      throw new InvalidOptionError('kubeConfig', explicit, 'a KubeConfig from @kubernetes/client-node');
    }
    return explicit;
  }
  return loadDefault();
}

/** The KubeConfig of a {@link KubeConfigSource}. */
function loadSource(source: KubeConfigSource): KubeConfig {
  if (typeof source !== 'string') {
    const unknown = Object.keys(source).find((key) => key !== 'path' && key !== 'context');
    if (unknown !== undefined) throw new InvalidOptionError('kubeConfig', source, `a KubeConfig, a kubeconfig path or { path, context } (not ${unknown})`);
  }
  const { path, context } = typeof source === 'string' ? { path: source, context: undefined } : source;
  for (const [name, value] of [['path', path], ['context', context]] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new InvalidOptionError(`kubeConfig.${name}`, value, name === 'path' ? 'the path of a kubeconfig file' : 'the name of a context in the kubeconfig');
    }
  }
  let kc: KubeConfig;
  if (path !== undefined) {
    if (!existsSync(path)) throw new InvalidOptionError('kubeConfig.path', path, 'the path of a kubeconfig file that exists');
    kc = new (loadClientNode().KubeConfig)();
    kc.loadFromFile(path);
  } else {
    kc = loadDefault();
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) {
      throw new InvalidOptionError('kubeConfig.context', context, `a context of the kubeconfig (it has ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    }
    kc.setCurrentContext(context);
  }
  return kc;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** In-cluster, else KUBECONFIG, else ~/.kube/config (see the module doc). */
function loadDefault(): KubeConfig {
  const { KubeConfig } = loadClientNode();
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync(serviceAccountTokenFile)) {
    kc.loadFromCluster();
  } else {
    // KUBECONFIG (a path list, merged, first file's context; missing files
    // skipped as client-go skips them), else ~/.kube/config.
    const list = process.env.KUBECONFIG ?? '';
    const files = list === '' ? [join(homedir(), '.kube', 'config')] : list.split(delimiter).filter((f) => f !== '' && existsSync(f));
    if (files.length === 0 || !existsSync(files[0]!)) {
      if (process.platform === 'win32') {
        kc.loadFromDefault(); // client-node also looks inside WSL there
        return kc;
      }
      missing.set(kc, list === '' ? 'KUBECONFIG unset, ~/.kube/config missing, not in a Pod' : `KUBECONFIG=${list} names no file that exists, not in a Pod`);
      return kc;
    }
    kc.loadFromFile(files[0]!);
    for (const file of files.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      kc.mergeConfig(more);
    }
  }
  return kc;
}

/** What kubekv calls on a KubeConfig (transport.ts, resolveNamespace). */
const kubeConfigMethods = ['getCurrentCluster', 'getCurrentContext', 'getContextObject', 'applyToHTTPSOptions', 'applySecurityAuthentication'] as const;

function isKubeConfig(value: unknown): value is KubeConfig {
  return typeof value === 'object' && value !== null && kubeConfigMethods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}

/**
 * Loads a kubeconfig file (`--kubeconfig <path>`).
 *
 * @throws the file's read or parse error, as client-node reports it
 */
export function loadKubeConfigFile(path: string): KubeConfig {
  const { KubeConfig } = loadClientNode();
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The namespace the kubeconfig's current context names, if any. */
export function contextNamespace(kc: KubeConfig): string | undefined {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || undefined;
}

/** Resolves the namespace as described in the module doc. */
export function resolveNamespace(kc: KubeConfig, explicit?: string): string {
  const candidates: Array<[string, string | undefined]> = [
    ['namespace', explicit],
    ['NAMESPACE env', process.env.NAMESPACE],
    ['service-account namespace file', readIfExists(serviceAccountNamespaceFile)],
    ['kubeconfig context', kc.getContextObject(kc.getCurrentContext())?.namespace],
  ];
  for (const [source, value] of candidates) {
    if (value === undefined || value === '') continue;
    validateName('namespace', value, source);
    return value;
  }
  return 'default';
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Checks a Kubernetes object name up front so a typo is an InvalidOptionError
 * naming the option, not an opaque 422 from the server. Namespaces are DNS
 * labels (63), ConfigMap and Lease names DNS subdomains (253).
 */
export function validateName(option: string, value: unknown, source = option): string {
  const isNamespace = option === 'namespace';
  const max = isNamespace ? 63 : 253;
  const pattern = isNamespace ? dnsLabel : dnsSubdomain;
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !pattern.test(value)) {
    throw new InvalidOptionError(
      option,
      value,
      `${source === option ? '' : `(from ${source}) `}must be a DNS-1123 ${isNamespace ? 'label' : 'subdomain'}: lower-case alphanumerics, '-'${isNamespace ? '' : ", '.'"}, at most ${max} characters`,
    );
  }
  return value;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
