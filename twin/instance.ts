// One twin "VM": the sealed baked tree (plus the guest layer) as the
// read-only lower layers of an overlay of its own, booted by systemd-nspawn
// under its real systemd, attached to ctbr0 (nspawn runs inside ctwin, so
// --network-bridge finds the bridge). Its settings come from the twin's
// metadata server, as on GCE. The nspawn process outlives the command that
// started it; its pid and the container's init pid are kept in
// instances/<name>/instance.json.
//   crash  = SIGKILL of the container's init (the kernel then kills every
//            process in its PID namespace) and of nspawn: a VM that vanishes;
//   stop   = what GCE does on stop/delete: the ACPI power button (systemd's
//            poweroff via SIGRTMIN+4), the shutdown script runs, and after
//            90 s the VM is switched off regardless.

import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TWIN_STATE_DIR } from './image.js';
import {
  execOk,
  exec,
  nsExec,
  GOOGLE_APIS_IP,
  METADATA_HOSTNAME,
  METADATA_IP,
  TWIN_BRIDGE,
  TWIN_NETNS,
  TWIN_PREFIX_LEN,
  type Zone,
} from './topology.js';

export const INSTANCES_DIR = path.join(TWIN_STATE_DIR, 'instances');
/** GCE gives a VM's guest about 90 s to shut down before it is powered off. */
export const SHUTDOWN_GRACE_MS = 90_000;
const MASKED_FOR_BOOT = ['auditd.service', 'audit-rules.service'];

/**
 * CPU between "VMs". On GCE each VM has vCPUs of its own: VMs booting or
 * shutting down beside serving ones take nothing from them, and neither does
 * an operator's Ansible run. Here all of them share the machine's cores, so
 * each instance runs in a cgroup of its own under the `cpu` controller (v1,
 * as mounted here; /sys/fs/cgroup/cpu/ctwin/<name>) whose share is low until
 * its first passing autohealing check (the MIG's `first-healthy`), that of a
 * 2-vCPU VM while in service, and low again once the load balancer has
 * drained it for deletion (`drained`); the fleet audit's controller runs in
 * ctwin/operator at the low share. Boots, shutdowns and audits then run on
 * the CPU that serving leaves, instead of competing with it as equals.
 * Without the controller (no /sys/fs/cgroup/cpu) instances run without it.
 */
export const CPU_CGROUP_DIR = '/sys/fs/cgroup/cpu/ctwin';
/** cpu.shares of an instance out of service (booting, drained, stopping) and of the operator's tools; 1024 = one busy process at the root. */
export const OUT_OF_SERVICE_CPU_SHARES = 64;
/** cpu.shares of an instance in service: two vCPUs' worth. */
export const IN_SERVICE_CPU_SHARES = 2048;
/** The cgroup (under CPU_CGROUP_DIR) the fleet audit's controller runs in. */
export const OPERATOR_CGROUP = 'operator';

function cpuCgroup(name: string): string {
  return path.join(CPU_CGROUP_DIR, name);
}

/** Makes a cpu cgroup at the out-of-service share; undefined when the controller is not there. */
export async function makeCpuCgroup(name: string): Promise<string | undefined> {
  const controller = await fs.stat(path.dirname(CPU_CGROUP_DIR)).catch(() => undefined);
  if (controller?.isDirectory() !== true) return undefined;
  const dir = cpuCgroup(name);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'cpu.shares'), String(OUT_OF_SERVICE_CPU_SHARES));
  return dir;
}

/**
 * The hierarchies besides `cpu` in which each VM gets a cgroup of its own:
 * systemd's (name=systemd, v1) and the unified one (cgroup2), where the
 * container's systemd makes its slices and units. nspawn with --keep-unit
 * (no systemd-machined on this host) runs the container in `payload` under
 * the cgroup it was started in; started from the root, every VM's systemd
 * managed the same tree, so two VMs' counter-api.service were one cgroup,
 * and a unit of one VM failed to start when another VM's systemd had just
 * removed the cgroup of the same name ("Failed to spawn executor: No such
 * file or directory": a VM booted without its address and was autohealed
 * after the 300 s initial delay). On a host with only cgroup2 mounted, its
 * root is the one hierarchy.
 */
export const PLACEMENT_HIERARCHIES = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'] as const;
/** The directory under each placement hierarchy that holds the twin's cgroups (CPU_CGROUP_DIR's counterpart). */
export const TWIN_CGROUP = 'ctwin';

async function isCgroup(dir: string): Promise<boolean> {
  return fs.access(path.join(dir, 'cgroup.procs')).then(
    () => true,
    () => false,
  );
}

