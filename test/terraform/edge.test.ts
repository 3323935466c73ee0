// Policy: the public edge is one global EXTERNAL_MANAGED load balancer with a
// managed certificate, modern TLS, HTTPS only (HTTP redirects), Cloud Armor
// with a 429 rate limit and WAF rules, draining and request logs.

import test from 'ava';
import { DEFAULT_RULE_PRIORITY, THROTTLE_PRIORITY } from '../../terraform/constructs/armor-policy.js';
import { certificateName } from '../../terraform/constructs/load-balancer.js';
import { at, list, num, one, oneRegionConfig, refTo, resources, synth, type Block } from './helpers/synth.js';

const config = oneRegionConfig();
const { edge, fleet } = synth(config);
const backend = one(edge, 'google_compute_backend_service');
const rules = resources(edge, 'google_compute_global_forwarding_rule');
const ruleOnPort = (port: string) => rules.find((r) => r['port_range'] === port) as Block;
const httpsProxy = one(edge, 'google_compute_target_https_proxy');

test('edge: every load-balancing component is EXTERNAL_MANAGED (global external Application LB)', (t) => {
  t.is(backend['load_balancing_scheme'], 'EXTERNAL_MANAGED');
  t.is(rules.length, 2);
  for (const rule of rules) t.is(rule['load_balancing_scheme'], 'EXTERNAL_MANAGED');
  t.is(rules[0]?.['ip_address'], rules[1]?.['ip_address'], 'HTTP and HTTPS share one address');
});

test('edge: HTTPS uses a Google-managed certificate for the configured domain', (t) => {
  const cert = one(edge, 'google_compute_managed_ssl_certificate');
  t.deepEqual(at(cert, 'managed.domains'), [config.domain]);
  t.is(at(cert, 'lifecycle.create_before_destroy'), true);
  t.deepEqual(httpsProxy['ssl_certificates'], [refTo(edge, 'google_compute_managed_ssl_certificate', cert, 'id')]);
  t.is(ruleOnPort('443')['target'], refTo(edge, 'google_compute_target_https_proxy', httpsProxy, 'id'));
});

test('edge: SSL policy is MODERN or RESTRICTED with TLS 1.2 minimum, on the HTTPS proxy', (t) => {
  const policy = one(edge, 'google_compute_ssl_policy');
  t.true(['MODERN', 'RESTRICTED'].includes(String(policy['profile'])));
  t.is(policy['min_tls_version'], 'TLS_1_2');
  t.is(httpsProxy['ssl_policy'], refTo(edge, 'google_compute_ssl_policy', policy, 'id'));
});

test('edge: port 80 only redirects to HTTPS (308 keeps POST a POST) and never reaches the backend', (t) => {
  const httpProxy = one(edge, 'google_compute_target_http_proxy');
  const maps = resources(edge, 'google_compute_url_map');
  const redirect = maps.find((m) => httpProxy['url_map'] === refTo(edge, 'google_compute_url_map', m, 'id')) as Block;
  t.is(ruleOnPort('80')['target'], refTo(edge, 'google_compute_target_http_proxy', httpProxy, 'id'));
  t.is(at(redirect, 'default_url_redirect.https_redirect'), true);
  t.is(at(redirect, 'default_url_redirect.redirect_response_code'), 'PERMANENT_REDIRECT');
  t.is(redirect['default_service'], undefined);
});

test('edge: Cloud Armor is attached and rate-limits each client IP with 429', (t) => {
  const armor = one(edge, 'google_compute_security_policy');
  t.is(backend['security_policy'], refTo(edge, 'google_compute_security_policy', armor, 'id'));
  const throttle = list(armor['rule']).find((r) => at(r, 'action') === 'throttle');
  t.is(at(throttle, 'rate_limit_options.exceed_action'), 'deny(429)');
  t.is(at(throttle, 'rate_limit_options.conform_action'), 'allow');
  t.is(at(throttle, 'rate_limit_options.enforce_on_key'), 'IP');
  t.is(at(throttle, 'rate_limit_options.rate_limit_threshold.count'), config.edge.rateLimitPerIpPerMinute);
});

test('edge: preconfigured WAF rules deny before the throttle allows, and a default rule closes the list', (t) => {
  const armorRules = list(at(one(edge, 'google_compute_security_policy'), 'rule'));
  const waf = armorRules.filter((r) => String(at(r, 'match.expr.expression')).startsWith('evaluatePreconfiguredWaf('));
  t.true(waf.length >= 5);
  for (const rule of waf) {
    t.true(num(at(rule, 'priority')) < THROTTLE_PRIORITY, 'a conforming request stops at the throttle rule');
    t.regex(String(at(rule, 'action')), /^deny\(403\)$/);
  }
  t.true(waf.some((r) => String(at(r, 'match.expr.expression')).includes("'sqli-")));
  t.true(armorRules.some((r) => at(r, 'priority') === DEFAULT_RULE_PRIORITY));
});

test('edge: backend drains connections longer than the app drains, logs requests, balances by rate', (t) => {
  t.true(num(backend['connection_draining_timeout_sec']) >= 30);
  t.is(at(backend, 'log_config.enable'), true);
  t.true(num(at(backend, 'log_config.sample_rate')) > 0);
  for (const b of list(backend['backend'])) {
    t.is(at(b, 'balancing_mode'), 'RATE');
    t.is(at(b, 'max_rate_per_instance'), config.fleet.instanceCapacityRps);
  }
});

