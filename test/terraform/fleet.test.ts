// Policy: the API fleet survives a zone, heals itself, scales for the peak
// with a zone lost, and rolls with zero unavailable instances.

import test from 'ava';
import { at, list, num, one, prodConfig, refTo, resources, synth } from './helpers/synth.js';

const config = prodConfig();
const { fleet } = synth(config);
const group = one(fleet, 'google_compute_region_instance_group_manager');
const zones = list(at(group, 'distribution_policy_zones'));

test('fleet MIG: spans at least three distinct zones of its own region', (t) => {
  t.true(zones.length >= 3);
  t.is(new Set(zones).size, zones.length);
  for (const zone of zones) t.regex(String(zone), new RegExp(`^${String(group['region'])}-[a-z]$`));
});

test('fleet MIG: distribution target shape is EVEN', (t) => {
  t.is(group['distribution_policy_target_shape'], 'EVEN');
});

test('fleet MIG: autohealing probes /healthz conservatively after a delay that covers boot', (t) => {
  const check = one(fleet, 'google_compute_health_check');
  t.is(at(group, 'auto_healing_policies.health_check'), refTo(fleet, 'google_compute_health_check', check, 'id'));
  t.true(num(at(group, 'auto_healing_policies.initial_delay_sec')) >= 120);
  t.is(at(check, 'http_health_check.request_path'), '/healthz');
  t.is(at(check, 'http_health_check.port'), 8080);
  t.true(num(check['unhealthy_threshold']) >= 3, 'a VM is repaired only after several failures in a row');
  t.true(num(check['check_interval_sec']) >= 10);
});

test('fleet MIG: update policy is PROACTIVE REPLACE with maxUnavailable 0 and maxSurge >= zones', (t) => {
  t.is(at(group, 'update_policy.type'), 'PROACTIVE');
  t.is(at(group, 'update_policy.minimal_action'), 'REPLACE');
  t.is(at(group, 'update_policy.max_unavailable_fixed'), 0);
  t.true(num(at(group, 'update_policy.max_surge_fixed')) >= zones.length);
  t.is(at(group, 'update_policy.max_unavailable_percent'), undefined);
});

test('fleet MIG: repairs use the current template and apply waits for the rollout', (t) => {
  t.is(at(group, 'instance_lifecycle_policy.force_update_on_repair'), 'YES');
  t.is(group['wait_for_instances'], true);
  t.is(group['wait_for_instances_status'], 'UPDATED');
});

test('fleet autoscaler: one VM per zone minimum, and the surviving zones can carry the peak', (t) => {
  const scaler = one(fleet, 'google_compute_region_autoscaler');
  const policy = at(scaler, 'autoscaling_policy');
  const max = num(at(policy, 'max_replicas'));
  const target = num(at(policy, 'load_balancing_utilization.target'));
  t.is(at(policy, 'min_replicas'), zones.length);
  t.true(
    target <= (zones.length - 1) / zones.length,
    'a zone loss pushes the rest to target * zones / (zones - 1) <= 100 %',
  );
  const survivingMax = (max / zones.length) * (zones.length - 1);
  t.true(survivingMax * config.fleet.instanceCapacityRps * target >= config.fleet.peakRps);
  t.true(num(at(policy, 'scale_in_control.max_scaled_in_replicas.fixed')) >= 1);
  t.true(num(at(policy, 'scale_in_control.time_window_sec')) >= 300);
});

test('fleet MIG: without a canary there is exactly one version, on the pinned image', (t) => {
  const [version, ...rest] = list(group['version']);
  const template = one(fleet, 'google_compute_instance_template');
  t.deepEqual(rest, []);
  t.is(
    at(version, 'instance_template'),
    refTo(fleet, 'google_compute_instance_template', template, 'self_link_unique'),
  );
  t.is(at(template, 'disk.0.source_image'), `projects/${config.imageProject}/global/images/${config.release.image}`);
});

test('fleet MIG: a canary release runs a second version at its target size', (t) => {
  const canaryImage = 'counter-api-8d0e7c6b5a49-20261201t090000';
  for (const [size, targetSize] of [
    ['10%', { percent: 10 }],
    ['2', { fixed: 2 }],
  ] as const) {
    const withCanary = synth(
      prodConfig({ release: { image: config.release.image, canary: { image: canaryImage, size } } }),
    ).fleet;
    const versions = list(at(one(withCanary, 'google_compute_region_instance_group_manager'), 'version'));
    const images = resources(withCanary, 'google_compute_instance_template').map((b) => at(b, 'disk.0.source_image'));
    t.is(versions.length, 2);
    t.is(at(versions[1], 'name'), 'canary');
    t.deepEqual(at(versions[1], 'target_size'), targetSize);
    t.is(at(versions[0], 'target_size'), undefined, 'the stable version takes the rest');
    t.deepEqual(
      images.sort(),
      [config.release.image, canaryImage].map((i) => `projects/${config.imageProject}/global/images/${i}`).sort(),
    );
  }
});

test('fleet templates: name_prefix with create_before_destroy, so a new image never deletes the live template first', (t) => {
  for (const template of resources(fleet, 'google_compute_instance_template')) {
    t.is(template['name'], undefined);
    t.regex(String(template['name_prefix']), /^[a-z][-a-z0-9]{0,36}-$/);
    t.is(at(template, 'lifecycle.create_before_destroy'), true);
  }
});
