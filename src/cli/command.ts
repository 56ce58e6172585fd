/**
 * What a command is and what it gets: its parsed arguments, the process's
 * streams, an AbortSignal that fires on SIGINT / SIGTERM, a lazily resolved
 * connection, and helpers that print in the `-o` format.
 *
 * @module
 */
import type { CliOptions, CommandRule, ProgramName } from './args.js';
import type { Connection } from './connection.js';
import type { Sink } from './output.js';

/** The process's streams (injected, so the CLI runs in-process too). */
export interface CliIo {
  stdout: Sink & { isTTY?: boolean | undefined };
  stderr: Sink;
  /** Read only by commands that take `-` (put) or a dump on stdin (restore). */
  stdin: AsyncIterable<Uint8Array | string>;
  env: NodeJS.ProcessEnv;
  /** How the CLI was run, for usage lines: `kubectl kv` as a kubectl plugin. Default `kubekv`. */
  program?: ProgramName;
}

/** What a command runs with. */
export interface CommandContext {
  readonly positionals: readonly string[];
  readonly options: CliOptions;
  readonly io: CliIo;
  /** Aborts on SIGINT / SIGTERM: reads stop, a write not yet sent is withdrawn, `watch` ends. */
  readonly signal: AbortSignal;
  /** The cluster and namespace (resolved on first use, loading the Kubernetes client; makes no request). */
  connection(): Promise<Connection>;
  /** Writes to stdout. */
  out(chunk: string | Uint8Array): Promise<void>;
  /** Writes a line to stderr (notes for people, never data). */
  note(line: string): Promise<void>;
  /** Prints `data` as `-o json` / `-o yaml`, or `table()` for `-o table`. */
  print(data: unknown, table: () => string): Promise<void>;
}

/** A command: its rule (options, positionals), its help, and what it does. */
export interface Command extends CommandRule {
  /** One line for the command list. */
  summary: string;
  /** More help, shown by `kubekv help <command>`. */
  details?: string;
  run(ctx: CommandContext): Promise<void>;
}

/** Reads all of stdin as bytes. */
export async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
  return new Uint8Array(Buffer.concat(chunks));
}
