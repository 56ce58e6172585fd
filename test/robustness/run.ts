/**
 * `npm run robustness [-- --duration 90s --seed 7 --clients 4 --store kubekv|naive --chunks mixed|tiny|default|off --gc-grace 15s --check-timeout 20m --faults none|all|a,b --out dir]`
 * `npm run robustness -- --workload state [--ha] [--replicas 3] [--clients 2] [--duration 90s --seed 7 --faults ... --out dir]`
 *
 * Runs the robustness harness once (see README.md; the store workload is
 * harness.ts, the state workload state-workload.ts) and prints a summary. Exit status: 0 the checker passed, 1 it found a violation, 2 the
 * check was inconclusive or the run itself broke (including the hard
 * timeout: duration + the check's time limit (--check-timeout, by default
 * the duration and at least 2 minutes) + 8 minutes, counted once the
 * binaries are built; the state workload's: duration + 10 minutes).
 */
import { randomInt } from 'node:crypto';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBinary, repoRoot } from '../controlplane/build.js';
import { controlPlaneEnv } from '../controlplane/remote.js';
import { ensureChecker } from './checker.js';
import { runRobustness, type RobustnessResult } from './harness.js';
import { chunkModes, type ChunkMode } from './chunk-profiles.js';
import { faultKinds, parseFaults } from './nemesis.js';
import { haFaultKinds, stateFaultKinds } from './state-nemesis.js';

function usage(message: string): never {
  console.error(`robustness: ${message}`);
  console.error('usage: npm run robustness -- [--workload store|state] [--duration 60s|5m] [--seed N] [--clients 4] [--allow-fewer] [--store kubekv|naive] [--keys adversarial|plain] [--chunks mixed|tiny|default|off] [--gc-grace 15s] [--check-timeout 20m] [--faults none|all|kind,...] [--out DIR]');
  console.error('       state workload: [--replicas 3] [--clients 2] [--ha]');
  console.error(`fault kinds: ${faultKinds.join(', ')}`);
  console.error(`state workload fault kinds: ${stateFaultKinds.join(', ')}; with --ha also ${haFaultKinds.join(', ')}`);
  process.exit(2);
}

