// Policy: production is two regions behind the one global load balancer: a
// whole regional fleet in each, each sized to carry the peak alone, Cloud SQL
// primary in the first region with a cross-region read replica in the second
// for disaster recovery, and the fleet reaching the writer by a private DNS
// name that a promotion re-points. The single-region profile (the same file
// cut to one region) keeps one of everything and no replica.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { WRITER_TTL_SEC } from '../../terraform/constructs/database.js';
import {
  at,
  list,
  one,
  oneRegionConfig,
  prodConfig,
  refTo,
  resources,
  synth,
  type Block,
  type Synth,
} from './helpers/synth.js';

const config = prodConfig();
const single = synth(oneRegionConfig());
const double = synth(config);
/** Resources of a type, the image build subnet (one, primary region) left out. */
const count = (s: Synth, type: string) =>
  resources(s, type).filter((b) => !String(b['name']).endsWith('-build')).length;
const sqlByRegion = (s: Synth, region: string) =>
  resources(s, 'google_sql_database_instance').find((i) => i['region'] === region) as Block;

test('prod: the committed environment is two regions, the database primary in the first', (t) => {
  t.deepEqual(
    config.regions.map((r) => r.region),
    ['europe-west1', 'europe-west4'],
  );
  t.is(config.database.primaryRegion, 'europe-west1');
  t.is(config.database.replicaRegion, 'europe-west4');
  const stage = JSON.parse(readFileSync(new URL('../../terraform/envs/stage.json', import.meta.url), 'utf8')) as {
    regions: unknown[];
    database: { replicaRegion: unknown };
  };
  t.is(stage.regions.length, 1, 'the single-region profile is kept for cheaper environments');
  t.is(stage.database.replicaRegion, null);
});

test('second region: doubles MIGs, autoscalers, autohealing checks, templates and subnets', (t) => {
  for (const type of [
    'google_compute_region_instance_group_manager',
    'google_compute_region_autoscaler',
    'google_compute_instance_template',
    'google_compute_subnetwork',
  ]) {
    t.is(count(single, type), 1, type);
    t.is(count(double, type), 2, type);
  }
  const autoheal = (s: Synth) => resources(s.fleet, 'google_compute_health_check').length;
  t.is(autoheal(double), 2 * autoheal(single));
  t.deepEqual(
    resources(double, 'google_compute_region_instance_group_manager').map((g) => g['region']),
    ['europe-west1', 'europe-west4'],
  );
});

test('second region: one global load balancer whose backend service has one backend per region', (t) => {
  for (const type of [
    'google_compute_backend_service',
    'google_compute_url_map',
    'google_compute_global_forwarding_rule',
    'google_compute_security_policy',
  ]) {
    t.is(count(double, type), count(single, type), type);
  }
  t.is(list(at(one(double.edge, 'google_compute_backend_service'), 'backend')).length, 2);
  t.is(Object.keys(double.edge.data?.['google_compute_region_instance_group_manager'] ?? {}).length, 2);
});

test('DR: a cross-region read replica of the primary, same edition, tier and HA, no backups of its own', (t) => {
  t.is(count(single, 'google_sql_database_instance'), 1);
  t.is(count(double, 'google_sql_database_instance'), 2);
  const primary = sqlByRegion(double, 'europe-west1');
  const replica = sqlByRegion(double, 'europe-west4');
  t.is(replica['master_instance_name'], refTo(double.base, 'google_sql_database_instance', primary, 'name'));
  t.is(replica['instance_type'], 'READ_REPLICA_INSTANCE');
  t.is(primary['master_instance_name'], undefined);
  for (const key of ['edition', 'tier', 'availability_type', 'ip_configuration'])
    t.deepEqual(at(replica, `settings.${key}`), at(primary, `settings.${key}`), key);
  t.is(replica['deletion_protection'], true);
  t.is(at(replica, 'lifecycle.prevent_destroy'), true);
  // A read replica cannot take backups or PITR (provider 6.50.0 docs, r/sql_database_instance, backup_configuration;
  // Cloud SQL: "backups are not supported for read replicas"): the replica's are off, the primary's on.
  t.is(at(replica, 'settings.backup_configuration.enabled'), false);
  t.is(at(primary, 'settings.backup_configuration.enabled'), true);
  t.regex(String(at(replica, 'settings.location_preference.zone')), /^europe-west4-/);
});

test('DR: the fleet reaches the writer by a private DNS name, and trusts the server CA of both instances', (t) => {
  const zone = one(double.base, 'google_dns_managed_zone');
  const record = one(double.base, 'google_dns_record_set');
  t.is(zone['visibility'], 'private');
  t.is(list(at(zone, 'private_visibility_config.networks'))[0] !== undefined, true);
  t.is(record['type'], 'A');
  t.is(record['ttl'], WRITER_TTL_SEC);
  t.deepEqual(record['rrdatas'], [
    refTo(double.base, 'google_sql_database_instance', sqlByRegion(double, 'europe-west1'), 'private_ip_address'),
  ]);
  t.is(record['name'], `db.${String(zone['dns_name'])}`);
  for (const template of resources(double.fleet, 'google_compute_instance_template')) {
    t.regex(
      String(at(template, 'metadata.counter-api-env')),
      new RegExp(`\\nPGHOST=db\\.${config.prefix}\\.internal\\n`),
    );
    const ca = String(at(template, 'metadata.counter-api-pg-server-ca'));
    t.is(ca.match(/server_ca_cert\[0\]\.cert/g)?.length, 2, 'the primary and the replica CA');
  }
  const lookups = Object.values(double.fleet.data?.['google_sql_database_instance'] ?? {}).map((d) => d['name']);
  t.deepEqual(
    lookups.sort(),
    [sqlByRegion(double, 'europe-west1')['name'], sqlByRegion(double, 'europe-west4')['name']].sort(),
  );
});

test('second region: each region is sized to carry the whole peak on its own', (t) => {
  const maxes = resources(double, 'google_compute_region_autoscaler').map((a) =>
    at(a, 'autoscaling_policy.max_replicas'),
  );
  t.deepEqual(maxes, [
    at(one(single, 'google_compute_region_autoscaler'), 'autoscaling_policy.max_replicas'),
    maxes[0],
  ]);
});
