// The generated GCP inventory (terraform/fleet-inventory.ts): written from the
// same configuration as the stacks, with nothing left for the gcp_compute
// plugin to template (it templates none of its options), and a floor of hosts
// every audit must see. The plugin itself reads it in test/ansible/gcp-inventory.test.ts.

import test from 'ava';
import { loadConfig } from '../../terraform/config.js';
import { expectedFleetHosts, renderInventory, toYaml } from '../../terraform/fleet-inventory.js';
import { parseInventoryArgs } from '../../terraform/inventory.js';

const config = loadConfig({ INFRA_ENV: 'prod', GCP_PROJECT: 'acme-counter-42' });
const files = renderInventory(config, { knownHostsFile: '/k/known_hosts' });
const text = (name: string) => files.find((file) => file.path === name)?.text ?? '';

test('inventory: the project is written literally, from the config and its GCP_PROJECT override', (t) => {
  const plugin = text('gcp_compute.yml');
  t.regex(plugin, /^projects:\n {2}- "acme-counter-42"$/m);
  t.notRegex(plugin, /lookup\(|\{\{ *lookup/);
  t.regex(plugin, /^plugin: "google\.cloud\.gcp_compute"$/m);
});

test('inventory: zones of every region and a filter per label the instance template sets', (t) => {
  const plugin = text('gcp_compute.yml');
  for (const zone of config.regions.flatMap((region) => region.zones)) t.true(plugin.includes(`  - "${zone}"\n`), zone);
  for (const [key, value] of Object.entries(config.labels))
    t.true(plugin.includes(`  - "labels.${key} = ${value}"\n`), key);
  t.true(plugin.includes('  - "status = RUNNING"\n'));
  t.notRegex(plugin, /retrieve_image_info/, 'the image comes from the instance label, not a disk lookup');
  t.regex(plugin, /key: "\(labels \| default\(\{\}\)\)\.get\('image', 'missing'\)"\n {4}prefix: "image"/);
});

test('inventory: the expected host count is the autoscalers minimum summed over regions, or the one passed', (t) => {
  // prod: two regions of three zones, at least one VM per zone.
  t.is(config.regions.length, 2);
  t.is(expectedFleetHosts(config), 6);
  const oneRegion = { ...config, regions: [config.regions[0]!] };
  t.is(expectedFleetHosts(oneRegion), 3);
  t.regex(text('group_vars/all/fleet.yml'), /^audit_expected_hosts: 6$/m);
  const passed = renderInventory(config, { knownHostsFile: '/k', expectedHosts: 7 });
  t.regex(passed[1]?.text ?? '', /^audit_expected_hosts: 7$/m);
  t.throws(() => renderInventory(config, { knownHostsFile: '/k', expectedHosts: 0 }), { message: /positive integer/ });
});

test('inventory: SSH through IAP with the OS Login key and only host keys from guest attributes', (t) => {
  const vars = text('group_vars/all/fleet.yml');
  t.regex(
    vars,
    /ProxyCommand=\\"gcloud compute start-iap-tunnel %h 22 --listen-on-stdin --project=acme-counter-42 --zone=\{\{ gce_zone \}\}/,
  );
  t.regex(
    vars,
    /-o UserKnownHostsFile=\/k\/known_hosts -o StrictHostKeyChecking=yes -o HostKeyAlias=compute\.\{\{ gce_instance_id \}\}/,
  );
  t.regex(vars, /^ansible_ssh_private_key_file: "~\/\.ssh\/google_compute_engine"$/m);
  t.regex(vars, /^audit_on_gce: true$/m);
  t.notRegex(vars, /StrictHostKeyChecking=no/);
});

test('inventory: arguments are checked', (t) => {
  t.deepEqual(parseInventoryArgs(['--out', '/x', '--expected', '4']), { out: '/x', expected: 4 });
  t.throws(() => parseInventoryArgs(['--expected', '-1']), { message: /positive integer/ });
  t.throws(() => parseInventoryArgs(['--out']), { message: /needs a value/ });
  t.throws(() => parseInventoryArgs(['--project', 'x']), { message: /unknown argument/ });
});

test('toYaml: strings are quoted scalars, nesting is indented', (t) => {
  t.is(toYaml({ a: ['x', 1], b: { c: true } }), '\na:\n  - "x"\n  - 1\nb:\n  c: true\n');
});
