// Policy: the instances are reachable only through the load balancer and IAP,
// boot verified, log in through OS Login, and run as an identity that can do
// three things. Checked across every stack, so a resource added anywhere is
// covered.

import test from 'ava';
import { FLEET_PROJECT_ROLES } from '../../terraform/constructs/fleet-identity.js';
import {
  at,
  list,
  one,
  oneRegionConfig,
  refTo,
  resources,
  synth,
  twoRegionConfig,
  type Block,
} from './helpers/synth.js';

const all = synth(oneRegionConfig());
const templates = resources(synth(twoRegionConfig()), 'google_compute_instance_template');
const allowRules = (s: typeof all) => resources(s, 'google_compute_firewall').filter((r) => r['allow'] !== undefined);

test('instances: no template or instance anywhere has an external IP (access_config)', (t) => {
  t.true(templates.length >= 2);
  t.deepEqual(resources(all, 'google_compute_instance'), []);
  for (const template of templates) {
    const interfaces = list(template['network_interface']) as Block[];
    t.true(interfaces.length > 0);
    for (const nic of interfaces) {
      t.is(nic['access_config'], undefined);
      t.is(nic['ipv6_access_config'], undefined);
    }
  }
});

test('instances: Shielded VM with secure boot, vTPM and integrity monitoring', (t) => {
  for (const template of templates) {
    t.deepEqual(template['shielded_instance_config'], {
      enable_secure_boot: true,
      enable_vtpm: true,
      enable_integrity_monitoring: true,
    });
  }
});

test('instances: OS Login on and project-wide SSH keys blocked', (t) => {
  for (const template of templates) {
    t.is(at(template, 'metadata.enable-oslogin'), 'TRUE');
    t.is(at(template, 'metadata.block-project-ssh-keys'), 'TRUE');
  }
});

test('instances: guest attributes on, so operators can read the host keys a new VM generated', (t) => {
  for (const template of templates) t.is(at(template, 'metadata.enable-guest-attributes'), 'TRUE');
});

test('instances: every VM carries the image label the audit groups on, equal to the template image', (t) => {
  for (const template of templates) {
    const image = String(at(template, 'labels.image'));
    t.regex(image, /^[a-z][-a-z0-9]*$/);
    t.is(at(template, 'disk.0.source_image'), `projects/${oneRegionConfig().imageProject}/global/images/${image}`);
  }
});

test('IAM: OS Login operators may act as the fleet account (serviceAccountUser) on that account only', (t) => {
  const grants = resources(all.fleet, 'google_service_account_iam_member');
  const account = one(all.fleet, 'google_service_account');
  t.deepEqual(
    grants.map((g) => [g['role'], g['member'], g['service_account_id']]),
    oneRegionConfig().operators.map((m) => [
      'roles/iam.serviceAccountUser',
      m,
      refTo(all.fleet, 'google_service_account', account, 'name'),
    ]),
  );
  t.true(grants.length >= 1);
});

test('instances: run as the dedicated service account, never the default compute one', (t) => {
  const account = one(all.fleet, 'google_service_account');
  const email = refTo(all.fleet, 'google_service_account', account, 'email');
  for (const template of resources(all, 'google_compute_instance_template')) {
    t.is(at(template, 'service_account.email'), email);
    t.notRegex(String(at(template, 'service_account.email')), /-compute@developer\.gserviceaccount\.com/);
  }
});

test('IAM: the fleet account has exactly logWriter and metricWriter on the project, and nobody gets a primitive role', (t) => {
  const fleetEmail = refTo(all.fleet, 'google_service_account', one(all.fleet, 'google_service_account'), 'email');
  const members = resources(all.fleet, 'google_project_iam_member');
  t.true(members.every((m) => m['member'] === `serviceAccount:${fleetEmail}`));
  t.deepEqual(members.map((m) => m['role']).sort(), [...FLEET_PROJECT_ROLES].sort());
  const everyRole = [
    'google_project_iam_member',
    'google_project_iam_binding',
    'google_secret_manager_secret_iam_member',
  ].flatMap((type) => resources(all, type).map((m) => String(m['role'])));
  for (const role of everyRole) t.notRegex(role, /^roles\/(owner|editor|viewer)$/);
  t.deepEqual(resources(all, 'google_project_iam_binding'), []);
  t.deepEqual(resources(all, 'google_project_iam_policy'), []);
});

test('IAM: the fleet may read the database password secret and no other', (t) => {
  const grant = one(all, 'google_secret_manager_secret_iam_member');
  const secret = one(all.base, 'google_secret_manager_secret');
  t.is(grant['role'], 'roles/secretmanager.secretAccessor');
  t.is(grant['secret_id'], `projects/${oneRegionConfig().project}/secrets/${String(secret['secret_id'])}`);
  t.is(
    at(one(all.fleet, 'google_compute_instance_template'), 'metadata.counter-api-db-password-secret'),
    grant['secret_id'],
  );
});

test('firewall: the only allow rules are LB ranges to 8080 and IAP to 22 on the fleet account, and IAP to 22 on build VMs', (t) => {
  const account = refTo(all.fleet, 'google_service_account', one(all.fleet, 'google_service_account'), 'email');
  const rules = allowRules(all)
    .map((r) => ({
      sources: r['source_ranges'],
      allow: r['allow'],
      direction: r['direction'],
      targets: r['target_service_accounts'],
      tags: r['target_tags'],
    }))
    .sort((a, b) =>
      (JSON.stringify(b.allow) + JSON.stringify(b.tags ?? '')).localeCompare(
        JSON.stringify(a.allow) + JSON.stringify(a.tags ?? ''),
      ),
    );
  t.deepEqual(rules, [
    {
      sources: ['35.191.0.0/16', '130.211.0.0/22'],
      allow: [{ protocol: 'tcp', ports: ['8080'] }],
      direction: 'INGRESS',
      targets: [account],
      tags: undefined,
    },
    {
      sources: ['35.235.240.0/20'],
      allow: [{ protocol: 'tcp', ports: ['22'] }],
      direction: 'INGRESS',
      targets: undefined,
      tags: ['packer-build'],
    },
    {
      sources: ['35.235.240.0/20'],
      allow: [{ protocol: 'tcp', ports: ['22'] }],
      direction: 'INGRESS',
      targets: [account],
      tags: undefined,
    },
  ]);
});

test('firewall: everything else is denied by a logged lowest-priority rule', (t) => {
  const denies = resources(all, 'google_compute_firewall').filter((r) => r['deny'] !== undefined);
  t.is(denies.length, 1);
  const deny = denies[0] as Block;
  t.is(deny['direction'], 'INGRESS');
  t.deepEqual(deny['source_ranges'], ['0.0.0.0/0']);
  t.deepEqual(deny['deny'], [{ protocol: 'all' }]);
  t.true(Number(deny['priority']) > 1000);
  t.is(at(deny, 'log_config.metadata'), 'INCLUDE_ALL_METADATA');
});
