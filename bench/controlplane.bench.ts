/**
 * Baseline figures of the test control plane itself: how fast it starts and
 * what one API round trip costs. Every kubekv figure is relative to these.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import type { ControlPlane } from '../test/controlplane/index.js';
import { ms, quantile, timeEach } from './stats.js';

/** Prints control-plane start time and raw API latencies. */
export async function benchControlPlane(cp: ControlPlane): Promise<void> {
  const api = cp.adminKubeConfig().makeApiClient(CoreV1Api);
  const namespace = await cp.freshNamespace('bench-baseline');
  let current = await api.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'baseline' }, data: { k: '0' } } });

  const gets = await timeEach(200, () => api.readNamespacedConfigMap({ name: 'baseline', namespace }));
  const puts = await timeEach(100, async (i) => {
    current = await api.replaceNamespacedConfigMap({ name: 'baseline', namespace, body: { ...current, data: { k: String(i) } } });
  });
  const stats = cp.stats();
  console.log('control plane (kube-apiserver %s)', stats.kubernetesVersion);
  console.log('  start to /readyz            %s', ms(stats.startToReadyMs));
  console.log('  GET configmap    p50 %s  p99 %s  (n=%d)', ms(quantile(gets, 0.5)), ms(quantile(gets, 0.99)), gets.length);
  console.log('  CAS PUT configmap p50 %s  p99 %s  (n=%d)', ms(quantile(puts, 0.5)), ms(quantile(puts, 0.99)), puts.length);
  console.log('  peak RSS apiserver %d MiB, etcd %d MiB', mib(stats.peakRssBytes.apiserver), mib(stats.peakRssBytes.etcd));
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}
