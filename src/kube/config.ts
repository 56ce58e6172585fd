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

/** Path of the namespace file Kubernetes mounts into every Pod with a service account. */
export const serviceAccountNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const serviceAccountTokenFile = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Loads the KubeConfig to use when none was given. */
export function loadKubeConfig(explicit?: KubeConfig): KubeConfig {
  const { KubeConfig } = loadClientNode();
  if (explicit) {
    if (!(explicit instanceof KubeConfig)) {
      throw new InvalidOptionError('kubeConfig', explicit, 'a KubeConfig from @kubernetes/client-node');
    }
    return explicit;
  }
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync(serviceAccountTokenFile)) {
    kc.loadFromCluster();
  } else {
    // KUBECONFIG (a path list), else ~/.kube/config.
    kc.loadFromDefault();
  }
  return kc;
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
