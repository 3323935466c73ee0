// Policy: the API fleet survives a zone, heals itself, scales for the peak
// with a zone lost, and rolls with zero unavailable instances.

import test from 'ava';
import { canaryInstances } from '../../terraform/release.js';
import { MIN_READY_SEC, READINESS_CHECK, readinessDetectionSec } from '../../terraform/serving-policy.js';
import { addressOf, at, list, num, one, oneRegionConfig, refTo, resources, synth } from './helpers/synth.js';

const config = oneRegionConfig();
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

test('fleet MIG: autohealing probes /readyz conservatively after a delay that covers boot', (t) => {
  const check = one(fleet, 'google_compute_health_check');
  t.is(at(group, 'auto_healing_policies.health_check'), refTo(fleet, 'google_compute_health_check', check, 'id'));
  t.true(num(at(group, 'auto_healing_policies.initial_delay_sec')) >= 120);
  t.is(at(check, 'http_health_check.request_path'), '/readyz');
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
      oneRegionConfig({ release: { image: config.release.image, canary: { image: canaryImage, size } } }),
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

test('fleet MIG: a new VM counts as available only once ready, and min_ready_sec covers the LB marking it healthy', (t) => {
  // The MIG counts a VM available once its autohealing check passes; with /healthz that is before
  // migrations and before /readyz, so a surge-3 roll could delete every old VM before the LB marks
  // a new one ready. The check must be the LB's readiness path, plus min_ready_sec of margin.
  const check = one(fleet, 'google_compute_health_check');
  t.is(at(check, 'http_health_check.request_path'), READINESS_CHECK.path);
  t.is(at(group, 'update_policy.min_ready_sec'), MIN_READY_SEC);
  t.true(MIN_READY_SEC >= 2 * readinessDetectionSec(), `${MIN_READY_SEC} s vs 2 x ${readinessDetectionSec()} s`);
  // min_ready_sec is beta-only (provider 6.50.0 docs, r/compute_region_instance_group_manager: "min_ready_sec -
  // (Optional, Beta) ... must be from range [0, 3600]"): the MIG must be planned by google-beta.
  t.true(MIN_READY_SEC >= 0 && MIN_READY_SEC <= 3600);
  t.is(group['provider'], 'google-beta');
  t.deepEqual(at(fleet.terraform, 'required_providers.google-beta'), {
    source: 'hashicorp/google-beta',
    version: '6.50.0',
  });
  const beta = fleet.provider?.['google-beta']?.[0];
  t.is(at(beta, 'project'), config.project);
  t.is(at(beta, 'region'), config.regions[0]?.region);
});

test('fleet MIG: created only after the grants a first boot needs (secret access, logs, metrics)', (t) => {
  const dependsOn = list(group['depends_on']);
  const grant = one(fleet, 'google_secret_manager_secret_iam_member');
  t.true(dependsOn.includes(addressOf(fleet, 'google_secret_manager_secret_iam_member', grant)));
  for (const member of resources(fleet, 'google_project_iam_member'))
    t.true(dependsOn.includes(addressOf(fleet, 'google_project_iam_member', member)));
});

test('fleet canary: a percentage rounds up, and promotion keeps the canary template so its VMs stay', (t) => {
  t.is(canaryInstances('10%', 3), 1, '10 % of 3 VMs is one VM (33 %)');
  t.is(canaryInstances('10%', 9), 1);
  t.is(canaryInstances('50%', 3), 2);
  t.is(canaryInstances('5', 3), 3);
  const canaryImage = 'counter-api-8d0e7c6b5a49-20261201t090000';
  const during = synth(
    oneRegionConfig({ release: { image: config.release.image, canary: { image: canaryImage, size: '1' } } }),
  ).fleet;
  const promoted = synth(oneRegionConfig({ release: { image: canaryImage, canary: null } })).fleet;
  const byImage = (s: typeof fleet) =>
    Object.entries(s.resource?.['google_compute_instance_template'] ?? {}).find(
      ([, b]) => at(b, 'labels.image') === canaryImage,
    );
  const [before, after] = [byImage(during), byImage(promoted)];
  t.truthy(before);
  t.deepEqual(after, before, 'same resource address and body: terraform keeps the template');
  const stable = list(at(one(promoted, 'google_compute_region_instance_group_manager'), 'version'))[0];
  const canary = list(at(one(during, 'google_compute_region_instance_group_manager'), 'version'))[1];
  t.is(at(stable, 'instance_template'), at(canary, 'instance_template'), 'promoted VMs need no new template');
});

test('fleet: expected fleet size per region is an output the audit can read', (t) => {
  const scaler = one(fleet, 'google_compute_region_autoscaler');
  t.deepEqual(fleet.output?.['expected_fleet_size']?.['value'], {
    [String(group['region'])]: {
      min: at(scaler, 'autoscaling_policy.min_replicas'),
      max: at(scaler, 'autoscaling_policy.max_replicas'),
    },
  });
});
