/**
 * Every way a kubeconfig can authenticate and reach the API server, as
 * @kubernetes/client-node supports it, keeps working through kubekv's own
 * transport (src/kube/transport.ts: pooled undici connections, credentials
 * asked of the KubeConfig per request). Each case opens a real bucket with a
 * kubeconfig written for it (the kubeconfig file format, field names as users
 * write them), writes, reads with `consistent: true`, sees the write arrive
 * at a second store through its watch, and, where the identity matters, asks
 * the server who it saw: a SelfSubjectReview sent through kubekv's transport
 * (the same connection pool and credential path the store uses), and RBAC
 * (what one identity may touch and another may not).
 *
 * Cases: client certificate; static bearer token (TokenRequest); the
 * in-cluster token file the kubelet rotates; an exec credential plugin and
 * its cache; a CA file, insecure-skip-tls-verify, tls-server-name; an HTTP
 * CONNECT proxy (proxy-url); and connection reuse (100 puts, a bounded number
 * of connections).
 *
 * The control plane runs no controller-manager: ServiceAccounts are created
 * here, and their tokens come from the TokenRequest API (the apiserver signs
 * them; it still checks that the ServiceAccount object exists).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig, type RbacV1Subject } from '@kubernetes/client-node';
import { ConfigMapStore, ForbiddenError, type ReadableStore } from '../../../src/index.js';
import { KubeTransport } from '../../../src/kube/transport.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { ConnectProxy } from '../../support/connect-proxy.js';
import { adminApis, type Apis } from '../../support/kube.js';
import { TcpProxy, serverPort } from '../../support/tcp-proxy.js';
import { waitFor } from '../../support/wait.js';

const cp = testControlPlane();
let admin: Apis;
let ns: string;
let tmp: string;
/** The test CA, PEM (it signed the serving certificate). */
let caPem: Buffer;
/** A client-certificate identity (the harness's mintUser) allowed the `certBuckets`. */
let certUser: { certData: string; keyData: string };

const certUserName = 'auth-cert-user';
const certBuckets = ['cert-basic', 'tls-ca-file', 'tls-insecure', 'tls-server-name', 'via-connect-proxy', 'reuse'];

