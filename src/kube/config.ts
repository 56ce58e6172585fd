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
import { KubeConfig } from '@kubernetes/client-node';
import { InvalidOptionError } from '../errors.js';

/** Path of the namespace file Kubernetes mounts into every Pod with a service account. */
export const serviceAccountNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const serviceAccountTokenFile = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Loads the KubeConfig to use when none was given. */
export function loadKubeConfig(explicit?: KubeConfig): KubeConfig {
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
