/**
 * The User-Agent kubekv sends on every request, in client-go's shape
 * (`<program>/<version> (<os>/<arch>) <runtime>`). Why it matters: the API
 * server names the field manager of a write after the User-Agent's first
 * segment when the request names none, so without one every bucket's
 * managedFields said "unknown"; audit logs and API Priority and Fairness
 * rules also match on it.
 */
import { createRequire } from 'node:module';

/** kubekv's version from its package.json (one level above src/ and dist/), "unknown" when it cannot be read (a bundle). */
function packageVersion(): string {
  try {
    const pkg = createRequire(import.meta.url)('../../package.json') as { name?: unknown; version?: unknown };
    return pkg.name === 'kubekv' && typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** kubekv's version (package.json `version`), or "unknown". */
export const KUBEKV_VERSION = packageVersion();

/** The User-Agent of every kubekv request, e.g. `kubekv/0.1.0 (linux/x64) node/v24.1.0`. */
export const USER_AGENT = `kubekv/${KUBEKV_VERSION} (${process.platform}/${process.arch}) node/${process.version}`;