before(async () => {
  admin = adminApis();
  ns = await cp.freshNamespace('auth');
  tmp = await mkdtemp(join(tmpdir(), 'kubekv-auth-'));
  const cluster = admin.kc.getCurrentCluster()!;
  caPem = cluster.caData ? Buffer.from(cluster.caData, 'base64') : readFileSync(cluster.caFile!);
  await grant('cert-user', certBuckets, { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: certUserName });
  const minted = new KubeConfig();
  minted.loadFromFile(await cp.mintUser({ user: certUserName, namespace: ns }));
  const user = minted.getCurrentUser()!;
  certUser = { certData: user.certData!, keyData: user.keyData! };
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('authentication and transport settings through kubekv', () => {
  it('client certificate (baseline)', async () => {
    const kc = kubeconfig({ 'certificate-authority-data': caPem.toString('base64') }, userCert());
    assert.equal(await whoami(kc), certUserName);
    await roundTrip(kc, 'cert-basic');
    await assert.rejects(ConfigMapStore.open({ name: 'not-granted', kubeConfig: kc, create: true }), ForbiddenError);
  });

  it('static bearer token from the TokenRequest API', async () => {
    const token = await serviceAccountToken('bearer');
    await grant('bearer', ['bearer-bucket'], serviceAccount('bearer'));
    const kc = kubeconfig({ 'certificate-authority-data': caPem.toString('base64') }, { token });
    assert.equal(await whoami(kc), `system:serviceaccount:${ns}:bearer`);
    await roundTrip(kc, 'bearer-bucket');
    await assert.rejects(ConfigMapStore.open({ name: 'cert-basic', kubeConfig: kc }), ForbiddenError);
  });

  /*
   * The in-cluster token: KubeConfig.loadFromCluster() (what kubekv uses in a
   * Pod) gives the user auth-provider `tokenFile`, served by client-node's
   * FileAuth (dist/file_auth.js). Its caching rule: the file is read on the
   * first request, then re-read on a request made more than 60 s after the
   * last read (`delta > 60`, in seconds, per KubeConfig); in between, the
   * cached token is sent. So after the kubelet rotates the file, requests
   * carry the new token within 60 s (plus the gap to the next request).
   *
   * (Not covered because client-node does not rotate it: a kubeconfig user's
   * `token-file` field is read ONCE, when the kubeconfig is loaded
   * (config_types.js findToken), unlike client-go, which re-reads it.)
   */
  it('in-cluster token file: a rotated token is picked up within FileAuth\'s 60 s re-read', { timeout: 180_000 }, async () => {
    const [tokenA, tokenB] = await Promise.all([serviceAccountToken('rotate-a'), serviceAccountToken('rotate-b')]);
    await grant('rotate-shared-a', ['rotate-shared'], serviceAccount('rotate-a'));
    await grant('rotate-shared-b', ['rotate-shared'], serviceAccount('rotate-b'));
    await grant('rotate-b-only', ['rotate-b-only'], serviceAccount('rotate-b'));

    // The files the kubelet mounts into a Pod, under a prefix.
    const prefix = join(tmp, 'pod');
    const mount = join(prefix, 'var/run/secrets/kubernetes.io/serviceaccount');
    await mkdir(mount, { recursive: true });
    await writeFile(join(mount, 'ca.crt'), caPem);
    await writeFile(join(mount, 'namespace'), ns);
    const tokenPath = join(mount, 'token');
    rotate(tokenPath, tokenA);
    const kc = inCluster(prefix);

    const firstRead = Date.now();
    assert.equal(await whoami(kc), `system:serviceaccount:${ns}:rotate-a`);
    const store = await ConfigMapStore.open({ name: 'rotate-shared', kubeConfig: kc, create: true });
    try {
      assert.equal(store.namespace, ns, 'the namespace comes from the mounted namespace file');
      await store.put('who', 'a');
      await assert.rejects(ConfigMapStore.open({ name: 'rotate-b-only', kubeConfig: kc, create: true }), ForbiddenError);

      // The kubelet rotates the token (atomically, as its projected volume
      // does), and here A also loses its access to the shared bucket.
      rotate(tokenPath, tokenB);
      const rotatedAt = Date.now();
      await admin.rbac.deleteNamespacedRoleBinding({ name: 'rotate-shared-a', namespace: ns });
      assert.equal(await whoami(kc), `system:serviceaccount:${ns}:rotate-a`, 'FileAuth serves its cached token until 60 s after its last read');

      const bound = 60_000 + 15_000 - (rotatedAt - firstRead);
      await waitFor(async () => (await whoami(kc)) === `system:serviceaccount:${ns}:rotate-b`, 'requests to carry the rotated token', bound, 250);
      const seenAt = Date.now();
      console.log(`token file: rotated token used ${((seenAt - rotatedAt) / 1000).toFixed(1)} s after the rotation, ` +
        `${((seenAt - firstRead) / 1000).toFixed(1)} s after the first read (FileAuth re-reads after 60 s)`);
      assert.ok(seenAt - firstRead >= 60_000, 'FileAuth kept the first token for 60 s');

      // The open store now writes as B (A has no access any more), and B's own bucket opens.
      await store.put('who', 'b');
      assert.equal((await store.get('who', { consistent: true }))?.text, 'b');
      await roundTrip(kc, 'rotate-shared');
      await roundTrip(kc, 'rotate-b-only');
    } finally {
      await store.close();
    }
  });

  /*
   * client-node's ExecAuth (dist/exec_auth.js) caches the ExecCredential per
   * user name, per KubeConfig: with no status.expirationTimestamp the
   * credential is kept for good; with one, it is kept while the timestamp is
   * in the future, and the plugin runs again on the first request after it.
   */
  it('exec credential plugin: run once, its credential cached across requests', async () => {
    const token = await serviceAccountToken('exec');
    await grant('exec', ['exec-bucket'], serviceAccount('exec'));
    const plugin = await execPlugin('forever', token, 0);
    const kc = kubeconfig({ 'certificate-authority-data': caPem.toString('base64') }, plugin.user);
    assert.equal(await whoami(kc), `system:serviceaccount:${ns}:exec`);
    await roundTrip(kc, 'exec-bucket');
    const store = await ConfigMapStore.open({ name: 'exec-bucket', kubeConfig: kc });
    try {
      for (let i = 0; i < 20; i++) await store.put(`k${i}`, String(i));
    } finally {
      await store.close();
    }
    const runs = await plugin.invocations();
    console.log(`exec plugin: ${runs} invocation(s) for 2 store opens, 2 watches, 22 puts, 2 consistent reads and a SelfSubjectReview`);
    assert.equal(runs, 1);
  });

  it('exec credential plugin: run again once its expirationTimestamp has passed', async () => {
    const token = await serviceAccountToken('exec-expiring');
    await grant('exec-expiring', ['exec-expiring-bucket'], serviceAccount('exec-expiring'));
    const ttlMs = 3000;
    const plugin = await execPlugin('expiring', token, ttlMs);
    const kc = kubeconfig({ 'certificate-authority-data': caPem.toString('base64') }, plugin.user);
    const store = await ConfigMapStore.open({ name: 'exec-expiring-bucket', kubeConfig: kc, create: true });
    try {
      await store.put('a', '1');
      assert.equal(await plugin.invocations(), 1);
      const [issuedAt] = await plugin.runTimes();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, issuedAt! + ttlMs + 200 - Date.now())));
      await store.put('a', '2');
      assert.equal((await store.get('a', { consistent: true }))?.text, '2');
      assert.equal(await plugin.invocations(), 2, 'the expired credential was refreshed, once');
    } finally {
      await store.close();
    }
  });

  describe('TLS settings', () => {
    it('certificate-authority as a FILE', async () => {
      const caFile = join(tmp, 'ca.crt');
      await writeFile(caFile, caPem);
      const kc = kubeconfig({ 'certificate-authority': caFile }, userCert());
      assert.equal(kc.getCurrentCluster()?.caData, undefined);
      assert.equal(await whoami(kc), certUserName);
      await roundTrip(kc, 'tls-ca-file');

      // The file is what is trusted: a CA file of some other CA is refused.
      const otherCa = join(tmp, 'other-ca.crt');
      await writeFile(otherCa, rootCertificates[0]!);
      await expectTlsFailure(kubeconfig({ 'certificate-authority': otherCa }, userCert()), /certificate|verify/i);
    });

    it('insecure-skip-tls-verify without a CA', async () => {
      const kc = kubeconfig({ 'insecure-skip-tls-verify': true }, userCert());
      assert.equal(await whoami(kc), certUserName);
      await roundTrip(kc, 'tls-insecure');

      // Without it (and without a CA) the test CA is unknown: refused.
      await expectTlsFailure(kubeconfig({}, userCert()), /certificate|verify/i);
    });

    it('tls-server-name: the serving certificate\'s DNS name, the server URL an IP', async () => {
      // test/controlplane/pki.go: SANs are 127.0.0.1, ::1, localhost, kubernetes,
      // kubernetes.default, kubernetes.default.svc.
      const ca = { 'certificate-authority-data': caPem.toString('base64') };
      const kc = kubeconfig({ ...ca, 'tls-server-name': 'kubernetes.default.svc' }, userCert());
      assert.match(cp.server, /^https:\/\/127\.0\.0\.1:/);
      assert.equal(await whoami(kc), certUserName);
      await roundTrip(kc, 'tls-server-name');

      // The name is really what is verified: one the certificate lacks is refused,
      // although the IP in the URL is in the certificate.
      await expectTlsFailure(kubeconfig({ ...ca, 'tls-server-name': 'not-in-the-cert.example' }, userCert()), /altname|not in the cert|hostname/i);
    });
  });

  /*
   * kubekv hands proxied clusters to client-node's own dispatcher (undici's
   * ProxyAgent), which sets no allowH2, and undici 8 offers h2 by default:
   * through the tunnel the API server negotiates HTTP/2, so watches and
   * requests share one tunnel (the ALPN is printed), where the direct path
   * pins HTTP/1.1. Either protocol keeps the tunnel count for sequential
   * puts within the bound asserted here.
   */
  it('proxy-url: an HTTP CONNECT proxy, tunnels reused', async () => {
    const proxy = await ConnectProxy.start();
    const alpn: string[] = [];
    const onConnected = (message: unknown) => {
      const { socket, connectParams } = message as { socket: { alpnProtocol?: string | false }; connectParams: { host?: string } };
      if (connectParams.host === new URL(cp.server).host) alpn.push(String(socket.alpnProtocol));
    };
    subscribe('undici:client:connected', onConnected);
    try {
      const kc = kubeconfig({ 'certificate-authority-data': caPem.toString('base64'), 'proxy-url': proxy.url }, userCert());
      assert.equal(await whoami(kc), certUserName);
      await roundTrip(kc, 'via-connect-proxy');
      assert.ok(proxy.tunnels > 0, 'the requests went through the proxy');

      const store = await ConfigMapStore.open({ name: 'via-connect-proxy', kubeConfig: kc });
      try {
        await waitFor(() => store.status().connected, 'the watch to connect through the proxy');
        const before = proxy.tunnels;
        for (let i = 0; i < 20; i++) await store.put(`k${i}`, String(i));
        assert.equal((await store.get('k19', { consistent: true }))?.text, '19');
        const opened = proxy.tunnels - before;
        console.log(`CONNECT proxy: ${opened} tunnel(s) opened for 20 sequential puts (${proxy.tunnels} in all, ${proxy.refused} refused; ` +
          `ALPN through the tunnel: ${alpn.join(', ')})`);
        assert.ok(opened <= 3, `20 sequential puts opened ${opened} tunnels`);
      } finally {
        await store.close();
      }
    } finally {
      unsubscribe('undici:client:connected', onConnected);
      await proxy.close();
    }
  });

  it('connection reuse: 100 sequential puts open at most 2 new connections', async () => {
    const direct = kubeconfig({ 'certificate-authority-data': caPem.toString('base64') }, userCert());
    const proxy = await TcpProxy.start(serverPort(direct));
    try {
      const kc = proxy.kubeConfigFor(direct);
      const store = await ConfigMapStore.open({ name: 'reuse', kubeConfig: kc, create: true });
      try {
        const atOpen = proxy.connections;
        await waitFor(() => store.status().connected, 'the store\'s watch to connect');
        const withWatch = proxy.connections;
        for (let i = 0; i < 100; i++) await store.put(`k${i % 10}`, String(i));
        assert.equal((await store.get('k9', { consistent: true }))?.text, '99');
        const opened = proxy.connections - atOpen;
        console.log(`connection reuse: ${opened} new connection(s) for 100 sequential puts (${atOpen} when open() returned, ${withWatch} once its watch was connected)`);
        assert.ok(opened <= 2, `100 sequential puts opened ${opened} new connections`);
      } finally {
        await store.close();
      }
    } finally {
      await proxy.close();
    }
  });
});