test('edge: the LB health check probes /readyz on the app port (drains before shutdown, waits for migrations)', (t) => {
  const check = one(edge, 'google_compute_health_check');
  t.deepEqual(backend['health_checks'], [refTo(edge, 'google_compute_health_check', check, 'id')]);
  t.is(at(check, 'http_health_check.request_path'), '/readyz');
  t.is(at(check, 'http_health_check.port'), 8080);
  t.true(num(check['timeout_sec']) <= num(check['check_interval_sec']));
});

test("edge: the backend serves the fleet stack's MIG, found by its name and region", (t) => {
  const group = Object.entries(edge.data?.['google_compute_region_instance_group_manager'] ?? {});
  const mig = one(fleet, 'google_compute_region_instance_group_manager');
  t.is(group.length, 1);
  const [name, block] = group[0] ?? ['', {}];
  t.is(block['name'], mig['name']);
  t.is(block['region'], mig['region']);
  t.deepEqual(
    list(backend['backend']).map((b) => at(b, 'group')),
    [`\${data.google_compute_region_instance_group_manager.${name}.instance_group}`],
  );
});

test('edge: the certificate name follows its domain, so a domain change creates before it destroys without a 409', (t) => {
  // Provider 6.50.0 docs, r/compute_managed_ssl_certificate: with create_before_destroy the name must change
  // with the domains (their example keys a random_id on the domains), or the new certificate collides (409).
  const cert = one(edge, 'google_compute_managed_ssl_certificate');
  const other = one(
    synth(oneRegionConfig({ file: { domain: 'api2.counter.example.com' } })).edge,
    'google_compute_managed_ssl_certificate',
  );
  t.is(cert['name'], certificateName(config.prefix, config.domain));
  t.regex(String(cert['name']), /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
  t.not(other['name'], cert['name']);
});

test('edge: a domain change can run both certificates on the proxy until the new one is ACTIVE', (t) => {
  const both = synth(oneRegionConfig({ file: { edge: { additionalDomains: ['api2.counter.example.com'] } } })).edge;
  const certs = Object.entries(both.resource?.['google_compute_managed_ssl_certificate'] ?? {});
  const domains = certs.map(([, c]) => list(at(c, 'managed.domains')));
  t.deepEqual(domains.flat().sort(), [config.domain, 'api2.counter.example.com']);
  t.true(domains.every((d) => d.length === 1));
  t.is(new Set(certs.map(([, c]) => c['name'])).size, 2);
  t.deepEqual(
    list(one(both, 'google_compute_target_https_proxy')['ssl_certificates']).sort(),
    certs.map(([name]) => `\${google_compute_managed_ssl_certificate.${name}.id}`).sort(),
  );
  // The primary domain's certificate keeps its address and body when a second one is added.
  const primary = certs.find(([, c]) => list(at(c, 'managed.domains'))[0] === config.domain);
  t.deepEqual(primary, Object.entries(edge.resource?.['google_compute_managed_ssl_certificate'] ?? {})[0]);
});

test('edge: only POST / reaches the backend; GET / is 405 and every other path 404 at the load balancer', (t) => {
  const map = resources(edge, 'google_compute_url_map').find((m) => m['default_service'] !== undefined) as Block;
  const service = refTo(edge, 'google_compute_backend_service', backend, 'id');
  const abort = (status: number) => ({ fault_injection_policy: { abort: { http_status: status, percentage: 100 } } });
  t.deepEqual(map['default_route_action'], abort(404));
  t.deepEqual(map['host_rule'], [{ hosts: ['*'], path_matcher: 'api' }]);
  const matcher = list(map['path_matcher'])[0];
  t.deepEqual(at(matcher, 'default_route_action'), abort(404));
  const rules = list(at(matcher, 'route_rules')).sort((a, b) => num(at(a, 'priority')) - num(at(b, 'priority')));
  // Rules are evaluated by priority, first match wins (provider 6.50.0 docs, r/compute_url_map: route_rules.priority).
  t.deepEqual(at(rules[0], 'match_rules'), [
    { full_path_match: '/', header_matches: [{ header_name: ':method', exact_match: 'POST' }] },
  ]);
  t.is(at(rules[0], 'service'), service);
  t.is(at(rules[0], 'route_action'), undefined, 'POST / is forwarded, never aborted');
  t.deepEqual(at(rules[1], 'match_rules'), [{ full_path_match: '/' }]);
  t.deepEqual(at(rules[1], 'route_action'), abort(405));
  t.is(rules.length, 2, 'no other path (/metrics, /readyz, /healthz) is forwarded');
});

test('edge: Cloud Armor parses JSON bodies so the WAF rules see the values', (t) => {
  t.is(at(one(edge, 'google_compute_security_policy'), 'advanced_options_config.json_parsing'), 'STANDARD');
});

test('edge: a region in edge.excludeRegions leaves the backend service, so its MIG can be deleted', (t) => {
  const regions = [
    ...(oneRegionConfig().regions as unknown[]),
    {
      region: 'europe-west4',
      zones: ['europe-west4-a', 'europe-west4-b', 'europe-west4-c'],
      subnetCidr: '10.20.0.0/20',
    },
  ];
  const drained = synth(oneRegionConfig({ file: { regions, edge: { excludeRegions: ['europe-west1'] } } })).edge;
  const groups = Object.values(drained.data?.['google_compute_region_instance_group_manager'] ?? {});
  t.deepEqual(
    groups.map((g) => g['region']),
    ['europe-west4'],
  );
  t.is(list(at(one(drained, 'google_compute_backend_service'), 'backend')).length, 1);
});
