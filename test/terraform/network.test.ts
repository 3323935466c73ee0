// Policy: a private, custom-mode network whose instances reach Google APIs
// without external IPs and reach Cloud SQL over private services access.

import test from 'ava';
import {
  addressOf,
  at,
  list,
  one,
  oneRegionConfig,
  refTo,
  resources,
  synth,
  twoRegionConfig,
} from './helpers/synth.js';

const { base } = synth(oneRegionConfig());

test('network: custom-mode VPC with global routing', (t) => {
  const vpc = one(base, 'google_compute_network');
  t.is(vpc['auto_create_subnetworks'], false);
  t.is(vpc['routing_mode'], 'GLOBAL');
});

test('network: every subnet, in every region, has Private Google Access and flow logs', (t) => {
  const subnets = resources(synth(twoRegionConfig()).base, 'google_compute_subnetwork');
  t.deepEqual(
    subnets.map((s) => s['region']),
    ['europe-west1', 'europe-west1', 'europe-west4'],
  );
  for (const subnet of subnets) {
    t.is(subnet['private_ip_google_access'], true);
    t.truthy(at(subnet, 'log_config.metadata'));
  }
});

test('network: private services access peering reserves the services range for Cloud SQL', (t) => {
  const range = one(base, 'google_compute_global_address');
  const peering = one(base, 'google_service_networking_connection');
  t.is(range['purpose'], 'VPC_PEERING');
  t.is(range['address_type'], 'INTERNAL');
  t.is(peering['service'], 'servicenetworking.googleapis.com');
  t.deepEqual(peering['reserved_peering_ranges'], [refTo(base, 'google_compute_global_address', range, 'name')]);
  const sql = one(base, 'google_sql_database_instance');
  t.true(
    list(sql['depends_on']).includes(addressOf(base, 'google_service_networking_connection', peering)),
    'Cloud SQL waits for the peering',
  );
});

test('network: Cloud NAT serves the image build subnet only, so the fleet has no route to the internet', (t) => {
  const nat = one(base, 'google_compute_router_nat');
  const build = resources(base, 'google_compute_subnetwork').find((s) => String(s['name']).endsWith('-build'));
  t.is(nat['source_subnetwork_ip_ranges_to_nat'], 'LIST_OF_SUBNETWORKS');
  t.deepEqual(
    list(nat['subnetwork']).map((s) => at(s, 'name')),
    [refTo(base, 'google_compute_subnetwork', build ?? {}, 'id')],
  );
  t.is(resources(base, 'google_compute_router').length, 1);
});