async function placementRoots(): Promise<string[]> {
  if (await isCgroup('/sys/fs/cgroup')) return ['/sys/fs/cgroup'];
  const roots: string[] = [];
  for (const root of PLACEMENT_HIERARCHIES) if (await isCgroup(root)) roots.push(root);
  return roots;
}

/** Every twin cgroup directory of `name`: its cpu cgroup and its cgroup in each placement hierarchy. */
async function cgroupDirs(name: string): Promise<string[]> {
  return [cpuCgroup(name), ...(await placementRoots()).map((root) => path.join(root, TWIN_CGROUP, name))];
}

/**
 * The cgroups a VM starts in, made now: its cpu cgroup (at the
 * out-of-service share) and one of its own in each placement hierarchy.
 */
export async function makeInstanceCgroups(name: string): Promise<string[]> {
  const dirs: string[] = [];
  const cpu = await makeCpuCgroup(name);
  if (cpu !== undefined) dirs.push(cpu);
  for (const root of await placementRoots()) {
    const dir = path.join(root, TWIN_CGROUP, name);
    await fs.mkdir(dir, { recursive: true });
    dirs.push(dir);
  }
  return dirs;
}

/**
 * argv that runs `command` in every cgroup of `dirs` (none: as is): a shell
 * joins them and execs the command, so the command and everything it starts
 * run in them from their first instruction, under one pid. A cgroup that
 * cannot be joined stops it (exit 70) before it runs.
 */
export function inCgroups(dirs: readonly string[], command: readonly string[]): string[] {
  const join = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 70; shift; done; shift; exec "$@"';
  return ['sh', '-c', join, 'sh', ...dirs, '--', ...command];
}

/** The cpu.shares an instance moves to on a MIG event, if that event changes it. */
export function cpuSharesAfter(event: string): number | undefined {
  if (event === 'first-healthy') return IN_SERVICE_CPU_SHARES;
  if (event === 'drained') return OUT_OF_SERVICE_CPU_SHARES;
  return undefined;
}

/** Sets an instance's cpu.shares (at its first passing check, and when drained); false without its cgroup. */
export async function setCpuShares(name: string, shares: number): Promise<boolean> {
  return fs.writeFile(path.join(cpuCgroup(name), 'cpu.shares'), String(shares)).then(
    () => true,
    () => false,
  );
}

/** The instance's cpu.shares, or undefined without its cgroup. */
export async function cpuShares(name: string): Promise<number | undefined> {
  const text = await fs.readFile(path.join(cpuCgroup(name), 'cpu.shares'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : Number(text.trim());
}

/** Removes a cgroup and the ones under it, deepest first; true when none of them is left. */
async function removeCgroupTree(dir: string): Promise<boolean> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (entries === undefined) return true;
  for (const entry of entries) {
    if (entry.isDirectory()) await removeCgroupTree(path.join(dir, entry.name));
  }
  return fs.rmdir(dir).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
  );
}

async function removeEmptyParents(): Promise<void> {
  await fs.rmdir(CPU_CGROUP_DIR).catch(() => undefined);
  for (const root of await placementRoots()) await fs.rmdir(path.join(root, TWIN_CGROUP)).catch(() => undefined);
}

/** Removes an instance's cgroups once its processes are gone (and the twin's parents when empty). */
async function removeInstanceCgroups(name: string): Promise<void> {
  const dirs = await cgroupDirs(name);
  for (let i = 0; i < 20; i++) {
    let gone = true;
    for (const dir of dirs) gone = (await removeCgroupTree(dir)) && gone;
    if (gone) break;
    await sleep(100);
  }
  await removeEmptyParents();
}

/** Removes the twin's empty cgroups in every hierarchy; returns those still there (down's leftover check). */
export async function leftoverCgroups(): Promise<string[]> {
  const parents = [CPU_CGROUP_DIR, ...(await placementRoots()).map((root) => path.join(root, TWIN_CGROUP))];
  const left: string[] = [];
  for (const parent of parents) {
    const entries = await fs.readdir(parent, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.filter((e) => e.isDirectory())) {
      const dir = path.join(parent, entry.name);
      if (!(await removeCgroupTree(dir).catch(() => false))) left.push(dir);
    }
  }
  if (left.length === 0) await removeEmptyParents();
  return left;
}

export interface InstanceRecord {
  readonly name: string;
  readonly zone: Zone;
  readonly ip: string;
  readonly version: string;
  readonly createdAt: string;
  nspawnPid?: number;
  leaderPid?: number;
  /** dev:ino of the overlay root, to recognise the container's init. */
  rootId?: string;
}

export function instanceDir(name: string): string {
  return path.join(INSTANCES_DIR, name);
}

