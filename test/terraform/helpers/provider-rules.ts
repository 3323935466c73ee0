// The allowed values and cross-field rules of the google provider 6.50.0 (and
// of the APIs behind it) that this configuration depends on, written from the
// provider's documentation (website/docs/r/<resource>.html.markdown at tag
// v6.50.0; page named on each rule). The bindings type these fields as
// `string`, so neither the compiler nor a synth rejects an invalid value: a
// plan would. Each rule returns the problems it finds in one synthesized stack.

import { at, type Block, type TfJson } from './synth.js';

type Rule = (type: string, name: string, block: Block) => string[];

const oneOf = (where: string, value: unknown, allowed: readonly unknown[]): string[] =>
  value === undefined || allowed.includes(value)
    ? []
    : [`${where}: ${JSON.stringify(value)} not in ${allowed.join('|')}`];

const inRange = (where: string, value: unknown, min: number, max: number): string[] =>
  value === undefined || (typeof value === 'number' && value >= min && value <= max)
    ? []
    : [`${where}: ${JSON.stringify(value)} outside [${min}, ${max}]`];

/** RFC 1035 names, 1-63 characters (every compute resource's `name`). */
const RFC1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Preconfigured WAF rule sets (Cloud Armor, cloud.google.com/armor/docs/waf-rules; the provider
 * passes the expression through unchecked: r/compute_security_policy, `match.expr`).
 */
export const WAF_RULE_SET_NAMES: readonly string[] = [
  'sqli-v33-stable',
  'xss-v33-stable',
  'lfi-v33-stable',
  'rfi-v33-stable',
  'rce-v33-stable',
  'methodenforcement-v33-stable',
  'scannerdetection-v33-stable',
  'protocolattack-v33-stable',
  'php-v33-stable',
  'sessionfixation-v33-stable',
  'java-v33-stable',
  'nodejs-v33-stable',
  'cve-canary',
  'json-sqli-canary',
];

// r/compute_region_instance_group_manager: update_policy.
const mig: Rule = (type, name, b) => {
  if (type !== 'google_compute_region_instance_group_manager') return [];
  const w = `${name}.update_policy`;
  const p = (at(b, 'update_policy') ?? {}) as Block;
  const zones = (b['distribution_policy_zones'] as unknown[] | undefined)?.length ?? 3;
  const surge = (p['max_surge_fixed'] as number | undefined) ?? 0;
  const unavailable = (p['max_unavailable_fixed'] as number | undefined) ?? 0;
  const problems = [
    ...oneOf(`${w}.type`, p['type'], ['PROACTIVE', 'OPPORTUNISTIC']),
    ...oneOf(`${w}.minimal_action`, p['minimal_action'], ['NONE', 'REFRESH', 'RESTART', 'REPLACE']),
    ...oneOf(`${w}.most_disruptive_allowed_action`, p['most_disruptive_allowed_action'], [
      'NONE',
      'REFRESH',
      'RESTART',
      'REPLACE',
    ]),
    ...oneOf(`${w}.replacement_method`, p['replacement_method'], ['RECREATE', 'SUBSTITUTE']),
    ...oneOf(`${w}.instance_redistribution_type`, p['instance_redistribution_type'], ['PROACTIVE', 'NONE']),
    ...inRange(`${w}.min_ready_sec`, p['min_ready_sec'], 0, 3600),
    ...oneOf(`${name}.distribution_policy_target_shape`, b['distribution_policy_target_shape'], [
      'EVEN',
      'BALANCED',
      'ANY',
      'ANY_SINGLE_ZONE',
    ]),
  ];
  // "Both cannot be 0" (max_surge_fixed); a regional MIG needs 0 or at least one per zone for each.
  if (surge === 0 && unavailable === 0) problems.push(`${w}: max_surge_fixed and max_unavailable_fixed both 0`);
  for (const [key, v] of [
    ['max_surge_fixed', surge],
    ['max_unavailable_fixed', unavailable],
  ] as const)
    if (v !== 0 && v < zones) problems.push(`${w}.${key}: ${v} is neither 0 nor >= the ${zones} zones`);
  // replacement_method: "If RECREATE ... You must also set max_unavailable_fixed or max_unavailable_percent
  // to be greater than 0"; the API also refuses a surge with RECREATE (names are kept, so no extra VM can exist).
  if (p['replacement_method'] === 'RECREATE' && (unavailable === 0 || surge !== 0))
    problems.push(`${w}: replacement_method RECREATE needs max_unavailable > 0 and max_surge 0`);
  if (p['min_ready_sec'] !== undefined && b['provider'] !== 'google-beta')
    problems.push(`${name}: min_ready_sec is beta-only; the resource must use the google-beta provider`);
  return problems;
};

