/**
 * Refuses, in words, a Node.js older than kubekv supports. Every entry point
 * (`kubekv`, `kubekv/testing`, the CLI) imports this module FIRST: ES modules
 * run in import order, so the check runs before undici and
 * @kubernetes/client-node, which on Node 20 die at load with a stack trace
 * about `createZstdDecompress` that names neither kubekv nor the version.
 *
 * It imports nothing else (node-version.ts is pure), so it works on any Node
 * that can parse it.
 *
 * @module
 */

import { unsupportedNodeMessage } from './node-version.js';

const refusal = unsupportedNodeMessage(process.version);
if (refusal !== undefined) {
  // Not a KubekvError: importing errors.ts would defeat the point of a module
  // that loads nothing. The code is stable all the same.
  const error = new Error(refusal) as Error & { code: string };
  error.code = 'ERR_KUBEKV_UNSUPPORTED_NODE';
  // The stack would only point here; the message says everything.
  error.stack = `Error [${error.code}]: ${refusal}`;
  throw error;
}
