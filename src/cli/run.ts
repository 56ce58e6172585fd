/**
 * The CLI as a function: arguments, streams and an AbortSignal in, an exit
 * code out. main.ts wires it to the process; it never calls process.exit
 * itself, so it can run in-process too.
 *
 * Failures print one line, `error: <CODE>: <message>`, on stderr (plus a
 * hint for usage errors) and return the code's exit code (exit-codes.ts).
 *
 * @module
 */
import { BucketNotFoundError, ForbiddenError } from '../errors.js';
import { NoKubeconfigError } from '../kube/config.js';
import { commandIn, parseCommandLine, type ProgramName } from './args.js';
import { commands } from './commands/index.js';
import type { CliIo, CommandContext } from './command.js';
import { connect, type Connection } from './connection.js';
import { ExitCode, errorLine, exitCodeFor } from './exit-codes.js';
import { renderData, writeTo } from './output.js';
import { commandHelp, helpRule, helpText } from './usage.js';

/**
 * Runs one command line.
 *
 * @param argv - the arguments after the program name
 * @param io - the streams and environment
 * @param signal - aborts the command (SIGINT / SIGTERM): `watch` then ends with 0, anything else with 130
 * @returns the exit code
 */
export async function runCli(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const commandName = commandIn(argv, commands);
  const program = io.program ?? 'kubekv';
  try {
    const line = parseCommandLine(argv, [...commands, helpRule], io.env, program);
    if (line.command === undefined || line.command === 'help' || line.options.help) {
      const topic = line.command === 'help' ? line.positionals[0] : line.command;
      const command = commands.find((c) => c.name === topic || c.aliases?.includes(topic ?? ''));
      if (topic !== undefined && !command) {
        await writeTo(io.stderr, `error: INVALID_OPTION: no command ${JSON.stringify(topic)}\n`);
        await writeTo(io.stdout, helpText(commands, program));
        return ExitCode.USAGE;
      }
      await writeTo(io.stdout, command ? commandHelp(command, program) : helpText(commands, program));
      return ExitCode.OK;
    }
    const command = commands.find((c) => c.name === line.command)!;
    let connection: Promise<Connection> | undefined;
    const ctx: CommandContext = {
      positionals: line.positionals,
      options: line.options,
      io,
      signal,
      connection: () => (connection ??= connect(line.options)),
      out: (chunk) => writeTo(io.stdout, chunk),
      note: (text) => writeTo(io.stderr, `${text}\n`),
      print: async (data, table) => {
        const text = renderData(data, line.options.output) ?? table();
        if (text) await writeTo(io.stdout, text);
      },
    };
    await command.run(ctx);
    return ExitCode.OK;
  } catch (err) {
    await writeTo(io.stderr, `${describe(err, commandName, program)}\n`).catch(() => {});
    return exitCodeFor(err);
  }
}

/** The error line, and a hint where one helps. */
function describe(err: unknown, command: string | undefined, program: ProgramName): string {
  if (err instanceof ForbiddenError && err.serverMessage) {
    // Say it as kubectl does: the server names the subject it refused
    // (User "system:serviceaccount:team:ci"), which says whose Role to fix.
    return `error: ${err.code}: ${err.serverMessage} (check the Role granted to this identity)`;
  }
  if (err instanceof BucketNotFoundError) {
    // The library's message speaks of its `create: true` option; say it in the CLI's terms.
    const creates = command === 'put' || command === 'restore';
    return `error: ${err.code}: bucket ${err.namespace}/${err.bucket} does not exist${creates ? ' (--create-bucket creates it)' : ''}`;
  }
  const line = errorLine(err);
  if (err instanceof NoKubeconfigError) return `error: ${err.code}: ${err.message.replace(/: pass one .*$/, '')}: pass --kubeconfig <path> or set KUBECONFIG`;
  if (exitCodeFor(err) !== ExitCode.USAGE) return line;
  return `${line}\nRun '${program} help${command ? ` ${command}` : ''}' for usage.`;
}
