/**
 * What the runnable examples share when started from a shell: whether a file
 * is the program being run, the cluster flags, and an AbortSignal that
 * Ctrl-C or SIGTERM aborts. Each example exports a `main(options)` that takes
 * that signal, so tests drive the same code in-process.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';

/** True when the module at `moduleUrl` (its `import.meta.url`) is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
}

/** Aborts on the first SIGINT or SIGTERM, so `main` can hand over and return; a second one exits at once. */
export function stopSignal(): AbortSignal {
  const stop = new AbortController();
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.once(name, () => {
      stop.abort(new Error(`${name} received`));
      process.once(name, () => process.exit(130));
    });
  }
  return stop.signal;
}

/** The `--kubeconfig` and `--namespace` flags as kubekv options (absent: kubekv's defaults: in-cluster, KUBECONFIG, ~/.kube/config). */
export function clusterOptions(flags: { kubeconfig?: string | undefined; namespace?: string | undefined }): { kubeConfig?: KubeConfig; namespace?: string } {
  const options: { kubeConfig?: KubeConfig; namespace?: string } = {};
  if (flags.kubeconfig) {
    options.kubeConfig = new KubeConfig();
    options.kubeConfig.loadFromFile(flags.kubeconfig);
  }
  if (flags.namespace) options.namespace = flags.namespace;
  return options;
}

/** The flags every example accepts, for node:util parseArgs. */
export const clusterFlags = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
} as const;

/** Resolves when `signal` aborts (at once if it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
