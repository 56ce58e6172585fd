/**
 * Command-line parsing (node:util parseArgs, no dependency): kubectl's
 * option habits (`--kubeconfig`, `--context`, `-n/--namespace`, `-o`), one
 * table of every option, and per-command rules saying which options and how
 * many positionals each command takes. Every mistake is an
 * InvalidOptionError naming the option or argument, before any request.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import type { BucketKind } from '../codec/bucket-kind.js';
import { InvalidOptionError } from '../errors.js';
import { validateName } from '../kube/config.js';
import { parseDuration } from './duration.js';

/** Every option the CLI knows, in parseArgs' form. */
export const optionTable = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o' },
  bucket: { type: 'string', short: 'b' },
  kind: { type: 'string' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  force: { type: 'boolean' },
  lease: { type: 'string' },
  'if-absent': { type: 'boolean' },
  'if-revision': { type: 'string' },
  'ignore-not-found': { type: 'boolean' },
  'create-bucket': { type: 'boolean' },
  replace: { type: 'boolean' },
  timeout: { type: 'string' },
  ttl: { type: 'string' },
  prefix: { type: 'boolean' },
  handoff: { type: 'string' },
  resign: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Name of an option, as written after `--`. */
export type OptionName = keyof typeof optionTable;

/** Options every command accepts. */
export const globalOptions: readonly OptionName[] = ['kubeconfig', 'context', 'namespace', 'output', 'help'];

/** Output formats of `-o`. */
export const outputFormats = ['table', 'json', 'yaml'] as const;
/** One of {@link outputFormats}. */
export type OutputFormat = (typeof outputFormats)[number];

/** How the CLI names itself: `kubekv`, or `kubectl kv` when kubectl runs it as the plugin `kubectl-kv`. */
export type ProgramName = 'kubekv' | 'kubectl kv';

/** The program name for the executable's path (`process.argv[1]`): `kubectl kv` for `kubectl-kv`. */
export function programName(executable: string | undefined): ProgramName {
  const base = (executable ?? '').split(/[\\/]/).at(-1)!.replace(/\.(js|ts|cmd|exe)$/i, '');
  return base === 'kubectl-kv' ? 'kubectl kv' : 'kubekv';
}

/** Environment variable naming the bucket when `-b` is not given. */
export const BUCKET_ENV = 'KUBEKV_BUCKET';
/** Environment variable naming the bucket's object kind when `--kind` is not given. */
export const KIND_ENV = 'KUBEKV_KIND';

/** What `--kind` accepts (any case), and the kind each names. */
const KIND_NAMES: Readonly<Record<string, BucketKind>> = { configmap: 'ConfigMap', configmaps: 'ConfigMap', cm: 'ConfigMap', secret: 'Secret', secrets: 'Secret' };

/** What a command accepts (the registry in commands.ts holds one per command). */
export interface CommandRule {
  /** Name typed on the command line. */
  name: string;
  /** Other names accepted for it. */
  aliases?: readonly string[];
  /** Options it accepts besides {@link globalOptions}. */
  options: readonly OptionName[];
  /** Names of its positionals, in order; a trailing `?` marks an optional one. */
  positionals: readonly string[];
}

/** The options, checked and converted (see usage.ts for what each means). */
export interface CliOptions {
  /** `--kubeconfig`. */
  kubeconfig: string | undefined;
  /** `--context`. */
  context: string | undefined;
  /** `-n`. */
  namespace: string | undefined;
  /** `-o`; default table. */
  output: OutputFormat;
  /** `-b`, else the KUBEKV_BUCKET env var. */
  bucket: string | undefined;
  /** `--kind`, else the KUBEKV_KIND env var: the object kind of the bucket (commands on one bucket default to ConfigMap; `buckets` lists both). */
  kind: BucketKind | undefined;
  /** `-A`. */
  allNamespaces: boolean;
  /** `--force`. */
  force: boolean;
  /** `--lease`. */
  lease: string | undefined;
  /** `--if-absent`. */
  ifAbsent: boolean;
  /** `--if-revision`. */
  ifRevision: number | undefined;
  /** `--ignore-not-found`. */
  ignoreNotFound: boolean;
  /** `--prefix` (del): the positional is a prefix, every key under it goes. */
  prefix: boolean;
  /** `--create-bucket`. */
  createBucket: boolean;
  /** `--replace`. */
  replace: boolean;
  /** Deadline of a write in ms (`--timeout`); undefined: the store's default. */
  timeoutMs: number | undefined;
  /** The key's time to live in ms (`--ttl`, put); undefined: permanent. */
  ttlMs: number | undefined;
  /** `--handoff <identity>` (leader): the replica to hand leadership to. */
  handoff: string | undefined;
  /** `--resign` (leader): ask the holder to step down. */
  resign: boolean;
  /** `-h`. */
  help: boolean;
}

/** A parsed command line. */
export interface CommandLine {
  /** The command's canonical name; undefined when none was given. */
  command: string | undefined;
  /** Its positionals, in order. */
  positionals: string[];
  options: CliOptions;
}

/**
 * Parses `argv` (without node and the script). `rules` says what each
 * command accepts. A lone `-` is a positional (stdin); `--` ends the options,
 * so `put k -- -5` stores "-5".
 *
 * @param program - how usage lines in error messages name the CLI
 * @throws InvalidOptionError for an unknown command or option, an option the
 * command does not take, a missing or extra positional, or a bad value
 */
export function parseCommandLine(argv: readonly string[], rules: readonly CommandRule[], env: NodeJS.ProcessEnv = {}, program: ProgramName = 'kubekv'): CommandLine {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof optionTable; allowPositionals: true; strict: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: optionTable, allowPositionals: true, strict: true });
  } catch (err) {
    throw new InvalidOptionError('arguments', argv.join(' '), parseArgsReason(err), { cause: err });
  }
  const { values } = parsed;
  const [name, ...positionals] = parsed.positionals;
  const rule = name === undefined ? undefined : rules.find((r) => r.name === name || r.aliases?.includes(name));
  if (name !== undefined && !rule) {
    throw new InvalidOptionError('command', name, `one of ${rules.map((r) => r.name).join(', ')}`);
  }
  const options = convert(values, env);
  if (rule && !options.help) {
    const allowed = new Set<string>([...globalOptions, ...rule.options]);
    for (const [option, value] of Object.entries(values)) {
      if (value !== undefined && !allowed.has(option)) {
        throw new InvalidOptionError(option, value, `\`${rule.name}\` does not take --${option}`);
      }
    }
    checkPositionals(rule, positionals, program);
  }
  return { command: rule?.name, positionals, options };
}

