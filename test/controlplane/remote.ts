/**
 * The shared control plane as seen from a test process. The test runner
 * (test/run.ts) owns the processes; test files reach it through the
 * description in KUBEKV_TEST_CONTROLPLANE. Reads (kubeconfigs, namespaces,
 * user kubeconfigs) happen locally; restarts and compaction are asked of the
 * owner over a loopback control endpoint, because only the owner may respawn
 * the processes (they die with their parent).
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { createNamespace, mintKubeconfig, type ControlPlaneHandle, type MintUserOptions } from './index.js';

/** Environment variable holding the path of the shared control plane's description. */
export const controlPlaneEnv = 'KUBEKV_TEST_CONTROLPLANE';

/** What the owner writes for test processes. */
export interface ControlPlaneDescription {
  server: string;
  adminKubeconfigPath: string;
  dir: string;
  binary: string;
  /** Loopback URL of the owner's control endpoint. */
  controlUrl: string;
  /** Bearer token the control endpoint requires. */
  token: string;
}

class RemoteControlPlane implements ControlPlaneHandle {
  readonly #d: ControlPlaneDescription;
  constructor(description: ControlPlaneDescription) {
    this.#d = description;
  }
  get server(): string {
    return this.#d.server;
  }
  get adminKubeconfigPath(): string {
    return this.#d.adminKubeconfigPath;
  }
  get dir(): string {
    return this.#d.dir;
  }
  adminKubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.#d.adminKubeconfigPath);
    return kc;
  }
  mintUser(options: MintUserOptions): Promise<string> {
    return mintKubeconfig(this.#d.binary, this.#d.dir, this.#d.server, options);
  }
  freshNamespace(prefix = 'test'): Promise<string> {
    return createNamespace(this.adminKubeConfig(), prefix);
  }
  async restartApiserver(): Promise<void> {
    await this.#call('restart-apiserver');
  }
  async restartAll(): Promise<void> {
    await this.#call('restart-all');
  }
  async restartEtcd(): Promise<void> {
    await this.#call('restart-etcd');
  }
  async compact(): Promise<number> {
    const body = await this.#call('compact');
    return (body as { revision: number }).revision;
  }
  async #call(action: string): Promise<unknown> {
    const res = await fetch(`${this.#d.controlUrl}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#d.token}` },
    });
    const body: unknown = await res.json();
    if (!res.ok) throw new Error(`control plane ${action} failed: ${(body as { error?: string }).error ?? res.status}`);
    return body;
  }
}

let shared: ControlPlaneHandle | undefined;

/**
 * The control plane the test runner started for this run. Throws (the test
 * fails, it never skips) when the run was not started through `npm test`.
 */
export function testControlPlane(): ControlPlaneHandle {
  if (shared) return shared;
  const path = process.env[controlPlaneEnv];
  if (!path) {
    throw new Error(`${controlPlaneEnv} is not set: run the tests with \`npm test\`, which starts a real control plane`);
  }
  shared = new RemoteControlPlane(JSON.parse(readFileSync(path, 'utf8')) as ControlPlaneDescription);
  return shared;
}
