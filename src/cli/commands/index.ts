/**
 * Every command of the CLI, in the order help lists them.
 *
 * @module
 */
import type { Command } from '../command.js';
import { bucketsCommand } from './buckets.js';
import { completionCommand } from './completion.js';
import { dumpCommand, restoreCommand } from './dump.js';
import { leaderCommand, locksCommand } from './leases.js';
import { getCommand, lsCommand } from './read.js';
import { statusCommand } from './status.js';
import { watchCommand } from './watch.js';
import { versionCommand } from './version.js';
import { delCommand, putCommand } from './write.js';

/** The commands, as help lists them. */
export const commands: readonly Command[] = [
  bucketsCommand,
  statusCommand,
  lsCommand,
  getCommand,
  putCommand,
  delCommand,
  watchCommand,
  dumpCommand,
  restoreCommand,
  leaderCommand,
  locksCommand,
  versionCommand,
  completionCommand(() => commands),
];
