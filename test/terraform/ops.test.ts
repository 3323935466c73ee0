// Policy: availability is measured at the load balancer against a 99.99 %
// SLO, burn-rate alerts page on it over two window pairs, an external uptime
// check covers what the LB cannot see, and every alert reaches on-call.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { JOURNAL_LOSS_LINE } from '../../terraform/constructs/journal-alert.js';
import { UPTIME_BODY } from '../../terraform/constructs/uptime-check.js';
import { at, list, one, oneRegionConfig, refTo, resources, synth, type Block } from './helpers/synth.js';

const config = oneRegionConfig();
const { ops, edge } = synth(config);
const slo = one(ops, 'google_monitoring_slo');
const policies = resources(ops, 'google_monitoring_alert_policy');
const burnPolicies = policies.filter((p) =>
  list(p['conditions']).some((c) => String(at(c, 'condition_threshold.filter')).startsWith('select_slo_burn_rate(')),
);

test('SLO: request-based availability with goal 0.9999 on the HTTPS URL map of the load balancer', (t) => {
  t.is(slo['goal'], 0.9999);
  const total = String(at(slo, 'request_based_sli.good_total_ratio.total_service_filter'));
  const bad = String(at(slo, 'request_based_sli.good_total_ratio.bad_service_filter'));
  const urlMap = resources(edge, 'google_compute_url_map').find((m) => m['default_service'] !== undefined) as Block;
  t.true(total.includes('metric.type="loadbalancing.googleapis.com/https/request_count"'));
  t.true(total.includes('resource.type="https_lb_rule"'));
  t.true(total.includes(`resource.label.url_map_name="${String(urlMap['name'])}"`));
  t.is(bad, `${total} metric.label.response_code_class=500`);
});

test('SLO: measured per calendar month, the period the SLA promises 99.99 % over', (t) => {
  // Provider 6.50.0 docs, r/monitoring_slo: calendar_period is one of DAY, WEEK, FORTNIGHT, MONTH and
  // excludes rolling_period_days.
  t.is(slo['calendar_period'], 'MONTH');
  t.is(slo['rolling_period_days'], undefined);
});

test('SLO: fast and slow multi-window burn-rate alerts, each a long AND a short window on the SLO', (t) => {
  const sloName = refTo(ops, 'google_monitoring_slo', slo, 'name');
  const windows = burnPolicies.map((p) => ({
    combiner: p['combiner'],
    conditions: list(p['conditions']).map((c) => [
      at(c, 'condition_threshold.filter'),
      at(c, 'condition_threshold.threshold_value'),
    ]),
  }));
  t.deepEqual(
    windows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    [
      {
        combiner: 'AND',
        conditions: [
          [`select_slo_burn_rate("${sloName}", "21600s")`, 6],
          [`select_slo_burn_rate("${sloName}", "1800s")`, 6],
        ],
      },
      {
        combiner: 'AND',
        conditions: [
          [`select_slo_burn_rate("${sloName}", "3600s")`, 14.4],
          [`select_slo_burn_rate("${sloName}", "300s")`, 14.4],
        ],
      },
    ],
  );
});

test('uptime check: HTTPS POST / (the only thing the edge forwards) on the configured domain, with an alert', (t) => {
  const check = one(ops, 'google_monitoring_uptime_check_config');
  t.is(at(check, 'http_check.path'), '/');
  t.is(at(check, 'http_check.request_method'), 'POST');
  // Provider 6.50.0 docs, r/monitoring_uptime_check_config: USER_PROVIDED needs custom_content_type; body is base64.
  t.is(at(check, 'http_check.content_type'), 'USER_PROVIDED');
  t.is(at(check, 'http_check.custom_content_type'), 'application/json');
  t.is(Buffer.from(String(at(check, 'http_check.body')), 'base64').toString(), '{}');
  t.is(at(check, 'http_check.body'), UPTIME_BODY);
  t.is(at(check, 'http_check.use_ssl'), true);
  t.is(at(check, 'http_check.validate_ssl'), true);
  t.is(at(check, 'monitored_resource.labels.host'), config.domain);
  const checkId = refTo(ops, 'google_monitoring_uptime_check_config', check, 'uptime_check_id');
  t.true(
    policies.some((p) =>
      String(at(p, 'conditions.0.condition_threshold.filter')).includes(`metric.label.check_id="${checkId}"`),
    ),
  );
});

test('alerts: every policy notifies the on-call email channel from config', (t) => {
  const channel = one(ops, 'google_monitoring_notification_channel');
  t.is(channel['type'], 'email');
  t.is(at(channel, 'labels.email_address'), config.alertEmail);
  t.true(policies.length >= 4);
  for (const policy of policies)
    t.deepEqual(policy['notification_channels'], [
      refTo(ops, 'google_monitoring_notification_channel', channel, 'name'),
    ]);
});

test('alerts: the journal-loss alert matches the line the shutdown script prints', (t) => {
  const script = readFileSync(new URL('../../terraform/scripts/shutdown.sh', import.meta.url), 'utf8');
  const [prefix, message] = JOURNAL_LOSS_LINE.split(': ');
  t.true(script.includes(`log() { echo "${String(prefix)}: $*"; }`));
  t.true(script.includes(`log "${String(message)}:`));
  const filters = policies.map((p) => String(at(p, 'conditions.0.condition_matched_log.filter')));
  const filter = filters.find((f) => f.includes(`"${JOURNAL_LOSS_LINE}"`));
  // Shutdown-script output arrives through the guest agent in the log google_metadata_script_runner as
  // jsonPayload.message; a textPayload filter never matches it.
  t.is(
    filter,
    `resource.type="gce_instance" log_id("google_metadata_script_runner") jsonPayload.message:"${JOURNAL_LOSS_LINE}"`,
  );
  t.false(filters.some((f) => f.includes('textPayload')));
});
