// Allowed values and cross-field rules of the google provider 6.50.0 that the
// stacks depend on (helpers/provider-rules.ts, written from the provider's
// documentation). Every synthesized variant must pass; and each rule is shown
// to catch the mistake it exists for, on a copy of the real JSON with one
// field changed (the review's RECREATE-with-surge and nonexistent WAF set
// passed every other test).

import test from 'ava';
import { providerProblems, WAF_RULE_SET_NAMES } from './helpers/provider-rules.js';
import { LAYERS, oneRegionConfig, prodConfig, synth, type Block, type TfJson } from './helpers/synth.js';

const canary = {
  image: 'counter-api-3f9c2a1b4d5e-20261129t101500',
  canary: { image: 'counter-api-8d0e7c6b5a49-20261201t090000', size: '10%' },
};
const prod = synth(prodConfig());

/** A deep copy of a stack with the first block of `type` changed by `edit`. */
function mutate(stack: TfJson, type: string, edit: (b: Record<string, unknown>) => void): TfJson {
  const copy = JSON.parse(JSON.stringify(stack)) as { resource: Record<string, Record<string, Block>> };
  const first = Object.values(copy.resource[type] ?? {})[0];
  if (first === undefined) throw new Error(`no ${type}`);
  edit(first);
  return copy;
}

test('provider rules: every stack of every variant uses only allowed values and consistent fields', (t) => {
  for (const variant of [prod, synth(oneRegionConfig()), synth(prodConfig({ release: canary }))])
    for (const layer of LAYERS) t.deepEqual(providerProblems(variant[layer]), [], layer);
});

test('provider rules: the WAF rule sets the policy uses all exist', (t) => {
  t.true(WAF_RULE_SET_NAMES.includes('sqli-v33-stable'));
  const bad = mutate(prod.edge, 'google_compute_security_policy', (b) => {
    const rules = b['rule'] as { match: { expr?: { expression: string } } }[];
    const waf = rules.find((r) => r.match.expr !== undefined);
    if (waf?.match.expr)
      waf.match.expr.expression = "evaluatePreconfiguredWaf('graphql-v33-stable', {'sensitivity': 1})";
  });
  t.regex(providerProblems(bad).join('\n'), /no preconfigured WAF rule set "graphql-v33-stable"/);
});

test('provider rules: RECREATE with a surge, a partial surge, or min_ready_sec off google-beta are caught', (t) => {
  const type = 'google_compute_region_instance_group_manager';
  const recreate = mutate(prod.fleet, type, (b) => {
    (b['update_policy'] as Record<string, unknown>)['replacement_method'] = 'RECREATE';
  });
  t.regex(
    providerProblems(recreate).join('\n'),
    /replacement_method RECREATE needs max_unavailable > 0 and max_surge 0/,
  );
  const partial = mutate(prod.fleet, type, (b) => {
    (b['update_policy'] as Record<string, unknown>)['max_surge_fixed'] = 2;
  });
  t.regex(providerProblems(partial).join('\n'), /max_surge_fixed: 2 is neither 0 nor >= the 3 zones/);
  const ga = mutate(prod.fleet, type, (b) => {
    delete b['provider'];
  });
  t.regex(providerProblems(ga).join('\n'), /min_ready_sec is beta-only/);
  const typo = mutate(prod.fleet, type, (b) => {
    (b['update_policy'] as Record<string, unknown>)['minimal_action'] = 'REPLACE_ALL';
  });
  t.regex(providerProblems(typo).join('\n'), /minimal_action: "REPLACE_ALL" not in/);
});

test('provider rules: Cloud SQL backups, replica backups and enum typos are caught', (t) => {
  const type = 'google_sql_database_instance';
  const backups = mutate(prod.base, type, (b) => {
    const backup = (b['settings'] as Record<string, Record<string, unknown>>)['backup_configuration'] ?? {};
    backup['transaction_log_retention_days'] = 30;
  });
  t.regex(
    providerProblems(backups).join('\n'),
    /retained_backups \(14\) must exceed transaction_log_retention_days \(30\)/,
  );
  const mode = mutate(prod.base, type, (b) => {
    ((b['settings'] as Record<string, Record<string, unknown>>)['ip_configuration'] ?? {})['ssl_mode'] = 'REQUIRE';
  });
  t.regex(providerProblems(mode).join('\n'), /ssl_mode: "REQUIRE" not in/);
});

test('provider rules: edge and monitoring enums and cross-field rules are caught', (t) => {
  const ssl = mutate(prod.edge, 'google_compute_ssl_policy', (b) => {
    b['min_tls_version'] = 'TLS_1_3';
  });
  t.regex(providerProblems(ssl).join('\n'), /min_tls_version: "TLS_1_3" not in/);
  const slo = mutate(prod.ops, 'google_monitoring_slo', (b) => {
    b['rolling_period_days'] = 28;
  });
  t.regex(providerProblems(slo).join('\n'), /exactly one of calendar_period and rolling_period_days/);
  const uptime = mutate(prod.ops, 'google_monitoring_uptime_check_config', (b) => {
    delete (b['http_check'] as Record<string, unknown>)['custom_content_type'];
  });
  t.regex(providerProblems(uptime).join('\n'), /custom_content_type is set exactly when content_type is USER_PROVIDED/);
  const cert = mutate(prod.edge, 'google_compute_managed_ssl_certificate', (b) => {
    b['name'] = 'Counter_Cert';
  });
  t.regex(providerProblems(cert).join('\n'), /is not an RFC 1035 name/);
});