function convert(values: Partial<Record<OptionName, string | boolean>>, env: NodeJS.ProcessEnv): CliOptions {
  const string = (name: OptionName) => values[name] as string | undefined;
  const flag = (name: OptionName) => values[name] === true;
  const output = string('output') ?? 'table';
  if (!(outputFormats as readonly string[]).includes(output)) {
    throw new InvalidOptionError('output', output, `one of ${outputFormats.join(', ')}`);
  }
  const bucket = string('bucket') ?? (env[BUCKET_ENV] || undefined);
  if (bucket !== undefined) validateName('bucket', bucket, values.bucket === undefined ? `${BUCKET_ENV} env` : 'bucket');
  const kindName = string('kind') ?? (env[KIND_ENV] || undefined);
  const kind = kindName === undefined ? undefined : KIND_NAMES[kindName.toLowerCase()];
  if (kindName !== undefined && kind === undefined) {
    throw new InvalidOptionError(values.kind === undefined ? `${KIND_ENV} env` : 'kind', kindName, 'configmap (cm) or secret');
  }
  const lease = string('lease');
  if (lease !== undefined) validateName('lease', lease);
  const namespace = string('namespace');
  if (namespace !== undefined) validateName('namespace', namespace);
  const timeout = string('timeout');
  const ttl = string('ttl');
  if (flag('if-absent') && values['if-revision'] !== undefined) {
    throw new InvalidOptionError('if-absent', true, '--if-absent and --if-revision exclude each other');
  }
  if (flag('prefix') && values['if-revision'] !== undefined) {
    throw new InvalidOptionError('prefix', true, '--prefix and --if-revision exclude each other (a revision belongs to one key)');
  }
  const handoff = string('handoff');
  if (handoff !== undefined && handoff === '') throw new InvalidOptionError('handoff', handoff, 'a replica identity (the holder name it writes into the Lease)');
  if (handoff !== undefined && flag('resign')) throw new InvalidOptionError('resign', true, '--resign and --handoff exclude each other');
  return {
    kubeconfig: string('kubeconfig'),
    context: string('context'),
    namespace,
    output: output as OutputFormat,
    bucket,
    kind,
    allNamespaces: flag('all-namespaces'),
    force: flag('force'),
    lease,
    ifAbsent: flag('if-absent'),
    ifRevision: revision(string('if-revision')),
    ignoreNotFound: flag('ignore-not-found'),
    prefix: flag('prefix'),
    createBucket: flag('create-bucket'),
    replace: flag('replace'),
    timeoutMs: timeout === undefined ? undefined : parseDuration('timeout', timeout),
    ttlMs: ttl === undefined ? undefined : parseTtl(ttl),
    handoff,
    resign: flag('resign'),
    help: flag('help'),
  };
}

/** `--ttl`: a duration from 1s to 24h, as the store accepts (PutOptions.ttlMs). */
function parseTtl(raw: string): number {
  const ms = parseDuration('ttl', raw);
  if (ms < 1000 || ms > 86_400_000) throw new InvalidOptionError('ttl', raw, 'a duration from 1s to 24h, such as 30s or 5m');
  return ms;
}

function revision(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^(0|[1-9][0-9]*)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidOptionError('if-revision', raw, 'a revision: a non-negative integer (the key\'s lastIndex, as `ls` and `get -o json` show)');
  return n;
}

function checkPositionals(rule: CommandRule, given: readonly string[], program: ProgramName): void {
  const required = rule.positionals.filter((p) => !p.endsWith('?'));
  if (given.length < required.length) {
    const missing = required[given.length]!;
    throw new InvalidOptionError(missing, undefined, `required: ${usageLine(rule, program)}`);
  }
  if (given.length > rule.positionals.length) {
    throw new InvalidOptionError('arguments', given.slice(rule.positionals.length).join(' '), `unexpected; usage: ${usageLine(rule, program)}`);
  }
}

/** `kubekv put <key> <value>` style synopsis of a rule. */
export function usageLine(rule: CommandRule, program: ProgramName = 'kubekv'): string {
  const args = rule.positionals.map((p) => (p.endsWith('?') ? `[${p.slice(0, -1)}]` : `<${p}>`));
  return [program, rule.name, ...args].join(' ');
}

/** parseArgs' message, with its hint for values that start with "-" said in our terms. */
function parseArgsReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\. To specify a positional argument starting with a '-'.*$/s, ' (a value that starts with "-" goes after --, e.g. put <key> -- -5)');
}

/** The command named in `argv`, if any, for the hint after a usage error (parsing may have failed before it was known). */
export function commandIn(argv: readonly string[], rules: readonly CommandRule[]): string | undefined {
  for (const arg of argv) {
    const rule = rules.find((r) => r.name === arg || r.aliases?.includes(arg));
    if (rule) return rule.name;
  }
  return undefined;
}