/** "90s", "5m", "1500ms", or plain seconds. */
function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) usage(`--duration ${JSON.stringify(text)} is not a duration like 90s or 5m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
  return Math.round(Number(match[1]) * unit);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        workload: { type: 'string', default: 'store' },
        duration: { type: 'string', default: '60s' },
        seed: { type: 'string' },
        clients: { type: 'string' },
        replicas: { type: 'string', default: '3' },
        ha: { type: 'boolean', default: false },
        'allow-fewer': { type: 'boolean', default: false },
        store: { type: 'string', default: 'kubekv' },
        keys: { type: 'string', default: 'adversarial' },
        chunks: { type: 'string', default: 'mixed' },
        'gc-grace': { type: 'string' },
        'check-timeout': { type: 'string' },
        faults: { type: 'string', default: 'all' },
        out: { type: 'string' },
      },
    });
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
})();

const durationMs = parseDuration(values.duration);
const seed = values.seed === undefined ? randomInt(1, 2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(seed)) usage(`--seed ${values.seed} is not an integer`);
const log = (line: string) => console.log(`[robustness] ${line}`);
if (values.workload !== 'store' && values.workload !== 'state') usage(`--workload ${values.workload}: store or state`);
if (values.workload === 'state') {
  const { runStateCli } = await import('./state-run.js');
  if (!process.env[controlPlaneEnv] || values.ha) await ensureBinary((line) => log(`[controlplane] ${line}`));
  setTimeout(() => {
    console.error(`robustness: hard timeout after ${Math.round((durationMs + 10 * 60_000) / 1000)} s; aborting`);
    process.exit(2);
  }, durationMs + 10 * 60_000).unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(2));
  await runStateCli({ durationMs, seed, replicas: Number(values.replicas), clients: Number(values.clients ?? '2'), faults: values.faults, ha: values.ha, out: values.out, log, usage });
}
if (values.ha) usage('--ha belongs to --workload state');
const clients = Number(values.clients ?? '4');
if (!Number.isInteger(clients) || clients < 1) usage(`--clients ${values.clients} is not a positive integer`);
if (clients < 4 && !values['allow-fewer']) usage(`--clients ${clients}: at least 4 (contention needs company); pass --allow-fewer to insist`);
if (values.store !== 'kubekv' && values.store !== 'naive') usage(`--store ${values.store}: kubekv or naive`);
if (values.keys !== 'adversarial' && values.keys !== 'plain') usage(`--keys ${values.keys}: adversarial or plain`);
if (!(chunkModes as readonly string[]).includes(values.chunks)) usage(`--chunks ${values.chunks}: ${chunkModes.join(', ')}`);
const chunkMode = values.chunks as ChunkMode;
const gcGraceMs = values['gc-grace'] === undefined ? undefined : parseDuration(values['gc-grace']);
// A long run's history is one porcupine partition of tens of thousands of
// operations (batches and bucket deletions tie every key together): two
// minutes left a 15-minute run inconclusive. The search gets as long as the
// run by default, and never less than two minutes.
const checkTimeoutMs = values['check-timeout'] === undefined ? Math.max(120_000, durationMs) : parseDuration(values['check-timeout']);
let faults;
try {
  faults = parseFaults(values.faults);
} catch (err) {
  usage(err instanceof Error ? err.message : String(err));
}

console.log(`robustness: seed ${seed} (rerun with --seed ${seed}), duration ${durationMs / 1000} s, ${clients} clients, store ${values.store}, chunks ${chunkMode}${gcGraceMs === undefined ? '' : ` (grace ${gcGraceMs} ms)`}, faults ${faults.join(',') || 'none'}`);
// Compiling is not part of the run: a cold control-plane build takes minutes on two cores.
if (!process.env[controlPlaneEnv]) await ensureBinary((line) => log(`[controlplane] ${line}`));
await ensureChecker(log);
const started = Date.now();
// The last resort: whatever hangs, the run ends (client-process.ts and the control plane kill their children on exit).
const hardTimeoutMs = durationMs + checkTimeoutMs + 8 * 60_000;
setTimeout(() => {
  console.error(`robustness: hard timeout after ${Math.round(hardTimeoutMs / 1000)} s; aborting`);
  process.exit(2);
}, hardTimeoutMs).unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(2));

const result = await runRobustness({
  durationMs,
  seed,
  clients,
  store: values.store,
  keySet: values.keys,
  chunks: chunkMode,
  ...(gcGraceMs === undefined ? {} : { gcGraceMs }),
  checkTimeoutMs,
  faults,
  ...(values.out ? { out: values.out } : {}),
  log,
});
printSummary(result, Date.now() - started);
process.exit(result.exitCode);

function printSummary(r: RobustnessResult, ms: number): void {
  const where = relative(repoRoot, r.outDir) || r.outDir;
  console.log('');
  console.log(`robustness summary (seed ${seed}, ${values.store} store, ${(ms / 1000).toFixed(0)} s in all)`);
  const ops = r.summary?.operations ?? r.operations;
  const pending = r.summary ? '' : `, ${r.operations.pending} without completion`;
  console.log(`  operations: ${ops.ok} ok, ${ops.fail} fail, ${ops.unknown} unknown${pending}`);
  const codes = Object.entries(r.operations.codes).sort(([a], [b]) => (a < b ? -1 : 1)).map(([code, n]) => `${code} ${n}`);
  if (codes.length > 0) console.log(`  fail / unknown by code: ${codes.join(', ')}`);
  console.log(`  writes refused BUCKET_FULL: ${r.operations.codes['BUCKET_FULL'] ?? 0}; ended unknown: ${ops.unknown}${r.unexplainedUnknown.count > 0 ? ` (${r.unexplainedUnknown.count} with no fault to lose their answer: ${r.unexplainedUnknown.ids.join(', ')})` : ''}`);
  const faultList = Object.entries(r.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}${r.faultErrors[k as keyof typeof r.faultErrors] ? ` (${r.faultErrors[k as keyof typeof r.faultErrors]} failed)` : ''}`);
  console.log(`  faults: ${faultList.join(', ') || 'none'}; client restarts ${r.restarts}`);
  if (r.bucket) {
    const b = r.bucket;
    console.log(`  bucket: deleted ${b.deletedByKubekv} by kubekv, ${b.deletedByHand} by hand; created ${b.createdByKubekv} by kubekv, ${b.createdByHand} by hand; ${b.edits} hand edits (${b.writersRemoved} removed kubekv.dev/writers, ${b.fills} long-key fills); ${b.failed} acts refused, ${b.unknown} unknown`);
  }
  if (r.sessions) {
    const x = r.sessions;
    console.log(`  ttl and sessions: ${x.expiries} keys expired (a TTL or a session ended); sessions ${x.opened} opened, ${x.closed} closed, ${x.abandoned} abandoned (owner frozen; ${x.closedOnThaw} of them closed on thaw, no sweeper having ended them), ${x.lost} lost (the owner's signal aborted: renewals failed past the renew deadline, or a sweeper ended it, abandoned ones included; their keys may go from the loss on), ${x.killed} more with their owner killed; of the ${x.unclosed} never closed, ${x.sweptAtEnd} with their Lease gone at the end; ${x.leasesLeft} session Leases left`);
  }
  if (r.chunks) {
    const c = r.chunks;
    console.log(`  chunks: ${c.created} created (${c.manifests} manifest chunks), ${c.gone} gone (${c.collected} deletions by the stores' GC, counting a chunk another store deleted first, ${c.collectionsFailed} collections failed), ${c.atEnd} at the end; compactions ${c.compactions} landed, ${c.compactionsLost} lost their race, ${c.compactionsFailed} failed (${c.compactionsFailedLosingAnswers} while their answers were being lost)`);
    const other = Object.entries(c.otherUnsynced).map(([code, n]) => `${code} ${n}`).join(', ');
    console.log(`  ChunkMissing reports (status() synced false): ${c.chunkMissingReports}, ${c.chunkMissingUnexplained} with no delete-chunk or slow spell to explain them; opens refused CHUNK_MISSING ${c.openRefused}; head re-read for a chunk gone (by client) ${JSON.stringify(c.chunkRereads)}${other ? `; unsynced for other reasons: ${other}` : ''}`);
    if (c.chunkMissingUnexplainedAt.length > 0) console.log(`  unexplained ChunkMissing reports (client @ monotonic ns): ${c.chunkMissingUnexplainedAt.map((u) => `${u.client} @ ${u.at} ${u.chunk}`).join(', ')}`);
    if (r.bucket) console.log(`  delete-chunk: ${r.bucket.chunksDeleted} chunks deleted by hand, ${r.bucket.noChunk} faults found none to delete`);
    if (c.foreignOwned.length > 0) console.log(`  WARNING: the final head references ${c.foreignOwned.length} chunks owned by another uid than its own (a cluster's garbage collector would delete them): ${c.foreignOwned.slice(0, 5).join(', ')}`);
  }
  if (r.crashes > 0) console.log(`  WARNING: client processes crashed ${r.crashes} times (the store took its host process down; see client-<n>.log)`);
  const p = r.proxy;
  console.log(`  proxies: ${p.connections} connections, ${p.connectionsReset} reset, ${p.connectionsHeld} black-holed (held requests delivered late on ${p.heldDelivered}, ${p.abandonedDelivered} of them after their client left), ${p.answersLost} answers lost, ${p.streamsCut} watch streams cut, ${p.chunksDelayed} chunks of bytes delayed`);
  if (r.lagging.length > 0) console.log(`  watchers short of the final revision: clients ${r.lagging.join(', ')}`);
  if (r.summary) {
    const s = r.summary;
    console.log(`  linearizable: ${s.linearizable}; cache-read violations ${s.cacheReadViolations}; watch violations ${s.watchViolations}; outcome violations ${s.outcomeViolations ?? 0}; violations in all ${s.violationCount ?? s.violations.length}; check ${(s.checkMs / 1000).toFixed(1)} s`);
    if (s.error) console.log(`  checker: ${s.error}`);
    for (const v of s.violations.slice(0, 20)) console.log(`  violation: ${v}`);
    if (s.violations.length > 20) console.log(`  ... and ${s.violations.length - 20} more (see ${where})`);
  }
  if (r.error) console.log(`  the run broke: ${r.error}`);
  const verdict = ['PASSED', 'VIOLATION', r.error ? 'BROKEN' : 'INCONCLUSIVE'][r.exitCode];
  console.log(`  verdict: ${verdict}${r.kept ? `; run directory ${where}` : ''}`);
}
