// The two inventories: the local chroot target, and the GCP dynamic inventory
// of the fleet (which needs credentials to list hosts, so its configuration
// is checked instead).

import test from 'ava';
import path from 'node:path';
import { ansibleDir, describe, readYaml, runOk } from '../helpers/image-exec.js';

interface InventoryList {
  readonly _meta: { readonly hostvars: Readonly<Record<string, Readonly<Record<string, unknown>>>> };
  readonly counter_api?: { readonly hosts?: readonly string[] };
}

test('local inventory: one host in counter_api, reached by the chroot connection at $IMAGE_ROOTFS, baked without an init system', async (t) => {
  const env = {
    ...process.env,
    ANSIBLE_CONFIG: path.join(ansibleDir, 'ansible.cfg'),
    IMAGE_ROOTFS: '/var/tmp/some-tree',
  };
  const result = await runOk('ansible-inventory', ['-i', 'inventories/local', '--list', '--export'], {
    cwd: ansibleDir,
    env,
    timeoutMs: 60_000,
  });
  const inventory = JSON.parse(result.stdout) as InventoryList;
  t.deepEqual(inventory.counter_api?.hosts, ['rootfs'], describe(result));
  const vars = await readYaml(path.join(ansibleDir, 'inventories', 'local', 'group_vars', 'all.yml'));
  t.like(vars, { bake_in_chroot: true, bake_ops_agent_enabled: false, audit_live: false, ansible_become: false });
  const host = await readYaml(path.join(ansibleDir, 'inventories', 'local', 'hosts.yml'));
  t.like(host, { counter_api: { hosts: { rootfs: { ansible_connection: 'community.general.chroot' } } } });
});

test('the chroot connection plugin is installed', async (t) => {
  const result = await runOk('ansible-doc', ['-t', 'connection', '-l'], { timeoutMs: 60_000 });
  t.regex(result.stdout, /^community\.general\.chroot\s/m);
});

interface GcpInventory {
  readonly plugin: string;
  readonly filters: readonly string[];
  readonly hostnames: readonly string[];
  readonly retrieve_image_info: boolean;
  readonly keyed_groups: readonly { readonly key: string; readonly prefix: string }[];
  readonly compose: Readonly<Record<string, string>>;
  readonly groups: Readonly<Record<string, string>>;
}

test('gcp inventory: running instances of the fleet, by name, grouped by image and template and zone', async (t) => {
  const config = (await readYaml(path.join(ansibleDir, 'inventories', 'gcp', 'gcp_compute.yml'))) as GcpInventory;
  t.is(config.plugin, 'google.cloud.gcp_compute');
  t.true(config.filters.includes('status = RUNNING'));
  t.true(config.filters.includes('labels.app = counter-api'));
  t.deepEqual(config.hostnames, ['name']);
  t.true(config.retrieve_image_info);
  t.deepEqual(
    config.keyed_groups.map((g) => g.prefix),
    ['image', 'template', 'zone'],
  );
  t.is(config.keyed_groups[0]?.key, 'image');
  t.truthy(config.groups.counter_api);
  t.is(config.compose.ansible_host, 'name');
  const docs = await runOk('ansible-doc', ['-t', 'inventory', 'google.cloud.gcp_compute'], { timeoutMs: 60_000 });
  for (const option of Object.keys(config))
    t.regex(docs.stdout, new RegExp(`^[-=] ${option}$`, 'm'), `${option} is an option of the installed plugin`);
});

test('gcp inventory: SSH goes through an IAP tunnel with OS Login and checked host keys', async (t) => {
  const vars = (await readYaml(path.join(ansibleDir, 'inventories', 'gcp', 'group_vars', 'all.yml'))) as Record<
    string,
    unknown
  >;
  const ssh = String(vars.ansible_ssh_common_args);
  t.regex(ssh, /ProxyCommand="gcloud compute start-iap-tunnel %h 22 --listen-on-stdin/);
  t.regex(ssh, /--zone=\{\{ gce_zone \}\}/);
  t.regex(ssh, /UserKnownHostsFile=~\/\.ssh\/google_compute_known_hosts/);
  t.notRegex(ssh, /StrictHostKeyChecking=no/);
  t.like(vars, { ansible_become: true, audit_live: true, bake_in_chroot: false });
});
