/**
 * Command-line parsing: kubectl's option habits, per-command rules, and a
 * typed InvalidOptionError (exit code 2) naming the culprit for every
 * mistake, before any request.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../../src/errors.js';
import { BUCKET_ENV, commandIn, parseCommandLine } from '../../../src/cli/args.js';
import { commands } from '../../../src/cli/commands/index.js';
import { helpRule } from '../../../src/cli/usage.js';

const rules = [...commands, helpRule];
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseCommandLine(argv, rules, env);

function rejects(argv: string[], option: string, pattern?: RegExp): void {
  assert.throws(() => parse(argv), (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_OPTION');
    assert.equal(err.option, option, `wrong option named: ${err.message}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

describe('parseCommandLine', () => {
  it('reads kubectl-style options in any position, short and long, with = or a separate value', () => {
    const line = parse(['put', '-n', 'team-a', 'config/db', '--kubeconfig=/tmp/kc', '-bapp', 'db.internal', '--context', 'prod', '-o', 'json', '--force', '--timeout', '1.5s']);
    assert.equal(line.command, 'put');
    assert.deepEqual(line.positionals, ['config/db', 'db.internal']);
    assert.equal(line.options.namespace, 'team-a');
    assert.equal(line.options.kubeconfig, '/tmp/kc');
    assert.equal(line.options.context, 'prod');
    assert.equal(line.options.bucket, 'app');
    assert.equal(line.options.output, 'json');
    assert.equal(line.options.force, true);
    assert.equal(line.options.timeoutMs, 1500);
  });

  it('--kind names the bucket\'s object kind (configmap, cm, secret, any case; else KUBEKV_KIND); anything else is refused', () => {
    assert.equal(parse(['get', 'k', '-b', 'x', '--kind', 'secret']).options.kind, 'Secret');
    assert.equal(parse(['get', 'k', '-b', 'x', '--kind', 'Secret']).options.kind, 'Secret');
    assert.equal(parse(['get', 'k', '-b', 'x', '--kind', 'cm']).options.kind, 'ConfigMap');
    assert.equal(parse(['get', 'k', '-b', 'x', '--kind', 'ConfigMap']).options.kind, 'ConfigMap');
    assert.equal(parse(['get', 'k', '-b', 'x']).options.kind, undefined);
    assert.equal(parse(['get', 'k', '-b', 'x'], { KUBEKV_KIND: 'secret' }).options.kind, 'Secret');
    assert.equal(parse(['get', 'k', '-b', 'x', '--kind', 'cm'], { KUBEKV_KIND: 'secret' }).options.kind, 'ConfigMap');
    rejects(['get', 'k', '-b', 'x', '--kind', 'lease'], 'kind', /configmap \(cm\) or secret/);
    rejects(['leader', 'x', '--kind', 'secret'], 'kind', /does not take --kind/);
  });

  it('defaults: table output, no force, no bucket', () => {
    const line = parse(['ls']);
    assert.equal(line.options.output, 'table');
    assert.equal(line.options.force, false);
    assert.equal(line.options.bucket, undefined);
    assert.deepEqual(line.positionals, []);
  });

  it('takes the bucket from KUBEKV_BUCKET when -b is absent, and -b wins over it', () => {
    assert.equal(parse(['ls'], { [BUCKET_ENV]: 'from-env' }).options.bucket, 'from-env');
    assert.equal(parse(['ls', '-b', 'flag'], { [BUCKET_ENV]: 'from-env' }).options.bucket, 'flag');
  });

  it('treats a lone - as a positional (stdin) and everything after -- as positionals', () => {
    assert.deepEqual(parse(['put', 'k', '-', '-b', 'app']).positionals, ['k', '-']);
    assert.deepEqual(parse(['put', '-b', 'app', 'k', '--', '-5']).positionals, ['k', '-5']);
  });

  it('accepts aliases and answers with the canonical name', () => {
    assert.equal(parse(['delete', 'k']).command, 'del');
    assert.equal(parse(['list']).command, 'ls');
  });

  it('parses revisions and durations', () => {
    assert.equal(parse(['put', 'k', 'v', '--if-revision', '0']).options.ifRevision, 0);
    assert.equal(parse(['del', 'k', '--if-revision', '42']).options.ifRevision, 42);
    assert.equal(parse(['put', 'k', 'v', '--timeout', '250ms']).options.timeoutMs, 250);
    assert.equal(parse(['put', 'k', 'v', '--timeout', '2m']).options.timeoutMs, 120_000);
    assert.equal(parse(['put', 'k', 'v', '--timeout', '3']).options.timeoutMs, 3000, 'a bare number is seconds');
  });

  it('refuses, naming the culprit: unknown command, unknown option, an option the command does not take', () => {
    rejects(['frobnicate'], 'command', /one of buckets, status, ls/);
    rejects(['ls', '--nope'], 'arguments', /Unknown option '--nope'/);
    rejects(['ls', '--force'], 'force', /`ls` does not take --force/);
    rejects(['get', 'k', '--if-absent'], 'if-absent');
  });

  it('refuses a missing or an extra positional, with the usage line', () => {
    rejects(['get'], 'key', /kubekv get <key>/);
    rejects(['put', 'k'], 'value', /kubekv put <key> <value>/);
    rejects(['get', 'a', 'b'], 'arguments', /unexpected/);
    rejects(['put', 'k', '-5'], 'arguments', /after --/);
  });

  it('refuses bad values: output format, names, revisions, durations, contradictory conditions', () => {
    rejects(['ls', '-o', 'xml'], 'output', /table, json, yaml/);
    rejects(['ls', '-b', 'Not_A_Name'], 'bucket', /DNS-1123/);
    rejects(['ls', '-n', 'a.b'], 'namespace', /DNS-1123 label/);
    rejects(['put', 'k', 'v', '--lease', 'UPPER'], 'lease');
    rejects(['put', 'k', 'v', '--if-revision', '-1'], 'arguments');
    rejects(['put', 'k', 'v', '--if-revision', '1.5'], 'if-revision', /non-negative integer/);
    rejects(['put', 'k', 'v', '--timeout', 'soon'], 'timeout', /30s/);
    rejects(['put', 'k', 'v', '--timeout', '0s'], 'timeout');
    rejects(['put', 'k', 'v', '--if-absent', '--if-revision', '3'], 'if-absent', /exclude each other/);
    assert.throws(() => parse(['ls'], { [BUCKET_ENV]: 'Bad!' }), (err: unknown) => err instanceof InvalidOptionError && /KUBEKV_BUCKET/.test(err.message));
  });

  it('lets --help through on any command without checking its arguments', () => {
    const line = parse(['put', '--help']);
    assert.equal(line.command, 'put');
    assert.equal(line.options.help, true);
  });

  it('finds the command named on a line that does not parse (for the usage hint)', () => {
    assert.equal(commandIn(['-n', 'x', 'rm', '--bogus'], rules), 'del');
    assert.equal(commandIn(['--bogus'], rules), undefined);
  });
});