/** Kubeconfig `cluster` and `user` fields, as written in a kubeconfig file. */
type ClusterFields = Record<string, string | boolean>;
type UserFields = Record<string, unknown>;

/** A KubeConfig parsed from a kubeconfig document with `cluster` and `user`, the context in the test namespace. */
function kubeconfig(cluster: ClusterFields, user: UserFields): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: cp.server, ...cluster } }],
    users: [{ name: 'test-user', user }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test-user', namespace: ns } }],
    'current-context': 'test',
  }));
  return kc;
}

function userCert(): UserFields {
  return { 'client-certificate-data': certUser.certData, 'client-key-data': certUser.keyData };
}

/** What loadFromCluster() makes of the Pod files under `prefix`, the API server's address given as in a Pod's environment. */
function inCluster(prefix: string): KubeConfig {
  const url = new URL(cp.server);
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  process.env.KUBERNETES_SERVICE_HOST = url.hostname;
  process.env.KUBERNETES_SERVICE_PORT = url.port;
  try {
    const kc = new KubeConfig();
    kc.loadFromCluster(prefix);
    return kc;
  } finally {
    restoreEnv('KUBERNETES_SERVICE_HOST', saved.host);
    restoreEnv('KUBERNETES_SERVICE_PORT', saved.port);
  }
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** Replaces the token file atomically (write aside, rename), as the kubelet's atomic writer does. */
function rotate(path: string, token: string): void {
  const aside = join(dirname(path), `.token-${randomUUID()}`);
  writeFileSync(aside, token);
  renameSync(aside, path);
}

/** The user name the API server authenticated, asked through kubekv's transport (a SelfSubjectReview). */
async function whoami(kc: KubeConfig): Promise<string | undefined> {
  const review = await KubeTransport.for(kc).send<{ status?: { userInfo?: { username?: string } } }>({
    method: 'POST',
    path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  return review.status?.userInfo?.username;
}

/**
 * Opens `bucket` twice with `kc` (a writer, creating it, and a reader), puts
 * a fresh value, sees it arrive at the reader through its watch, then reads
 * it back with `consistent: true` from both.
 */
async function roundTrip(kc: KubeConfig, bucket: string): Promise<void> {
  const writer = await ConfigMapStore.open({ name: bucket, kubeConfig: kc, create: true });
  try {
    const reader = await ConfigMapStore.open({ name: bucket, kubeConfig: kc });
    try {
      const value = randomUUID();
      const seen = observe(reader, 'round-trip', value);
      seen.catch(() => {}); // awaited below; a failed put must not leave it unhandled
      await writer.put('round-trip', value);
      await seen;
      assert.equal((await writer.get('round-trip', { consistent: true }))?.text, value);
      assert.equal((await reader.get('round-trip', { consistent: true }))?.text, value);
    } finally {
      await reader.close();
    }
  } finally {
    await writer.close();
  }
}

/** Resolves once `store`'s watch of `key` delivers `value`. */
async function observe(store: ReadableStore, key: string, value: string, timeoutMs = 15_000): Promise<void> {
  for await (const event of store.watch(key, { signal: AbortSignal.timeout(timeoutMs) })) {
    if (event.pair?.text === value) return;
  }
  throw new Error(`the watch of ${key} ended before delivering the write`);
}

/** Asserts opening a bucket with `kc` fails in the TLS handshake, with a cause matching `reason`. */
async function expectTlsFailure(kc: KubeConfig, reason: RegExp): Promise<void> {
  await assert.rejects(whoami(kc), (err: unknown) => {
    assert.match(causes(err), reason);
    return true;
  });
  await assert.rejects(ConfigMapStore.open({ name: 'tls-refused', kubeConfig: kc, create: true, signal: AbortSignal.timeout(20_000) }), (err: unknown) => {
    assert.match(causes(err), reason);
    return true;
  });
}

/** The messages and codes of an error and its causes, joined. */
function causes(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    parts.push(`${e.name}: ${e.message}${(e as { code?: unknown }).code ? ` [${String((e as { code?: unknown }).code)}]` : ''}`);
  }
  return parts.join(' <- ');
}

function serviceAccount(name: string): RbacV1Subject {
  return { kind: 'ServiceAccount', name, namespace: ns };
}

/** Creates ServiceAccount `name` and returns a token for it from the TokenRequest API (one hour). */
async function serviceAccountToken(name: string): Promise<string> {
  await admin.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  const request = await admin.core.createNamespacedServiceAccountToken({
    name,
    namespace: ns,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const issued = request.status?.token;
  assert.ok(issued, `TokenRequest for ${name} returned no token`);
  return issued;
}

/** A Role `name` on `buckets` (the verbs deploy/rbac.yaml grants) bound to `subject`. */
async function grant(name: string, buckets: string[], subject: RbacV1Subject): Promise<void> {
  await admin.rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name },
      rules: [
        { apiGroups: [''], resources: ['configmaps'], resourceNames: buckets, verbs: ['get', 'list', 'watch', 'update', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
      ],
    },
  });
  await admin.rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [subject] },
  });
}