export async function readRecord(name: string): Promise<InstanceRecord | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(instanceDir(name), 'instance.json'), 'utf8')) as InstanceRecord;
  } catch {
    return undefined;
  }
}

async function writeRecord(record: InstanceRecord): Promise<void> {
  const file = path.join(instanceDir(record.name), 'instance.json');
  await fs.writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  await fs.rename(`${file}.tmp`, file);
}

export async function listRecords(): Promise<InstanceRecord[]> {
  const names = await fs.readdir(INSTANCES_DIR).catch(() => [] as string[]);
  const records = await Promise.all(names.map((n) => readRecord(n)));
  return records.filter((r): r is InstanceRecord => r !== undefined);
}

export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function isMounted(dir: string): Promise<boolean> {
  const mounts = await fs.readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === dir);
}

async function fileId(file: string): Promise<string> {
  const stat = await fs.stat(file);
  return `${stat.dev}:${stat.ino}`;
}

export interface CreateOptions {
  readonly name: string;
  readonly zone: Zone;
  readonly ip: string;
  readonly version: string;
  readonly imageRoot: string;
  readonly guestLayer: string;
}

/** Mounts the overlay, writes the per-VM files (hostname, address, hosts) and boots the container. */
export async function createInstance(o: CreateOptions): Promise<InstanceRecord> {
  const dir = instanceDir(o.name);
  await destroyInstance(o.name);
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  const merged = path.join(dir, 'merged');
  for (const d of [upper, work, merged]) await fs.mkdir(d, { recursive: true });
  await fs.mkdir(path.join(upper, 'etc/twin'), { recursive: true });
  await fs.writeFile(path.join(upper, 'etc/hostname'), `${o.name}\n`);
  await fs.writeFile(path.join(upper, 'etc/twin/network.env'), `ADDRESS=${o.ip}/${TWIN_PREFIX_LEN}\n`);
  await fs.writeFile(
    path.join(upper, 'etc/hosts'),
    [
      '127.0.0.1 localhost',
      `${o.ip} ${o.name}`,
      `${METADATA_IP} ${METADATA_HOSTNAME} metadata`,
      `${GOOGLE_APIS_IP} secretmanager.googleapis.com`,
      '',
    ].join('\n'),
  );
  await execOk('mount', [
    '-t',
    'overlay',
    `twin-${o.name}`,
    '-o',
    `lowerdir=${o.guestLayer}:${o.imageRoot},upperdir=${upper},workdir=${work}`,
    merged,
  ]);
  const record: InstanceRecord = {
    name: o.name,
    zone: o.zone,
    ip: o.ip,
    version: o.version,
    createdAt: new Date().toISOString(),
  };
  await writeRecord(record);
  const consoleFd = openSync(path.join(dir, 'console.log'), 'a');
  // sh joins the instance's cgroups and execs nsenter, which execs nspawn
  // (one pid throughout), so every process of the VM starts in them.
  const [shell = 'sh', ...argv] = inCgroups(await makeInstanceCgroups(o.name), [
    'nsenter',
    `--net=/run/netns/${TWIN_NETNS}`,
    '--',
    'systemd-nspawn',
    '--directory',
    merged,
    '--machine',
    o.name,
    '--boot',
    '--register=no', // no systemd-machined on this host
    '--keep-unit',
    `--network-bridge=${TWIN_BRIDGE}`,
    '--drop-capability=CAP_AUDIT_CONTROL', // the kernel's audit rules are host-wide
    '--console=read-only',
    '--quiet',
    '--',
    ...MASKED_FOR_BOOT.map((unit) => `systemd.mask=${unit}`),
  ]);
  const nspawn = spawn(shell, argv, {
    stdio: ['ignore', consoleFd, consoleFd],
    detached: true,
    // The image's own tmp.mount (nodev,nosuid,noexec) mounts /tmp, not nspawn's tmpfs.
    env: { ...process.env, SYSTEMD_NSPAWN_TMPFS_TMP: '0' },
  });
  closeSync(consoleFd);
  nspawn.unref();
  record.nspawnPid = nspawn.pid;
  // nsenter execs nspawn (same pid); its child whose root is `merged` is the container's init.
  const rootId = await fileId(merged);
  record.rootId = rootId;
  const deadline = Date.now() + 30_000;
  while (record.leaderPid === undefined && Date.now() < deadline) {
    const children = await fs.readFile(`/proc/${nspawn.pid}/task/${nspawn.pid}/children`, 'utf8').catch(() => '');
    for (const pid of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
      if ((await fileId(`/proc/${pid}/root/`).catch(() => '')) !== rootId) continue;
      // The container's init is pid 1 of its own PID namespace (nspawn's
      // intermediate child shares the root for a moment but is not).
      const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
      if (nspid.length > 1 && nspid[nspid.length - 1] === '1') record.leaderPid = pid;
    }
    if (record.leaderPid === undefined) {
      if (!alive(nspawn.pid)) break;
      await sleep(100);
    }
  }
  await writeRecord(record);
  if (record.leaderPid === undefined) {
    const tail = await fs.readFile(path.join(dir, 'console.log'), 'utf8').catch(() => '');
    throw new Error(`instance ${o.name}: the container did not start\n${tail.slice(-2000)}`);
  }
  return record;
}

