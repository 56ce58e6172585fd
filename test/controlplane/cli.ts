/**
 * `npm run controlplane`: starts the real control plane in the foreground and
 * prints exactly one line on stdout, `KUBECONFIG=<absolute path>`, once it is
 * ready. Progress goes to stderr. Ctrl-C or SIGTERM stops everything.
 *
 * Options: --dir <path> keeps state there (reuse it to keep data across runs).
 * --ha starts the highly available topology (three etcd members, apiservers
 * behind a load balancer, which the kubeconfig points at); --apiservers <n>
 * sets how many apiservers (default 2) and implies --ha.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlane } from './index.js';

const { values } = parseArgs({ options: { dir: { type: 'string' }, ha: { type: 'boolean' }, apiservers: { type: 'string' } } });
const apiservers = values.apiservers === undefined ? undefined : Number(values.apiservers);
const cp = await ControlPlane.start({
  ...(values.dir ? { dir: resolve(values.dir) } : {}),
  ...(values.ha || apiservers !== undefined ? { ha: apiservers === undefined ? true : { apiservers } } : {}),
  log: (line) => console.error(`[controlplane] ${line}`),
});
if (cp.ha) {
  for (let i = 0; i < cp.ha.apiservers; i++) console.error(`[controlplane] apiserver ${i} at ${cp.ha.apiserverUrl(i)} (behind the balancer at ${cp.server})`);
}
console.log(`KUBECONFIG=${cp.adminKubeconfigPath}`);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.error(`[controlplane] ${signal}: stopping`);
  await cp.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
