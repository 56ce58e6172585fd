/**
 * The metrics module on real prom-client Registries (pure: no cluster):
 * what each hook counts, under which names and labels; sharing one Registry
 * never throws "already registered"; bad options are typed errors; a
 * broken metric never throws into the caller; the documented list is the
 * registered list.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Counter, Registry, register as globalRegistry } from 'prom-client';
import { InvalidOptionError, KeyModifiedError, FencedError, NotLeaderError } from '../../../src/index.js';
import { ALL_METRICS, resolveMetrics } from '../../../src/metrics/index.js';
import { repoRoot } from '../../controlplane/build.js';

/** The value of one series, or undefined when the metric or the series is absent. */
async function valueOf(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l) && Object.keys(v.labels).length === Object.keys(labels).length);
  return found?.value;
}

describe('store metrics', () => {
  it('count writes by result, latency of stored writes, conflicts, retries, fenced writes and watch restarts per bucket', async () => {
    const registry = new Registry();
    const store = resolveMetrics({ registry })!.store('ns', 'b', () => 1500);
    const b = { namespace: 'ns', bucket: 'b' };
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { ...b, result: 'ok' }), 0, 'the ok series exists from the start');
    assert.equal(await valueOf(registry, 'kubekv_fenced_writes_total', b), 0);
    store.written(undefined, 20);
    store.written(undefined, 4000);
    store.written(new KeyModifiedError('k', 1, 2), 3);
    store.written(new NotLeaderError('x'), 0);
    store.written(new FencedError(3, 4), 1);
    store.written(new Error('not a kubekv error'), 1);
    store.conflict();
    store.retry('conflict');
    store.retry('outcome unknown');
    store.watchRestarted('failed');
    store.watchRestarted('closed');
    store.watchRestarted('failed');
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { ...b, result: 'ok' }), 2);
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { ...b, result: 'key_modified' }), 1);
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { ...b, result: 'not_leader' }), 1);
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { ...b, result: 'fenced' }), 1);
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { ...b, result: 'error' }), 1);
    assert.equal(await valueOf(registry, 'kubekv_fenced_writes_total', b), 1);
    assert.equal(await valueOf(registry, 'kubekv_cas_conflicts_total', b), 1);
    assert.equal(await valueOf(registry, 'kubekv_write_retries_total', { ...b, reason: 'conflict' }), 1);
    assert.equal(await valueOf(registry, 'kubekv_write_retries_total', { ...b, reason: 'outcome_unknown' }), 1);
    assert.equal(await valueOf(registry, 'kubekv_watch_restarts_total', { ...b, reason: 'failed' }), 2);
    assert.equal(await valueOf(registry, 'kubekv_watch_restarts_total', { ...b, reason: 'closed' }), 1);
    const text = await registry.getSingleMetricAsString('kubekv_write_duration_seconds');
    assert.match(text, /kubekv_write_duration_seconds_count\{namespace="ns",bucket="b"\} 2$/m, 'only the two stored writes are timed');
    assert.match(text, /kubekv_write_duration_seconds_sum\{namespace="ns",bucket="b"\} 4\.02$/m);
    assert.equal(await valueOf(registry, 'kubekv_cache_staleness_seconds', b), 1.5, 'read from the store at scrape time, in seconds');
  });

  it('the staleness series is read at each scrape, is the worst of stores sharing it, and goes with the last of them', async () => {
    const registry = new Registry();
    const metrics = resolveMetrics({ registry })!;
    let a = 100;
    const first = metrics.store('ns', 'b', () => a);
    const second = metrics.store('ns', 'b', () => 250);
    const other = metrics.store('ns', 'c', () => 0);
    const b = { namespace: 'ns', bucket: 'b' };
    assert.equal(await valueOf(registry, 'kubekv_cache_staleness_seconds', b), 0.25);
    a = 3000;
    assert.equal(await valueOf(registry, 'kubekv_cache_staleness_seconds', b), 3);
    first.close();
    assert.equal(await valueOf(registry, 'kubekv_cache_staleness_seconds', b), 0.25);
    second.close();
    second.close();
    assert.equal(await valueOf(registry, 'kubekv_cache_staleness_seconds', b), undefined, 'no series for a bucket no store has open');
    assert.equal(await valueOf(registry, 'kubekv_cache_staleness_seconds', { namespace: 'ns', bucket: 'c' }), 0);
    other.written(undefined, 1);
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { namespace: 'ns', bucket: 'c', result: 'ok' }), 1, 'counters stay');
  });
});

