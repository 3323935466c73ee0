// Fleet tooling against the twin: an Ansible inventory of the running
// instances (written at every fleet change), an SSH key the twin generates
// (handed to the instances through the ssh-keys metadata attribute, as
// GCE's guest agent does without OS Login), and the audit playbooks run over
// SSH from inside ctwin, the way operators run them over IAP against GCP.

import fs from 'node:fs/promises';
import path from 'node:path';
import { repoDir, TWIN_STATE_DIR } from './image.js';
import { inCgroups, listRecords, makeCpuCgroup, OPERATOR_CGROUP } from './instance.js';
import { execOk, nsExec, TWIN_NETNS } from './topology.js';

export const INVENTORY_DIR = path.join(TWIN_STATE_DIR, 'inventory');
export const INVENTORY_FILE = path.join(INVENTORY_DIR, 'hosts.yml');
const SSH_DIR = path.join(TWIN_STATE_DIR, 'ssh');
export const SSH_KEY = path.join(SSH_DIR, 'id_ed25519');
export const SSH_USER = 'twin-ops';

/** The twin's operator key pair; returns the public key line. */
export async function ensureSshKey(): Promise<string> {
  await fs.mkdir(SSH_DIR, { recursive: true, mode: 0o700 });
  const exists = await fs.access(SSH_KEY).then(
    () => true,
    () => false,
  );
  if (!exists) await execOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'twin-ops', '-f', SSH_KEY]);
  return (await fs.readFile(`${SSH_KEY}.pub`, 'utf8')).trim();
}

/** The inventory of the instances that exist now (group counter_api, as the GCP inventory). */
export async function writeInventory(): Promise<string> {
  await ensureSshKey();
  const records = (await listRecords()).sort((a, b) => a.name.localeCompare(b.name));
  const hosts = records
    .map(
      (r) => `    ${r.name}:\n      ansible_host: ${r.ip}\n      twin_zone: ${r.zone}\n      twin_image: ${r.version}`,
    )
    .join('\n');
  const text = `# Written by twin/inventory.ts: the twin's running instances, reached over
# SSH from inside the ctwin namespace (run ansible-playbook under
# nsenter --net=/run/netns/${TWIN_NETNS}). Host keys are new at every boot
# (sealed image), so they are not pinned.
counter_api:
  hosts:
${hosts || '    {}'}
  vars:
    ansible_user: ${SSH_USER}
    ansible_ssh_private_key_file: ${SSH_KEY}
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10
    ansible_python_interpreter: /usr/bin/python3
    ansible_become: true
    bake_in_chroot: false
    audit_live: true
`;
  await fs.mkdir(INVENTORY_DIR, { recursive: true });
  await fs.writeFile(INVENTORY_FILE, text);
  return INVENTORY_FILE;
}

export async function removeInventory(): Promise<void> {
  await fs.rm(INVENTORY_DIR, { recursive: true, force: true });
}

export interface AuditResult {
  readonly code: number | null;
  readonly seconds: number;
  readonly reportDir: string;
  readonly fleet: {
    hosts: number;
    images: Record<string, string[]>;
    uniform: boolean;
    hosts_with_failures: Record<string, string[]>;
  };
  readonly hosts: Record<
    string,
    {
      packages: Record<string, string>;
      failed: number;
      passed: number;
      checks?: { topic?: string; check?: string; ok?: boolean; actual?: string }[];
    }
  >;
  readonly output: string;
}

/** Runs ansible/audit.yml (or some of its tags) against every instance in the inventory (or `limit`). */
export async function runAudit(
  reportDir: string,
  options: { tags?: readonly string[]; extraVars?: Record<string, unknown>; limit?: readonly string[] } = {},
): Promise<AuditResult> {
  await writeInventory();
  await fs.rm(reportDir, { recursive: true, force: true });
  await fs.mkdir(reportDir, { recursive: true });
  const args = ['-i', INVENTORY_FILE, 'audit.yml', '--forks', '3'];
  if (options.extraVars !== undefined) args.push('--extra-vars', JSON.stringify(options.extraVars));
  if (options.tags !== undefined) args.push('--tags', options.tags.join(','));
  // A scoped audit (a canary): only these hosts, and the host-count floor is theirs (audit-hosts.yml).
  if (options.limit !== undefined) {
    args.push(
      '--limit',
      options.limit.join(','),
      '--extra-vars',
      JSON.stringify({ audit_expected_hosts: options.limit.length }),
    );
  }
  const started = Date.now();
  // The operator's controller is not on the fleet's CPUs on GCP: here it runs
  // at the out-of-service share (instance.ts), joined before ansible starts.
  const operator = await makeCpuCgroup(OPERATOR_CGROUP);
  const [shell = 'sh', ...argv] = inCgroups(operator === undefined ? [] : [operator], ['ansible-playbook', ...args]);
  const result = await nsExec(TWIN_NETNS, shell, argv, {
    cwd: path.join(repoDir, 'ansible'),
    timeoutMs: 15 * 60_000,
    env: {
      ...process.env,
      ANSIBLE_CONFIG: path.join(repoDir, 'ansible', 'ansible.cfg'),
      ANSIBLE_NOCOLOR: '1',
      AUDIT_REPORT_DIR: reportDir,
    },
  });
  const output = `${result.stdout}\n${result.stderr}`;
  await fs.writeFile(path.join(reportDir, 'ansible.log'), output);
  const fleet = JSON.parse(
    await fs.readFile(path.join(reportDir, 'fleet-summary.json'), 'utf8').catch(() => '{}'),
  ) as AuditResult['fleet'];
  const hosts: AuditResult['hosts'] = {};
  for (const file of await fs.readdir(reportDir)) {
    if (!file.endsWith('.json') || file === 'fleet-summary.json') continue;
    hosts[file.replace(/\.json$/, '')] = JSON.parse(
      await fs.readFile(path.join(reportDir, file), 'utf8'),
    ) as AuditResult['hosts'][string];
  }
  return { code: result.code, seconds: (Date.now() - started) / 1000, reportDir, fleet, hosts, output };
}
