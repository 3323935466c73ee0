// Policy: adding a region to the config adds a whole regional fleet behind
// the same global load balancer, and nothing else doubles.

import test from 'ava';
import { at, list, one, prodConfig, resources, synth, twoRegionConfig, type Synth } from './helpers/synth.js';

const single = synth(prodConfig());
const double = synth(twoRegionConfig());
const count = (s: Synth, type: string) => resources(s, type).length;

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

test('second region: still one Cloud SQL instance, in the primary region', (t) => {
  t.is(count(double, 'google_sql_database_instance'), 1);
  t.is(one(double, 'google_sql_database_instance')['region'], 'europe-west1');
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
