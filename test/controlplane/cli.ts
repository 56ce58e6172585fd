/**
 * `npm run controlplane`: starts the real control plane in the foreground and
 * prints exactly one line on stdout, `KUBECONFIG=<absolute path>`, once it is
 * ready. Progress goes to stderr. Ctrl-C or SIGTERM stops everything.
 *
 * Options: --dir <path> keeps state there (reuse it to keep data across runs).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlane } from './index.js';

const { values } = parseArgs({ options: { dir: { type: 'string' } } });
const cp = await ControlPlane.start({
  ...(values.dir ? { dir: resolve(values.dir) } : {}),
  log: (line) => console.error(`[controlplane] ${line}`),
});
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
