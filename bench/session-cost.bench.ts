/**
 * What sessions cost the API server (issue 20's follow-up): SESSIONS
 * sessions, each binding one key, and SWEEPERS sweeping stores of the
 * bucket (each its own store, as replicas of an app that all open the
 * bucket). Read from the apiserver's own metrics: the Lease watches it
 * holds open (`apiserver_longrunning_requests`, resource leases, verb
 * WATCH) and the Lease requests by verb (`apiserver_request_total`) over a
 * quiet window, per minute. The owners' renewals (PUTs, every ttlMs / 6)
 * are there whatever sweeps; what a sweeper costs is the watches, LISTs
 * and GETs. `npm run bench -- sessions`.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore } from '../src/index.js';
import { KubeTransport } from '../src/kube/transport.js';
import type { ControlPlane } from '../test/controlplane/index.js';

const SESSIONS = 20;
const SWEEPERS = 3;
const TTL_MS = 30_000;
const WINDOW_MS = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lease watches open and Lease requests by verb, from one scrape of the apiserver's /metrics. */
async function leaseMetrics(kc: KubeConfig): Promise<{ watchesOpen: number; requests: Map<string, number> }> {
  const text = await KubeTransport.for(kc).sendText({ method: 'GET', path: '/metrics' });
  let watchesOpen = 0;
  const requests = new Map<string, number>();
  for (const line of text.split('\n')) {
    const longrunning = /^apiserver_longrunning_requests\{(.*)\} (\S+)$/.exec(line);
    if (longrunning && /(^|,)resource="leases"/.test(longrunning[1]!) && /(^|,)verb="WATCH"/.test(longrunning[1]!)) watchesOpen += Number(longrunning[2]);
    const request = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
    if (request && /(^|,)resource="leases"/.test(request[1]!)) {
      const verb = /(?:^|,)verb="([A-Z]+)"/.exec(request[1]!)?.[1] ?? '?';
      requests.set(verb, (requests.get(verb) ?? 0) + Number(request[2]));
    }
  }
  return { watchesOpen, requests };
}

/** Prints the Lease watches and requests of SWEEPERS sweeping stores over a bucket with SESSIONS sessions. */
export async function benchSessionCost(cp: ControlPlane): Promise<void> {
  const namespace = await cp.freshNamespace('bench-session-cost');
  const kubeConfig = cp.adminKubeConfig();
  const owner = await ConfigMapStore.open({ name: 'members', namespace, kubeConfig, create: true, sweep: false });
  const sweepers: ConfigMapStore[] = [];
  try {
    const idle = await leaseMetrics(kubeConfig);
    for (let i = 0; i < SWEEPERS; i++) sweepers.push(await ConfigMapStore.open({ name: 'members', namespace, kubeConfig }));
    await sleep(2000);
    const noSessions = await leaseMetrics(kubeConfig);
    const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => owner.session({ ttlMs: TTL_MS })));
    await Promise.all(sessions.map((session, i) => owner.put(`members/${i}`, `10.0.0.${i}:80`, { session })));
    // Every sweeper has seen every key (and so every session) before the window opens.
    await sleep(5000);
    const before = await leaseMetrics(kubeConfig);
    await sleep(WINDOW_MS);
    const after = await leaseMetrics(kubeConfig);
    const perMinute = (verb: string) => (((after.requests.get(verb) ?? 0) - (before.requests.get(verb) ?? 0)) * 60_000) / WINDOW_MS;
    console.log(`\nSession cost to the API server: ${SWEEPERS} sweeping stores, ${SESSIONS} sessions (ttlMs ${TTL_MS}), one key each`);
    console.log(`  Lease watches open: ${idle.watchesOpen} before the stores, ${noSessions.watchesOpen} with ${SWEEPERS} sweepers and no session, ${after.watchesOpen} with ${SESSIONS} sessions`);
    console.log(`  Lease requests per minute: LIST ${perMinute('LIST')}, GET ${perMinute('GET')}, WATCH opened ${perMinute('WATCH')}, PUT ${perMinute('PUT')} (the owners' renewals), DELETE ${perMinute('DELETE')}`);
    await Promise.all(sessions.map((session) => session.close()));
  } finally {
    for (const sweeper of sweepers) await sweeper.close();
    await owner.close();
  }
}
