/**
 * The fault proxies of a run: one TcpProxy (../support/tcp-proxy.ts) in
 * front of the API server per worker index, and a kubeconfig per index that
 * sends the admin identity through that index's proxy, so the nemesis can cut
 * one worker off without touching the others or the orchestrator (which talks
 * to the API server directly).
 *
 * Guarantee: a proxy is kept from the moment it listens, so {@link
 * FaultProxies.close} closes it even if writing its kubeconfig failed.
 */
import { writeFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { TcpProxy, type TcpProxyCounters } from '../support/tcp-proxy.js';

/** Counters of a run that had no proxy yet: every count 0. */
export function noProxyCounters(): TcpProxyCounters {
  return { connections: 0, connectionsReset: 0, connectionsHeld: 0, heldDelivered: 0, abandonedDelivered: 0, answersLost: 0, streamsCut: 0, chunksDelayed: 0 };
}

/** The proxies of one run, by worker index (the order of {@link FaultProxies.add}). */
export class FaultProxies {
  readonly #proxies: TcpProxy[] = [];

  /**
   * Starts the proxy of the next index, in front of `server` (https URL of
   * the API server), and writes to `kubeconfigPath` (mode 0600: it holds the
   * admin's key) `admin` with its server replaced by the proxy.
   */
  async add(server: string, admin: KubeConfig, kubeconfigPath: string): Promise<void> {
    const proxy = await TcpProxy.start(Number(new URL(server).port));
    this.#proxies.push(proxy);
    await writeFile(kubeconfigPath, proxy.kubeConfigFor(admin).exportConfig(), { mode: 0o600 });
  }

  /** The proxy of worker `index`. */
  get(index: number): TcpProxy {
    return this.#proxies[index]!;
  }

  /** Ends every proxy's fault. */
  healAll(): void {
    for (const proxy of this.#proxies) proxy.heal();
  }

  /** Adds each proxy's counters into `into`, then closes it. */
  async close(into: TcpProxyCounters): Promise<void> {
    for (const proxy of this.#proxies) {
      const counters = proxy.counters;
      for (const key of Object.keys(into) as (keyof TcpProxyCounters)[]) into[key] += counters[key];
      await proxy.close();
    }
  }
}
