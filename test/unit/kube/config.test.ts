/** Namespace resolution order and name validation (no server needed). */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { InvalidOptionError } from '../../../src/errors.js';
import { loadKubeConfig, resolveNamespace, validateName } from '../../../src/kube/config.js';

function kubeConfigWithNamespace(namespace?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u', ...(namespace ? { namespace } : {}) }],
    currentContext: 'ctx',
  });
  return kc;
}

const savedNamespace = process.env.NAMESPACE;
afterEach(() => {
  if (savedNamespace === undefined) delete process.env.NAMESPACE;
  else process.env.NAMESPACE = savedNamespace;
});

describe('resolveNamespace', () => {
  it('prefers the explicit option, then NAMESPACE, then the context, then "default"', () => {
    process.env.NAMESPACE = 'from-env';
    assert.equal(resolveNamespace(kubeConfigWithNamespace('from-context'), 'explicit'), 'explicit');
    assert.equal(resolveNamespace(kubeConfigWithNamespace('from-context')), 'from-env');
    delete process.env.NAMESPACE;
    assert.equal(resolveNamespace(kubeConfigWithNamespace('from-context')), 'from-context');
    assert.equal(resolveNamespace(kubeConfigWithNamespace()), 'default');
  });

  it('names the source of an invalid namespace', () => {
    process.env.NAMESPACE = 'Not_Valid';
    assert.throws(() => resolveNamespace(kubeConfigWithNamespace()), (err: unknown) => err instanceof InvalidOptionError && err.option === 'namespace' && /NAMESPACE env/.test(err.message));
  });
});

describe('validateName', () => {
  it('accepts DNS-1123 names and rejects others with INVALID_OPTION naming the option', () => {
    assert.equal(validateName('name', 'app-state.v1'), 'app-state.v1');
    for (const bad of ['', 'UPPER', 'under_score', '-lead', 'trail-', 'a'.repeat(254), 42, undefined]) {
      assert.throws(() => validateName('name', bad), (err: unknown) => err instanceof InvalidOptionError && err.code === 'INVALID_OPTION' && err.option === 'name');
    }
    assert.throws(() => validateName('namespace', 'a.b'), InvalidOptionError, 'a namespace is a DNS label: no dots');
  });
});

describe('loadKubeConfig', () => {
  it('returns an explicit KubeConfig as is and rejects anything else', () => {
    const kc = kubeConfigWithNamespace();
    assert.equal(loadKubeConfig(kc), kc);
    assert.throws(() => loadKubeConfig({} as KubeConfig), (err: unknown) => err instanceof InvalidOptionError && err.option === 'kubeConfig');
  });
});