/** An exec credential plugin (a node script) printing `token`, valid `ttlMs` (0: no expiry); it logs each run. */
async function execPlugin(name: string, token: string, ttlMs: number): Promise<{
  user: UserFields;
  invocations(): Promise<number>;
  runTimes(): Promise<number[]>;
}> {
  const dir = join(tmp, `exec-${name}`);
  await mkdir(dir);
  const script = join(dir, 'credential.mjs');
  const tokenFile = join(dir, 'token');
  const runsFile = join(dir, 'runs');
  await writeFile(tokenFile, token, { mode: 0o600 });
  await writeFile(runsFile, '');
  await writeFile(script, `import { appendFileSync, readFileSync } from 'node:fs';
const [runsFile, tokenFile, ttlMs] = process.argv.slice(2);
appendFileSync(runsFile, Date.now() + '\\n');
const status = { token: readFileSync(tokenFile, 'utf8') };
if (Number(ttlMs) > 0) status.expirationTimestamp = new Date(Date.now() + Number(ttlMs)).toISOString();
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status }));
`);
  const runTimes = async () => (await readFile(runsFile, 'utf8')).split('\n').filter(Boolean).map(Number);
  return {
    user: {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: process.execPath,
        args: [script, runsFile, tokenFile, String(ttlMs)],
        interactiveMode: 'Never',
      },
    },
    runTimes,
    invocations: async () => (await runTimes()).length,
  };
}
