/**
 * The command line of `npm run bench -- [name ...] [--option value ...]`:
 * benchmark names, and options that take a value (`--sustained 300` or
 * `--sustained=300`), so a value is never mistaken for a benchmark name.
 * Options are read by the benchmark that owns them (see {@link VALUE_OPTIONS}).
 */

/** Options that take a value, and the benchmark that reads each. */
export const VALUE_OPTIONS: Readonly<Record<string, string>> = {
  '--sustained': 'capacity: seconds of sequential puts into the largest bucket (default 20)',
  '--put-keys': 'capacity: distinct keys the sequential puts cycle through (default 1)',
};

interface ParsedArgs {
  names: string[];
  options: Map<string, string>;
}

/** Splits `argv` (process.argv.slice(2)) into benchmark names and option values; throws on an unknown option or a missing value. */
export function parseBenchArgs(argv: readonly string[]): ParsedArgs {
  const names: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) {
      names.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!(name in VALUE_OPTIONS)) {
      throw new Error(`unknown option ${name}; known: ${Object.entries(VALUE_OPTIONS).map(([o, what]) => `${o} <${what}>`).join('; ')}`);
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new Error(`option ${name} needs a value`);
    options.set(name, value);
  }
  return { names, options };
}

/**
 * The number given for `option` on this process's command line, or
 * `fallback`; throws naming the option when it is not a number in [min, max].
 */
export function numberOption(option: string, fallback: number, min: number, max: number): number {
  const raw = parseBenchArgs(process.argv.slice(2)).options.get(option);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!(Number.isFinite(value) && value >= min && value <= max)) throw new Error(`${option} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}
