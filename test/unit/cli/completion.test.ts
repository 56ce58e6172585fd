/**
 * `kubekv completion bash|zsh` (the scripts run in a real bash, as a shell
 * runs them on Tab), and how the CLI names itself when kubectl runs it as
 * the plugin `kubectl-kv`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { programName } from '../../../src/cli/args.js';
import { commands } from '../../../src/cli/commands/index.js';
import { bashCompletion, zshCompletion } from '../../../src/cli/completion.js';
import { runCli } from '../../../src/cli/run.js';

/** What bash completes for the words typed so far (the last one is being completed). */
function complete(words: string[]): string[] {
  const script = `${bashCompletion(commands)}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_kubekv; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
}

async function cli(argv: string[], program?: 'kubekv' | 'kubectl kv'): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await runCli(argv, { stdout, stderr, stdin: new PassThrough(), env: {}, ...(program ? { program } : {}) }, new AbortController().signal);
  return { code, out, err };
}

describe('kubekv completion', () => {
  it('completes command names', () => {
    assert.deepEqual(complete(['kubekv', 'l']), ['leader', 'list', 'locks', 'ls']);
    assert.ok(complete(['kubekv', '']).includes('completion'));
  });

  it("completes a command's own options and the global ones, past options that take a value", () => {
    const options = complete(['kubekv', '-n', 'team', 'del', '--']);
    for (const option of ['--prefix', '--if-revision', '--ignore-not-found', '--kubeconfig', '--namespace', '--output']) assert.ok(options.includes(option), option);
    assert.ok(!options.includes('--if-absent'), 'put only');
  });

  it('completes -o formats, shells and help topics', () => {
    assert.deepEqual(complete(['kubekv', 'ls', '-o', '']), ['json', 'table', 'yaml']);
    assert.deepEqual(complete(['kubekv', 'completion', '']), ['bash', 'zsh']);
    assert.deepEqual(complete(['kubekv', 'help', 'st']), ['status']);
  });

  it('prints the script for bash and zsh; another shell is a usage error', async () => {
    assert.equal((await cli(['completion', 'bash'])).out, bashCompletion(commands));
    assert.match((await cli(['completion', 'zsh'])).out, /^#compdef kubekv kubectl-kv\n.*bashcompinit/s);
    assert.equal(zshCompletion(commands).includes('complete -o default -F _kubekv kubekv kubectl-kv'), true);
    const fish = await cli(['completion', 'fish']);
    assert.equal(fish.code, 2);
    assert.match(fish.err, /^error: INVALID_OPTION: invalid option shell="fish": one of bash, zsh$/m);
  });
});

describe('the program name', () => {
  it('is `kubectl kv` when run as kubectl-kv, else kubekv', () => {
    assert.equal(programName('/usr/local/bin/kubectl-kv'), 'kubectl kv');
    assert.equal(programName('C:\\npm\\kubectl-kv.cmd'), 'kubectl kv');
    assert.equal(programName('/app/node_modules/.bin/kubekv'), 'kubekv');
    assert.equal(programName('/app/node_modules/kubekv/dist/cli/main.js'), 'kubekv');
    assert.equal(programName(undefined), 'kubekv');
  });

  it('is what help, usage lines and hints say', async () => {
    const help = await cli(['--help'], 'kubectl kv');
    assert.match(help.out, /^Usage: kubectl kv <command> \[arguments\] \[options\]$/m);
    assert.match(help.out, /see kubectl kv help <command>/);
    assert.match((await cli(['help', 'put'], 'kubectl kv')).out, /^Usage: kubectl kv put <key> <value> \[options\]$/m);
    const missing = await cli(['get'], 'kubectl kv');
    assert.equal(missing.code, 2);
    assert.match(missing.err, /required: kubectl kv get <key>\nRun 'kubectl kv help get' for usage\.\n$/);
    assert.match((await cli(['--help'])).out, /^Usage: kubekv <command>/m);
  });
});