describe('election and lock metrics', () => {
  it("client-go's leader gauge and slow-path counter, by Lease name: 0 from the start, 1 while leading", async () => {
    const registry = new Registry();
    const election = resolveMetrics({ registry })!.election('app-leader');
    assert.equal(await valueOf(registry, 'leader_election_master_status', { name: 'app-leader' }), 0);
    election.leading(true);
    assert.equal(await valueOf(registry, 'leader_election_master_status', { name: 'app-leader' }), 1);
    election.slowPath();
    election.leading(false);
    assert.equal(await valueOf(registry, 'leader_election_master_status', { name: 'app-leader' }), 0);
    assert.equal(await valueOf(registry, 'leader_election_slowpath_total', { name: 'app-leader' }), 1);
    assert.match(await registry.getSingleMetricAsString('leader_election_master_status'), /# TYPE leader_election_master_status gauge/);
  });

  it('locks: acquisitions, held now, losses only for locks lost without unlock, and hold time', async () => {
    const registry = new Registry();
    const lock = resolveMetrics({ registry })!.lock('ns', 'b');
    const b = { namespace: 'ns', bucket: 'b' };
    lock.acquired();
    lock.acquired();
    assert.equal(await valueOf(registry, 'kubekv_locks_held', b), 2);
    lock.released(1500, false);
    lock.released(500, true);
    assert.equal(await valueOf(registry, 'kubekv_locks_held', b), 0);
    assert.equal(await valueOf(registry, 'kubekv_lock_acquisitions_total', b), 2);
    assert.equal(await valueOf(registry, 'kubekv_lock_losses_total', b), 1);
    assert.match(await registry.getSingleMetricAsString('kubekv_lock_hold_duration_seconds'), /_sum\{namespace="ns",bucket="b"\} 2$/m);
  });
});

describe('sharing and options', () => {
  it('any number of stores, electors and locks share one Registry without "already registered"', async () => {
    const registry = new Registry();
    for (let i = 0; i < 3; i++) {
      const metrics = resolveMetrics({ registry })!;
      metrics.store('ns', `b${i % 2}`, () => 0).written(undefined, 1);
      metrics.election('lease').leading(i === 2);
      metrics.lock('ns', 'b0').acquired();
    }
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { namespace: 'ns', bucket: 'b0', result: 'ok' }), 2);
    assert.equal(await valueOf(registry, 'kubekv_writes_total', { namespace: 'ns', bucket: 'b1', result: 'ok' }), 1);
    assert.equal(await valueOf(registry, 'kubekv_lock_acquisitions_total', { namespace: 'ns', bucket: 'b0' }), 3);
    assert.equal(registry.getMetricsAsArray().length, ALL_METRICS.length);
  });

  it('nothing is registered until a component asks, and only in the Registry given (never the global one)', async () => {
    const registry = new Registry();
    const before = (await globalRegistry.getMetricsAsJSON()).length;
    const metrics = resolveMetrics({ registry })!;
    assert.equal(registry.getMetricsAsArray().length, 0);
    metrics.election('lease');
    assert.deepEqual(registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name).sort(), ['leader_election_master_status', 'leader_election_slowpath_total']);
    metrics.store('ns', 'b', () => 0);
    metrics.lock('ns', 'b');
    assert.equal((await globalRegistry.getMetricsAsJSON()).length, before);
    assert.equal(resolveMetrics(undefined), undefined);
  });

  it('bad options are InvalidOptionError naming the option', () => {
    const refused = (value: unknown, option: string) =>
      assert.throws(() => resolveMetrics(value), (err: unknown) => err instanceof InvalidOptionError && err.option === option, `refused as ${option}`);
    refused(null, 'metrics');
    refused('registry', 'metrics');
    refused({}, 'metrics.registry');
    refused({ registry: {} }, 'metrics.registry');
    refused({ registry: new Registry(), prefix: 'x_' }, 'metrics.prefix');
    // A metric of kubekv's name that kubekv did not make: reusing it would mix series or throw later.
    const taken = new Registry();
    new Counter({ name: 'kubekv_writes_total', help: 'mine', registers: [taken] });
    refused({ registry: taken }, 'metrics.registry');
  });

  it('a metric that throws never throws into the caller', () => {
    const registry = new Registry();
    const metrics = resolveMetrics({ registry })!;
    const store = metrics.store('ns', 'b', () => {
      throw new Error('status failed');
    });
    const election = metrics.election('lease');
    // Break every registered metric, as a misbehaving Registry or a cleared one might.
    for (const metric of registry.getMetricsAsArray()) {
      for (const method of ['inc', 'dec', 'set', 'observe', 'remove']) {
        if (method in metric) Object.defineProperty(metric, method, { value: () => { throw new Error('broken'); } });
      }
    }
    store.written(undefined, 1);
    store.written(new FencedError(1, 2), 1);
    store.conflict();
    store.retry('refused');
    store.watchRestarted('expired');
    store.close();
    election.leading(true);
    election.slowPath();
  });
});

describe('docs/observability.md', () => {
  it('documents every metric kubekv registers, with its type and labels', () => {
    const doc = readFileSync(join(repoRoot, 'docs/observability.md'), 'utf8');
    for (const metric of ALL_METRICS) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${metric.name}\``));
      assert.ok(row, `${metric.name} has a row in the metrics table`);
      assert.ok(row.includes(`| ${metric.type} |`), `${metric.name} is documented as a ${metric.type}`);
      for (const label of metric.labelNames) assert.ok(row.includes(`\`${label}\``), `${metric.name}'s row names its label ${label}`);
    }
  });
});
