/**
 * Which Node.js versions kubekv runs on, as a pure function (no side
 * effects, no imports), for node-check.ts and for the CLI, which says it in
 * one line instead of throwing.
 *
 * @module
 */

/** The oldest Node.js kubekv runs on (package.json `engines`; @kubernetes/client-node 2.x needs it). */
export const MINIMUM_NODE = '22.19.0';

/**
 * The refusal for a Node.js version, or undefined when it is supported.
 *
 * @param version - `process.version` (e.g. `v20.20.2`)
 */
export function unsupportedNodeMessage(version: string): string | undefined {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  const [minMajor = 0, minMinor = 0] = MINIMUM_NODE.split('.').map(Number);
  if (major > minMajor || (major === minMajor && minor >= minMinor)) return undefined;
  return `kubekv needs Node >= ${MINIMUM_NODE.replace(/\.0$/, '')} (this is ${version})`;
}
