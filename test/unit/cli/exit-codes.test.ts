/**
 * Exit codes: every kubekv error code maps to one of the documented exit
 * codes, the mapping is the documented one, docs/cli.md's table says the
 * same, and the error line has the documented form.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as errors from '../../../src/errors.js';
import { ExitCode, errorLine, exitCodeFor } from '../../../src/cli/exit-codes.js';
import { repoRoot } from '../../controlplane/build.js';

const { ApiError, KubekvError } = errors;

describe('exit codes', () => {
  it('maps each failure kind to its documented code', () => {
    const cases: [errors.KubekvError, number][] = [
      [new errors.InvalidOptionError('output', 'xml', 'table, json or yaml'), 2],
      [new errors.InvalidKeyError('the key is empty'), 2],
      [new errors.InvalidValueError('bad dump'), 2],
      [new errors.KeyNotFoundError('k'), 3],
      [new errors.BucketNotFoundError('ns', 'b'), 3],
      [new ApiError(404, 'lease ns/x does not exist'), 3],
      [new errors.ForbiddenError('get', 'configmaps', 'b', 'ns'), 4],
      [new errors.NotLeaderError('pod-a'), 4],
      [new errors.FencedError(1, 2), 4],
      [new errors.ValueTooLargeError('k', 2_000_000, 1_048_576), 4],
      [new errors.BucketFullError('b', 2_000_000, 1_048_576), 4],
      [new errors.KeyExistsError('k'), 5],
      [new errors.KeyModifiedError('k', 1, 2), 5],
      [new errors.ConflictError('kept conflicting'), 5],
      [new ApiError(409, 'conflict'), 5],
      [new errors.OutcomeUnknownError('answer lost'), 6],
      [new errors.UnavailableError('connection refused'), 7],
      [new errors.DeadlineExceededError('deadline passed'), 7],
      [new errors.AbortedError('put'), 130],
      [new errors.FormatError('corrupt index'), 1],
      [new ApiError(422, 'invalid'), 1],
      [new errors.ClosedError('store'), 1],
    ];
    for (const [error, code] of cases) assert.equal(exitCodeFor(error), code, `${error.code}${error instanceof ApiError ? ` ${error.status}` : ''}`);
    assert.equal(exitCodeFor(new TypeError('bug')), 1);
  });

  it('gives every error class kubekv exports an exit code other than 0', () => {
    const classes = (Object.values(errors) as unknown[]).filter((value): value is new (...args: unknown[]) => errors.KubekvError => typeof value === 'function' && value.prototype instanceof KubekvError);
    assert.ok(classes.length >= 20, `found only ${classes.length} error classes`);
    const valid = new Set<number>(Object.values(ExitCode));
    for (const Class of classes) {
      // Arguments do not matter for the code; the constructors accept any.
      const error = new Class('x', 1, 2, 3);
      const code = exitCodeFor(error);
      assert.ok(valid.has(code) && code !== 0, `${Class.name} (${error.code}) maps to ${code}`);
    }
  });

  it('docs/cli.md lists the same exit codes', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'cli.md'), 'utf8');
    for (const code of Object.values(ExitCode)) {
      assert.match(doc, new RegExp(`^\\| \`${code}\` \\|`, 'm'), `docs/cli.md has no row for exit code ${code}`);
    }
  });

  it('prints error: <CODE>: <message>', () => {
    assert.equal(errorLine(new errors.KeyNotFoundError('a/b')), 'error: KEY_NOT_FOUND: key not found: "a/b"');
    assert.equal(errorLine(new Error('boom')), 'error: INTERNAL: boom');
  });
});
