// The build state a Packer VM leaves behind, seeded into a local tree so the
// seal can be proven to remove it (a debootstrap chroot has none of it), and
// the manifest's bundle digest recomputed from the host side.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

const PACKER_USER = 'sa_112233445566778899001';

/** Paths (relative to the tree) that a GCE build VM writes and that no clone may inherit. */
export const BUILD_STATE: readonly string[] = [
  // The OS Login user Packer connects as, and OS Login's records of it.
  `home/${PACKER_USER}/.ssh/authorized_keys`,
  `home/${PACKER_USER}/.ansible/tmp/ansible-local-1/AnsiballZ_setup.py`,
  `var/google-users.d/${PACKER_USER}`,
  `var/google-sudoers.d/${PACKER_USER}`,
  'etc/oslogin_passwd.cache',
  'etc/oslogin_group.cache',
  `var/lib/sudo/lectured/${PACKER_USER}`,
  // The guest agent's idea of which instance this is, and its state.
  'etc/google_instance_id',
  'var/lib/google-guest-agent/agent_state/core_plugin.json',
  // The Ops Agent's buffers and journald cursors.
  'var/lib/google-cloud-ops-agent/fluent-bit/buffers/counter_api_journal/cursor.db',
  'var/lib/google-cloud-ops-agent/fluent-bit/buffers/tail.1/12-1700000000.1.flb',
  'var/log/google-cloud-ops-agent/subagents/logging-module.log',
  // Per-machine secrets and randomness.
  'var/lib/systemd/random-seed',
  'var/lib/systemd/credential.secret',
  // Root's traces and Ansible's scratch space.
  'root/.ansible/tmp/ansible-tmp-1-2/AnsiballZ_apt.py',
  'root/.bash_history',
  'root/.ssh/authorized_keys',
  // Logs, leases, login records of the build.
  'var/log/journal/0123456789abcdef0123456789abcdef/system.journal',
  'var/log/audit/audit.log',
  'var/lib/dhcp/dhclient.ens4.leases',
  'var/lib/wtmpdb/wtmp.db',
  // The smoke test's env file and state.
  'etc/counter-api/env',
  'var/lib/counter-api/journal/journal-w0-p1-s1.jsonl',
  // Temporary files of the provisioners.
  'tmp/packer-provisioner-ansible-123/inventory',
  'var/tmp/packer-ansible-1.tar',
];

/** Writes every BUILD_STATE path into the tree; returns them. */
export async function sealSeeds(root: string): Promise<readonly string[]> {
  for (const file of BUILD_STATE) {
    const target = path.join(root, file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, `build state: ${file}\n`, { mode: 0o600 });
  }
  return BUILD_STATE;
}

async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesBelow(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/**
 * The image manifest's bundle_sha256, computed from outside the tree:
 *   LC_ALL=C find DIR -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum
 * with DIR as the image sees it (paths are part of the hashed text).
 */
export async function treeDigest(root: string, dir: string): Promise<string> {
  const files = (await filesBelow(path.join(root, dir))).map((file) => dir + file.slice(path.join(root, dir).length));
  files.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const outer = createHash('sha256');
  for (const file of files) {
    if (/[\\\n]/.test(file)) throw new Error(`sha256sum would escape ${file}; the digest here does not`);
    const inner = createHash('sha256')
      .update(await fs.readFile(path.join(root, file)))
      .digest('hex');
    outer.update(`${inner}  ${file}\n`);
  }
  return outer.digest('hex');
}
