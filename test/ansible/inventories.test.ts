// The local inventory: the chroot target of the bake. The GCP inventory is
// generated per environment (npm run fleet:inventory) and tested with the
// plugin against stubbed Google APIs in gcp-inventory.test.ts.

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
  t.like(vars, {
    bake_in_chroot: true,
    bake_ops_agent_enabled: false,
    audit_live: false,
    ansible_become: false,
    audit_cve_source: '',
  });
  const host = await readYaml(path.join(ansibleDir, 'inventories', 'local', 'hosts.yml'));
  t.like(host, { counter_api: { hosts: { rootfs: { ansible_connection: 'community.general.chroot' } } } });
});

test('the chroot connection plugin is installed', async (t) => {
  const result = await runOk('ansible-doc', ['-t', 'connection', '-l'], { timeoutMs: 60_000 });
  t.regex(result.stdout, /^community\.general\.chroot\s/m);
});
