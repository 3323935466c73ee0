// Operating it: the dashboard shows the LB, the SLO, the fleet, the service's
// own metrics and Cloud SQL; alerts fire on degraded mode, replay lag, pool
// waiters, fewer VMs than zones in a region, the database going down and the
// DR replica lagging. The Prometheus metric names must be ones the service
// exports (server/metrics.ts), as the Ops Agent prefixes them.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { at, list, oneRegionConfig, prodConfig, resources, synth } from './helpers/synth.js';

const metricsSource = readFileSync(new URL('../../server/metrics.ts', import.meta.url), 'utf8');
const { ops } = synth(prodConfig());
const dashboards = resources(ops, 'google_monitoring_dashboard');
const json = JSON.parse(dashboards[0]?.['dashboard_json'] as string) as {
  mosaicLayout: { tiles: { widget: { title: string; xyChart: { dataSets: unknown[] } } }[] };
};
const filters = json.mosaicLayout.tiles.map((t) =>
  String(at(t.widget.xyChart.dataSets[0], 'timeSeriesQuery.timeSeriesFilter.filter')),
);
const alertFilters = resources(ops, 'google_monitoring_alert_policy').flatMap((p) =>
  list(p['conditions']).map((c) =>
    String(at(c, 'condition_threshold.filter') ?? at(c, 'condition_matched_log.filter')),
  ),
);

test('dashboard: one, with the LB, SLO, fleet, service and Cloud SQL views', (t) => {
  t.is(dashboards.length, 1);
  for (const needle of [
    'loadbalancing.googleapis.com/https/request_count',
    'loadbalancing.googleapis.com/https/total_latencies',
    'select_slo_burn_rate(',
    'compute.googleapis.com/instance/uptime',
    'prometheus.googleapis.com/counter_batch_size/histogram',
    'prometheus.googleapis.com/db_query_duration_seconds/histogram',
    'prometheus.googleapis.com/counter_degraded/gauge',
    'prometheus.googleapis.com/journal_pending_increments/gauge',
    'prometheus.googleapis.com/journal_replay_lag_seconds/gauge',
    'prometheus.googleapis.com/db_pool_waiters/gauge',
    'cloudsql.googleapis.com/database/cpu/utilization',
    'cloudsql.googleapis.com/database/postgresql/num_backends',
    'cloudsql.googleapis.com/database/replication/replica_lag',
  ])
    t.true(
      filters.some((f) => f.includes(needle)),
      needle,
    );
});

test('alerts and dashboard: every Prometheus metric they use is one the service exports', (t) => {
  const used = [...filters, ...alertFilters].flatMap((f) => [
    ...f.matchAll(/prometheus\.googleapis\.com\/([a-z_]+)\/(gauge|counter|histogram)/g),
  ]);
  t.true(used.length >= 8);
  for (const [, name] of used)
    t.true(
      metricsSource.includes(`name: '${String(name)}'`) || metricsSource.includes(`'${String(name)}'`),
      String(name),
    );
});

test('alerts: degraded mode, replay lag, pool waiters, VMs per region, database down, replica lag', (t) => {
  for (const needle of [
    'prometheus.googleapis.com/counter_degraded/gauge',
    'prometheus.googleapis.com/journal_replay_lag_seconds/gauge',
    'prometheus.googleapis.com/db_pool_waiters/gauge',
    'cloudsql.googleapis.com/database/up',
    'cloudsql.googleapis.com/database/replication/replica_lag',
  ])
    t.true(
      alertFilters.some((f) => f.includes(needle)),
      needle,
    );
  for (const region of prodConfig().regions)
    t.true(
      alertFilters.some((f) => f.includes(`resource.label.zone=starts_with("${region.region}-")`)),
      region.region,
    );
  const single = resources(synth(oneRegionConfig()).ops, 'google_monitoring_alert_policy');
  t.false(JSON.stringify(single).includes('replica_lag'), 'no replica, no replica-lag alert');
});

test('alerts: any journal entry quarantined instead of replayed pages at once', (t) => {
  const policy = resources(ops, 'google_monitoring_alert_policy').find((p) =>
    String(at(p, 'conditions.0.condition_threshold.filter')).includes(
      'prometheus.googleapis.com/journal_quarantined_entries_total/counter',
    ),
  );
  t.truthy(policy, 'a policy watches journal_quarantined_entries_total');
  t.is(at(policy, 'conditions.0.condition_threshold.comparison'), 'COMPARISON_GT');
  t.is(at(policy, 'conditions.0.condition_threshold.threshold_value'), 0);
  t.is(at(policy, 'conditions.0.condition_threshold.aggregations.0.per_series_aligner'), 'ALIGN_DELTA');
});

test('alerts: a region alerts when it runs fewer VMs than zones, over ten minutes', (t) => {
  const policy = resources(ops, 'google_monitoring_alert_policy').find((p) =>
    String(at(p, 'conditions.0.condition_threshold.filter')).includes('starts_with("europe-west4-")'),
  );
  t.is(at(policy, 'conditions.0.condition_threshold.comparison'), 'COMPARISON_LT');
  t.is(at(policy, 'conditions.0.condition_threshold.threshold_value'), 3);
  t.is(at(policy, 'conditions.0.condition_threshold.duration'), '600s');
  t.is(at(policy, 'conditions.0.condition_threshold.aggregations.0.cross_series_reducer'), 'REDUCE_COUNT');
});
