// Policy: Cloud SQL is highly available (Enterprise Plus, REGIONAL), private,
// encrypted in transit, recoverable to any point in the log window, hard to
// delete, and no credential of it ever appears in Terraform.

import test from 'ava';
import { at, list, num, one, oneRegionConfig, resources, synth, LAYERS } from './helpers/synth.js';

const all = synth(oneRegionConfig());
const sql = one(all, 'google_sql_database_instance');
const settings = at(sql, 'settings');

test('Cloud SQL: Enterprise Plus edition with REGIONAL availability on a dedicated-core tier', (t) => {
  t.is(at(settings, 'edition'), 'ENTERPRISE_PLUS');
  t.is(at(settings, 'availability_type'), 'REGIONAL');
  t.regex(String(at(settings, 'tier')), /^db-perf-optimized-N-\d+$/);
  t.not(at(settings, 'location_preference.zone'), at(settings, 'location_preference.secondary_zone'));
});

test('Cloud SQL: private IP only, on the VPC', (t) => {
  t.is(at(settings, 'ip_configuration.ipv4_enabled'), false);
  t.regex(String(at(settings, 'ip_configuration.private_network')), /^\$\{google_compute_network\.[^.]+\.id\}$/);
  t.is(at(settings, 'ip_configuration.authorized_networks'), undefined);
});

test('Cloud SQL: only encrypted connections are accepted', (t) => {
  t.is(at(settings, 'ip_configuration.ssl_mode'), 'ENCRYPTED_ONLY');
});

test('Cloud SQL: automated backups with point-in-time recovery', (t) => {
  t.is(at(settings, 'backup_configuration.enabled'), true);
  t.is(at(settings, 'backup_configuration.point_in_time_recovery_enabled'), true);
  t.true(num(at(settings, 'backup_configuration.transaction_log_retention_days')) >= 1);
  t.true(num(at(settings, 'backup_configuration.backup_retention_settings.retained_backups')) >= 7);
});

test('Cloud SQL: deletion protection in the API, in Terraform and in the lifecycle; backups outlive the instance', (t) => {
  t.is(sql['deletion_protection'], true);
  t.is(at(settings, 'deletion_protection_enabled'), true);
  t.is(at(sql, 'lifecycle.prevent_destroy'), true);
  t.is(at(settings, 'retain_backups_on_delete'), true);
  t.is(at(one(all, 'google_sql_database'), 'deletion_policy'), 'ABANDON');
});

test('Cloud SQL: a pinned maintenance window on the stable track', (t) => {
  t.true(num(at(settings, 'maintenance_window.day')) >= 1);
  t.is(typeof at(settings, 'maintenance_window.hour'), 'number');
  t.is(at(settings, 'maintenance_window.update_track'), 'stable');
});

test('Cloud SQL: flags bound an idle transaction holding the counter row and log slow statements', (t) => {
  const flags = new Map(list(at(settings, 'database_flags')).map((f) => [at(f, 'name'), at(f, 'value')]));
  t.is(flags.get('idle_in_transaction_session_timeout'), '60000');
  t.is(flags.get('log_min_duration_statement'), '1000');
});

test('credentials: no password, secret value or key is written into any stack', (t) => {
  t.is(sql['root_password'], undefined);
  for (const type of [
    'google_sql_user',
    'google_secret_manager_secret_version',
    'google_service_account_key',
    'random_password',
  ]) {
    t.deepEqual(resources(all, type), [], type);
  }
  for (const layer of LAYERS) t.notRegex(JSON.stringify(all[layer]), /"password"|secret_data|private_key/, layer);
});
