/**
 * The help text: `kubekv help`, `kubekv help <command>`, `kubekv <command> --help`.
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { globalOptions, usageLine, type CommandRule, type OptionName, type ProgramName } from './args.js';
import type { Command } from './command.js';

/**
 * Where the full reference is on this machine: docs/cli.md ships in the
 * package, two levels above this module in dist/cli/ (and in src/cli/ in
 * a clone), so help can name a file that exists.
 */
export const cliReference = fileURLToPath(new URL('../../docs/cli.md', import.meta.url));

/** The `help` pseudo-command's rule (it takes an optional command name). */
export const helpRule: CommandRule = { name: 'help', options: [], positionals: ['command?'] };

const optionHelp: Record<OptionName, [string, string]> = {
  kubeconfig: ['--kubeconfig <path>', 'kubeconfig file (default: in a Pod its service account, else KUBECONFIG, else ~/.kube/config)'],
  context: ['--context <name>', 'kubeconfig context to use (default: the current context)'],
  namespace: ['-n, --namespace <ns>', "namespace (default, as kubectl: the context's, else NAMESPACE env, the Pod's, else default)"],
  output: ['-o, --output <format>', 'table (default), json or yaml'],
  help: ['-h, --help', 'show help'],
  bucket: ['-b, --bucket <name>', 'the bucket (default: the KUBEKV_BUCKET env var)'],
  kind: ['--kind <kind>', 'configmap (cm, the default) or secret: the object kind the bucket is stored in (default: the KUBEKV_KIND env var; buckets: both)'],
  'all-namespaces': ['-A, --all-namespaces', 'list buckets of every namespace'],
  force: ['--force', 'write even though a StateManager leads the bucket (see docs/cli.md)'],
  lease: ['--lease <name>', "the Lease electing the bucket's leader (default: found by the bucket's kubekv.dev/leader)"],
  'if-absent': ['--if-absent', 'only if the key does not exist (else exit 5, KEY_EXISTS)'],
  'if-revision': ['--if-revision <n>', "only if the key's revision (lastIndex) is n (else exit 5, KEY_MODIFIED)"],
  'ignore-not-found': ['--ignore-not-found', 'a missing key is not an error'],
  'create-bucket': ['--create-bucket', 'create the bucket if it does not exist'],
  replace: ['--replace', 'also delete the keys the dump does not hold (in the same atomic write)'],
  timeout: ['--timeout <duration>', 'deadline of the write, e.g. 10s (default 30s)'],
  ttl: ['--ttl <duration>', 'the key expires this long after the write, e.g. 30s (1s to 24h; deleted by a sweeping store of the bucket)'],
  prefix: ['--prefix', 'del: delete every key that starts with <key>, in one write'],
  handoff: ['--handoff <identity>', 'leader: ask the holder to hand leadership to this replica, and wait until it leads'],
  resign: ['--resign', 'leader: ask the holder to step down, and wait until another replica leads or the Lease is released'],
};

const exitCodes = `Exit codes:
  0  done                      4  refused: FORBIDDEN, NOT_LEADER (a StateManager leads; see --force),
  1  other failure                 VALUE_TOO_LARGE, BUCKET_FULL
  2  usage or input error      5  condition failed or conflict: KEY_EXISTS, KEY_MODIFIED, CONFLICT
  3  not found                 6  OUTCOME_UNKNOWN: the write may or may not have been applied
  7  UNAVAILABLE, DEADLINE_EXCEEDED (not applied)    130  interrupted (SIGINT/SIGTERM)
Errors print "error: <CODE>: <message>" on stderr.`;

/** The general help; `program` is how the CLI was run (`kubectl kv` as a kubectl plugin). */
export function helpText(commands: readonly Command[], program: ProgramName = 'kubekv'): string {
  const synopses = commands.map((c) => [usageLine(c, program).slice(program.length + 1), c.summary] as const);
  const width = Math.max(...synopses.map(([s]) => s.length)) + 2;
  const used = new Set(commands.flatMap((c) => c.options));
  return [
    'kubekv: inspect and edit kubekv buckets and leader Leases. Also a kubectl plugin: kubectl kv <command>.',
    '',
    `Usage: ${program} <command> [arguments] [options]`,
    '',
    'Commands:',
    ...synopses.map(([synopsis, summary]) => `  ${synopsis.padEnd(width)}${summary}`),
    `  ${'help [command]'.padEnd(width)}help on a command`,
    '',
    'Options of every command:',
    ...optionLines(globalOptions),
    '',
    `Options of some commands (see ${program} help <command>):`,
    ...optionLines(Object.keys(optionHelp).filter((o): o is OptionName => used.has(o as OptionName))),
    '',
    exitCodes,
    `Full reference: ${cliReference}`,
    '',
  ].join('\n');
}

/** Help on one command. */
export function commandHelp(command: Command, program: ProgramName = 'kubekv'): string {
  return [
    `Usage: ${usageLine(command, program)} [options]`,
    '',
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.details ? ['', command.details] : []),
    '',
    'Options:',
    ...optionLines([...command.options, ...globalOptions]),
    ...(command.aliases?.length ? ['', `Aliases: ${command.aliases.join(', ')}`] : []),
    '',
  ].join('\n');
}

function optionLines(options: readonly OptionName[]): string[] {
  const width = Math.max(...options.map((o) => optionHelp[o][0].length)) + 2;
  return options.map((o) => `  ${optionHelp[o][0].padEnd(width)}${optionHelp[o][1]}`);
}