/** Runs a command inside a running instance (all its namespaces). */
export async function instanceExec(
  name: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const record = await readRecord(name);
  if (record?.leaderPid === undefined || !alive(record.leaderPid)) throw new Error(`instance ${name} is not running`);
  return exec(
    'nsenter',
    [
      '--target',
      String(record.leaderPid),
      ...['--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--root', '--wd', '--'],
      ...args,
    ],
    { timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_COLORS: '0' } },
  );
}

/**
 * The instance's processes that are still running, checked by what they are
 * (nspawn for this machine, an init rooted in this overlay) so a recycled pid
 * is never signalled.
 */
export async function livePids(record: InstanceRecord): Promise<{ nspawn?: number; leader?: number }> {
  const out: { nspawn?: number; leader?: number } = {};
  if (alive(record.nspawnPid)) {
    const cmdline = await fs.readFile(`/proc/${record.nspawnPid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('systemd-nspawn') && cmdline.includes(`\0--machine\0${record.name}\0`)) {
      out.nspawn = record.nspawnPid;
    }
  }
  if (alive(record.leaderPid) && record.rootId !== undefined) {
    const root = await fileId(`/proc/${record.leaderPid}/root/`).catch(() => '');
    if (root === record.rootId) out.leader = record.leaderPid;
  }
  return out;
}

/** A VM crash: the container's whole process tree gets SIGKILL at once. */
export async function crashInstance(name: string): Promise<void> {
  const record = await readRecord(name);
  if (record === undefined) return;
  const pids = await livePids(record);
  // SIGKILL of a PID namespace's init kills every process in it.
  if (pids.leader !== undefined) process.kill(pids.leader, 'SIGKILL');
  if (pids.nspawn !== undefined) process.kill(pids.nspawn, 'SIGKILL');
  await waitGone(record, 10_000);
}

/**
 * GCE's stop: ACPI power button -> systemd poweroff (the shutdown script runs
 * as google-shutdown-scripts.service stops), switched off after 90 s.
 * Returns the seconds the guest took.
 */
export async function stopInstance(name: string, graceMs = SHUTDOWN_GRACE_MS): Promise<number> {
  const record = await readRecord(name);
  if (record === undefined) return 0;
  const { leader } = await livePids(record);
  if (leader === undefined) {
    await crashInstance(name);
    return 0;
  }
  const started = Date.now();
  // systemd's poweroff request; Node has no name for real-time signals.
  await execOk('kill', ['-s', 'RTMIN+4', String(leader)]);
  if (!(await waitGone(record, graceMs))) await crashInstance(name);
  return (Date.now() - started) / 1000;
}

async function waitGone(record: InstanceRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(record.leaderPid) && !alive(record.nspawnPid)) return true;
    await sleep(100);
  }
  return !alive(record.leaderPid) && !alive(record.nspawnPid);
}

/** Stops (hard) whatever is left of an instance, unmounts its overlay and deletes its disk. Idempotent. */
export async function destroyInstance(name: string): Promise<void> {
  const dir = instanceDir(name);
  await crashInstance(name);
  const merged = path.join(dir, 'merged');
  for (let i = 0; i < 5 && (await isMounted(merged)); i++) {
    const result = await exec('umount', [merged]);
    if (result.code !== 0) await sleep(200 * (i + 1));
  }
  if (await isMounted(merged)) await execOk('umount', ['-l', merged]);
  await fs.rm(dir, { recursive: true, force: true });
  // What a killed nspawn leaves: its bridge-side veth (until the kernel reaps the
  // container's namespace) and its propagation directory.
  await nsExec(TWIN_NETNS, 'ip', ['link', 'delete', bridgeVeth(name)]).catch(() => undefined);
  await fs.rm(`/run/systemd/nspawn/propagate/${name}`, { recursive: true, force: true });
  await removeInstanceCgroups(name);
}

/** nspawn's name for the bridge side of a container's veth (vb- + machine name, at most 15 characters). */
export function bridgeVeth(name: string): string {
  return `vb-${name}`.slice(0, 15);
}
