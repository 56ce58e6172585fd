/**
 * A kubekv LeaseElector as a process of its own, the counterpart of the Go
 * peer (`kubekv-controlplane elect`) for interop tests. It prints one JSON line
 * per event on stdout, in the Go peer's format:
 *   {"event":"ready"|"started"|"stopped"|"leader","identity":...,"at":unixMillis}
 * ("leader" names the new holder; the others name this process). SIGTERM
 * closes the elector (aborts leadership, prints "stopped", releases) and exits
 * 0. Log records of level info and above go to stderr as JSON lines.
 *
 * Usage: node --import tsx test/support/elector-process.ts --kubeconfig K
 *   --namespace N --name LEASE --identity ID --lease-duration-ms 3000
 *   --renew-deadline-ms 2000 --retry-period-ms 500 [--release false]
 */
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseElector } from '../../src/election/index.js';
import type { LogFn, Logger } from '../../src/logger.js';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    name: { type: 'string' },
    identity: { type: 'string' },
    'lease-duration-ms': { type: 'string', default: '15000' },
    'renew-deadline-ms': { type: 'string', default: '10000' },
    'retry-period-ms': { type: 'string', default: '2000' },
    release: { type: 'string', default: 'true' },
  },
});
if (!values.kubeconfig || !values.namespace || !values.name || !values.identity) {
  console.error('--kubeconfig, --namespace, --name and --identity are required');
  process.exit(2);
}
const identity = values.identity;

// Writes to a pipe are synchronous on Linux, so nothing is lost at exit.
const emit = (event: string, who = identity): void => {
  process.stdout.write(`${JSON.stringify({ event, identity: who, at: Date.now() })}\n`);
};

const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(values.kubeconfig);
const elector = new LeaseElector({
  name: values.name,
  namespace: values.namespace,
  kubeConfig,
  identity,
  leaseDurationMs: Number(values['lease-duration-ms']),
  renewDeadlineMs: Number(values['renew-deadline-ms']),
  retryPeriodMs: Number(values['retry-period-ms']),
  releaseOnClose: values.release !== 'false',
  logger: stderrLogger({ identity }),
  onStartedLeading: () => emit('started'),
  onStoppedLeading: () => emit('stopped'),
  onNewLeader: (who) => emit('leader', who),
});

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  void elector.close().then(() => process.exit(0), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Never outlive the test process (a crashed run must not leave contenders behind).
const parent = process.ppid;
setInterval(() => process.ppid !== parent && shutdown(), 500).unref();

await elector.start();
emit('ready');

function stderrLogger(bindings: Record<string, unknown>): Logger {
  const at = (level: string): LogFn => ((obj: Record<string, unknown> | string, msg?: string) => {
    const record = typeof obj === 'string' ? { msg: obj } : { ...obj, msg };
    process.stderr.write(`${JSON.stringify({ level, time: Date.now(), ...bindings, ...record })}\n`);
  });
  return { debug: () => {}, info: at('info'), warn: at('warn'), error: at('error'), child: (more) => stderrLogger({ ...bindings, ...more }) };
}