// r/compute_security_policy: action, rate_limit_options, advanced_options_config, type.
const armor: Rule = (type, name, b) => {
  if (type !== 'google_compute_security_policy') return [];
  const problems = [
    ...oneOf(`${name}.type`, b['type'], ['CLOUD_ARMOR', 'CLOUD_ARMOR_EDGE', 'CLOUD_ARMOR_INTERNAL_SERVICE']),
    ...oneOf(`${name}.advanced_options_config.json_parsing`, at(b, 'advanced_options_config.json_parsing'), [
      'DISABLED',
      'STANDARD',
      'STANDARD_WITH_GRAPHQL',
    ]),
  ];
  for (const rule of (b['rule'] as Block[] | undefined) ?? []) {
    const w = `${name}.rule[${String(rule['priority'])}]`;
    const action = String(rule['action']);
    if (!/^(allow|deny\((403|404|502)\)|throttle|rate_based_ban|redirect)$/.test(action))
      problems.push(`${w}.action: ${action} is not allow, deny(403|404|502), throttle, rate_based_ban or redirect`);
    if ((action === 'throttle' || action === 'rate_based_ban') && rule['rate_limit_options'] === undefined)
      problems.push(`${w}: ${action} requires rate_limit_options`);
    problems.push(
      ...oneOf(`${w}.rate_limit_options.enforce_on_key`, at(rule, 'rate_limit_options.enforce_on_key'), [
        'ALL',
        'IP',
        'HTTP_HEADER',
        'XFF_IP',
        'HTTP_COOKIE',
        'HTTP_PATH',
        'SNI',
        'REGION_CODE',
        'TLS_JA3_FINGERPRINT',
        'TLS_JA4_FINGERPRINT',
        'USER_IP',
      ]),
    );
    const exceed = JSON.stringify(at(rule, 'rate_limit_options.exceed_action') ?? 'deny(429)');
    if (!/^"deny\((403|404|429|502)\)"$/.test(exceed))
      problems.push(`${w}.rate_limit_options.exceed_action: ${exceed} is not deny(403|404|429|502)`);
    const expr = at(rule, 'match.expr.expression');
    const expression = typeof expr === 'string' ? expr : '';
    for (const m of expression.matchAll(/evaluatePreconfiguredWaf\('([^']+)'/g))
      if (!WAF_RULE_SET_NAMES.includes(m[1] ?? '')) problems.push(`${w}: no preconfigured WAF rule set "${m[1]}"`);
  }
  return problems;
};

// r/sql_database_instance: settings.*, backup_configuration, ip_configuration.
const sql: Rule = (type, name, b) => {
  if (type !== 'google_sql_database_instance') return [];
  const s = (b['settings'] ?? {}) as Block;
  const plus = s['edition'] === 'ENTERPRISE_PLUS';
  const problems = [
    ...oneOf(`${name}.edition`, s['edition'], ['ENTERPRISE', 'ENTERPRISE_PLUS']),
    ...oneOf(`${name}.availability_type`, s['availability_type'], ['ZONAL', 'REGIONAL']),
    ...oneOf(`${name}.disk_type`, s['disk_type'], ['PD_SSD', 'PD_HDD', 'HYPERDISK_BALANCED']),
    ...oneOf(`${name}.ip_configuration.ssl_mode`, at(s, 'ip_configuration.ssl_mode'), [
      'ALLOW_UNENCRYPTED_AND_ENCRYPTED',
      'ENCRYPTED_ONLY',
      'TRUSTED_CLIENT_CERTIFICATE_REQUIRED',
    ]),
    ...oneOf(`${name}.ip_configuration.server_ca_mode`, at(s, 'ip_configuration.server_ca_mode'), [
      'GOOGLE_MANAGED_INTERNAL_CA',
      'GOOGLE_MANAGED_CAS_CA',
      'CUSTOMER_MANAGED_CAS_CA',
    ]),
    ...oneOf(`${name}.maintenance_window.update_track`, at(s, 'maintenance_window.update_track'), [
      'canary',
      'stable',
      'week5',
    ]),
    ...inRange(`${name}.maintenance_window.day`, at(s, 'maintenance_window.day'), 1, 7),
    ...inRange(
      `${name}.backup_configuration.transaction_log_retention_days`,
      at(s, 'backup_configuration.transaction_log_retention_days'),
      1,
      plus ? 35 : 7,
    ),
    ...oneOf(
      `${name}.backup_retention_settings.retention_unit`,
      at(s, 'backup_configuration.backup_retention_settings.retention_unit'),
      ['COUNT'],
    ),
  ];
  if (plus && !/^db-perf-optimized-N-\d+$/.test(String(s['tier'])))
    problems.push(`${name}: ENTERPRISE_PLUS needs a db-perf-optimized-N-* tier (got ${String(s['tier'])})`);
  const retained = at(s, 'backup_configuration.backup_retention_settings.retained_backups');
  const logDays = at(s, 'backup_configuration.transaction_log_retention_days');
  if (typeof retained === 'number' && typeof logDays === 'number' && retained <= logDays)
    problems.push(`${name}: retained_backups (${retained}) must exceed transaction_log_retention_days (${logDays})`);
  if (b['master_instance_name'] !== undefined && at(s, 'backup_configuration.enabled') === true)
    problems.push(`${name}: a read replica cannot have backups enabled`);
  if (at(s, 'ip_configuration.ipv4_enabled') === false && at(s, 'ip_configuration.private_network') === undefined)
    problems.push(`${name}: ipv4_enabled false needs a private_network`);
  return problems;
};

// r/compute_backend_service, r/compute_ssl_policy, r/compute_url_map, r/compute_managed_ssl_certificate.
const edge: Rule = (type, name, b) => {
  switch (type) {
    case 'google_compute_backend_service':
      return [
        ...oneOf(`${name}.load_balancing_scheme`, b['load_balancing_scheme'], [
          'EXTERNAL',
          'INTERNAL_SELF_MANAGED',
          'INTERNAL_MANAGED',
          'EXTERNAL_MANAGED',
        ]),
        ...oneOf(`${name}.protocol`, b['protocol'], [
          'HTTP',
          'HTTPS',
          'HTTP2',
          'TCP',
          'SSL',
          'UDP',
          'GRPC',
          'UNSPECIFIED',
          'H2C',
        ]),
        ...((b['backend'] as Block[] | undefined) ?? []).flatMap((x) =>
          oneOf(`${name}.backend.balancing_mode`, x['balancing_mode'], [
            'UTILIZATION',
            'RATE',
            'CONNECTION',
            'CUSTOM_METRICS',
          ]),
        ),
      ];
    case 'google_compute_ssl_policy':
      return [
        ...oneOf(`${name}.profile`, b['profile'], ['COMPATIBLE', 'MODERN', 'RESTRICTED', 'CUSTOM']),
        ...oneOf(`${name}.min_tls_version`, b['min_tls_version'], ['TLS_1_0', 'TLS_1_1', 'TLS_1_2']),
      ];
    case 'google_compute_url_map': {
      const aborts = [...JSON.stringify(b).matchAll(/"abort":\{"http_status":(\d+),"percentage":([\d.]+)\}/g)];
      return aborts.flatMap((m) => [
        ...inRange(`${name}.abort.http_status`, Number(m[1]), 200, 599),
        ...inRange(`${name}.abort.percentage`, Number(m[2]), 0, 100),
      ]);
    }
    default:
      return [];
  }
};

// Every compute-style `name`: RFC 1035, at most 63 characters (e.g. r/compute_managed_ssl_certificate `name`).
const names: Rule = (type, name, b) => {
  if (!type.startsWith('google_compute_') || typeof b['name'] !== 'string' || String(b['name']).includes('${'))
    return [];
  return RFC1035.test(String(b['name'])) ? [] : [`${name}.name: "${String(b['name'])}" is not an RFC 1035 name`];
};

// r/monitoring_alert_policy, r/monitoring_slo, r/monitoring_uptime_check_config.
const monitoring: Rule = (type, name, b) => {
  if (type === 'google_monitoring_alert_policy') {
    const conditions = (b['conditions'] as Block[] | undefined) ?? [];
    return [
      ...oneOf(`${name}.combiner`, b['combiner'], ['AND', 'OR', 'AND_WITH_MATCHING_RESOURCE']),
      ...oneOf(`${name}.severity`, b['severity'], ['CRITICAL', 'ERROR', 'WARNING']),
      ...conditions.flatMap((c) =>
        oneOf(`${name}.comparison`, at(c, 'condition_threshold.comparison'), [
          'COMPARISON_GT',
          'COMPARISON_GE',
          'COMPARISON_LT',
          'COMPARISON_LE',
          'COMPARISON_EQ',
          'COMPARISON_NE',
        ]),
      ),
      // A log-match condition needs a notification rate limit (alert_strategy.notification_rate_limit).
      ...(conditions.some((c) => c['condition_matched_log'] !== undefined) &&
      at(b, 'alert_strategy.notification_rate_limit.period') === undefined
        ? [`${name}: a condition_matched_log policy needs alert_strategy.notification_rate_limit`]
        : []),
    ];
  }
  if (type === 'google_monitoring_slo') {
    const problems = [
      ...oneOf(`${name}.calendar_period`, b['calendar_period'], ['DAY', 'WEEK', 'FORTNIGHT', 'MONTH']),
      ...inRange(`${name}.rolling_period_days`, b['rolling_period_days'], 1, 30),
    ];
    if ((b['calendar_period'] === undefined) === (b['rolling_period_days'] === undefined))
      problems.push(`${name}: exactly one of calendar_period and rolling_period_days`);
    return problems;
  }
  if (type === 'google_monitoring_uptime_check_config') {
    const h = (b['http_check'] ?? {}) as Block;
    const problems = [
      ...oneOf(`${name}.request_method`, h['request_method'], ['METHOD_UNSPECIFIED', 'GET', 'POST']),
      ...oneOf(`${name}.content_type`, h['content_type'], ['TYPE_UNSPECIFIED', 'URL_ENCODED', 'USER_PROVIDED']),
    ];
    if ((h['content_type'] === 'USER_PROVIDED') !== (h['custom_content_type'] !== undefined))
      problems.push(`${name}: custom_content_type is set exactly when content_type is USER_PROVIDED`);
    return problems;
  }
  return [];
};

export const RULES: readonly Rule[] = [mig, armor, sql, edge, names, monitoring];

/** Every problem of every resource of one stack. */
export function providerProblems(stack: TfJson): string[] {
  return Object.entries(stack.resource ?? {}).flatMap(([type, blocks]) =>
    Object.entries(blocks).flatMap(([name, block]) => RULES.flatMap((rule) => rule(type, name, block))),
  );
}
