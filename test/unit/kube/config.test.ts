/** Namespace resolution order and name validation (no server needed). */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { InvalidOptionError } from '../../../src/errors.js';
import { loadKubeConfig, missingKubeconfig, resolveNamespace, validateName } from '../../../src/kube/config.js';
import { ConfigMapStore } from '../../../src/index.js';

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
    assert.throws(() => loadKubeConfig({ server: 'https://x' } as never), (err: unknown) => err instanceof InvalidOptionError && err.option === 'kubeConfig');
    assert.throws(() => loadKubeConfig(42 as never), (err: unknown) => err instanceof InvalidOptionError && err.option === 'kubeConfig');
    assert.throws(() => loadKubeConfig({ path: '' }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'kubeConfig.path');
  });
});

describe('loadKubeConfig without a kubeconfig', () => {
  it('says so in words on the first request, as an InvalidOptionError (not a request to localhost:8080 failing as unreachable)', async () => {
    const saved = { HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG, KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST };
    const home = await mkdtemp(join(tmpdir(), 'kubekv-home-'));
    try {
      process.env.HOME = home;
      delete process.env.KUBECONFIG;
      delete process.env.KUBERNETES_SERVICE_HOST;
      const kc = loadKubeConfig();
      const err = missingKubeconfig(kc);
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.code, 'INVALID_OPTION');
      assert.equal(err.option, 'kubeConfig');
      assert.match(err.message, /^no kubeconfig found \(KUBECONFIG unset, ~\/\.kube\/config missing, not in a Pod\)/);
      // Options are checked first; the first request (here the store's first read) is refused with it.
      await assert.rejects(ConfigMapStore.open({ name: 'b', compression: 'no' as never }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'compression');
      await assert.rejects(ConfigMapStore.open({ name: 'b' }), (e: unknown) => e instanceof InvalidOptionError && /^no kubeconfig found/.test(e.message));
      process.env.KUBECONFIG = join(home, 'missing-a') + ':' + join(home, 'missing-b');
      assert.match(missingKubeconfig(loadKubeConfig())?.message ?? '', /no kubeconfig found \(KUBECONFIG=.*missing-a:.*missing-b names no file that exists, not in a Pod\)/);
      assert.equal(missingKubeconfig(kubeConfigWithNamespace()), undefined);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
