#!/usr/bin/env node
/**
 * The `kubekv` executable, also installed as `kubectl-kv` so that kubectl
 * runs it as the plugin `kubectl kv` once it is on PATH. Wires run.ts to the
 * process: argv, the standard streams, and SIGINT / SIGTERM, which abort the
 * command (a second one exits at once).
 *
 * @module
 */
import { unsupportedNodeMessage } from '../node-version.js';
import { keepingProcessAlive } from '../clock.js';

// Before anything that loads undici or @kubernetes/client-node (which on an
// old Node die with a stack trace): say it in one line.
const refusal = unsupportedNodeMessage(process.version);
if (refusal !== undefined) {
  process.stderr.write(`error: ${refusal}\n`);
  process.exit(1);
}
const [{ runCli }, { programName }] = await Promise.all([import('./run.js'), import('./args.js')]);

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error(`${signal} received`));
  });
}
// A reader that went away (`kubekv watch | head -1`) ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// The process lives until the command settles, whatever the connections
// underneath keep referenced (an unreferenced socket mid-handshake must not
// let Node end the process with the command unsettled).
const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, program: programName(process.argv[1]) };
const code = await keepingProcessAlive(() => runCli(process.argv.slice(2), io, controller.signal));
// Exit now rather than when the last keep-alive connection times out; the
// writes above have been handed to the streams already.
process.exit(code);
