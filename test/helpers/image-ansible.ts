// Runs the repo's playbooks the way Packer and operators do (ansible.cfg from
// ansible/), against the local inventory: the chroot, or, with `booted`, the
// same tree booted as a container and reached through scripts/image-nsenter.sh.
// Full output goes to .cache/image/logs/<label>.log.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ansibleDir, cacheDir, describe, run, scriptsDir, type RunResult } from './image-exec.js';

export interface PlaybookOptions {
  readonly root: string;
  /** Pid of the booted container's init: run against the live system. */
  readonly booted?: number;
  readonly extraVars?: Readonly<Record<string, unknown>>;
  readonly tags?: readonly string[];
  readonly reportDir?: string;
  readonly label: string;
  readonly timeoutMs?: number;
}

export interface Recap {
  readonly ok: number;
  readonly changed: number;
  readonly unreachable: number;
  readonly failed: number;
}

export interface PlaybookResult extends RunResult {
  readonly recap: Recap | undefined;
  readonly logFile: string;
}

export async function playbook(file: string, options: PlaybookOptions): Promise<PlaybookResult> {
  const args = ['-i', 'inventories/local', file];
  const vars: Record<string, unknown> = { ...options.extraVars };
  if (options.booted !== undefined) {
    Object.assign(vars, {
      ansible_chroot_exe: path.join(scriptsDir, 'image-nsenter.sh'),
      bake_in_chroot: false,
      audit_live: true,
    });
  }
  if (Object.keys(vars).length > 0) args.push('--extra-vars', JSON.stringify(vars));
  if (options.tags !== undefined) args.push('--tags', options.tags.join(','));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ANSIBLE_CONFIG: path.join(ansibleDir, 'ansible.cfg'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    IMAGE_ROOTFS: options.root,
    ...(options.booted === undefined ? {} : { IMAGE_NSENTER_PID: String(options.booted) }),
    ...(options.reportDir === undefined ? {} : { AUDIT_REPORT_DIR: options.reportDir }),
  };
  const result = await run('ansible-playbook', args, {
    cwd: ansibleDir,
    env,
    timeoutMs: options.timeoutMs ?? 8 * 60_000,
  });
  const logFile = path.join(cacheDir, 'logs', `${options.label}.log`);
  await fs.mkdir(path.dirname(logFile), { recursive: true });
  await fs.writeFile(logFile, `$ ${result.command}\n\n${result.stdout}\n${result.stderr}`);
  const line = /^rootfs\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/m.exec(result.stdout);
  const recap =
    line === null
      ? undefined
      : { ok: Number(line[1]), changed: Number(line[2]), unreachable: Number(line[3]), failed: Number(line[4]) };
  return { ...result, recap, logFile };
}

export interface AuditCheck {
  readonly topic: string;
  readonly check: string;
  readonly ok: boolean;
  readonly actual: unknown;
}

export interface HostReport {
  readonly host: string;
  readonly image: Readonly<Record<string, string>>;
  readonly packages: Readonly<Record<string, string>>;
  readonly live: boolean;
  readonly passed: number;
  readonly failed: number;
  readonly checks: readonly AuditCheck[];
}

export interface FleetSummary {
  readonly hosts: number;
  readonly images: Readonly<Record<string, readonly string[]>>;
  readonly uniform: boolean;
  readonly hosts_with_failures: Readonly<Record<string, readonly string[]>>;
}

export async function readReports(dir: string): Promise<{ host: HostReport; fleet: FleetSummary }> {
  const host = JSON.parse(await fs.readFile(path.join(dir, 'rootfs.json'), 'utf8')) as HostReport;
  const fleet = JSON.parse(await fs.readFile(path.join(dir, 'fleet-summary.json'), 'utf8')) as FleetSummary;
  return { host, fleet };
}

/**
 * Renders one role template on the controller with the role's defaults plus
 * `vars` (ansible's template module, as the bake does); returns the file.
 */
export async function renderTemplate(role: string, template: string, vars: Record<string, unknown>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'counter-api-template-'));
  const dest = path.join(dir, path.basename(template, '.j2'));
  const args = [
    'localhost',
    '-i',
    'localhost,',
    '-c',
    'local',
    '-m',
    'ansible.builtin.template',
    '-a',
    `src=${path.join(ansibleDir, 'roles', role, 'templates', template)} dest=${dest} mode=0755`,
    '-e',
    `@${path.join(ansibleDir, 'roles', role, 'defaults', 'main.yml')}`,
    '-e',
    JSON.stringify(vars),
  ];
  const result = await run('ansible', args, {
    env: { ...process.env, ANSIBLE_CONFIG: path.join(ansibleDir, 'ansible.cfg') },
    timeoutMs: 60_000,
  });
  if (result.code !== 0) throw new Error(describe(result));
  return dest;
}
