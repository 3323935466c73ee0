// The twin's network: one namespace `ctwin` stands for the VPC, a bridge
// `ctbr0` inside it is the subnet, and every host (instances, etcd, the
// database nodes, the stable "Cloud SQL private IP") sits on that bridge with
// one address. Nothing is routed between these namespaces and the machine's
// own interfaces, so no twin traffic can leave the machine. Every name and
// address the other twin modules use is defined here and nowhere else.

import { spawn } from 'node:child_process';

/** TWIN_NETNS=ctwin-<x> runs a second, separate twin network (development beside a running twin). */
export const TWIN_NETNS = process.env.TWIN_NETNS ?? 'ctwin';
if (!/^ctwin(-[a-z0-9]+)?$/.test(TWIN_NETNS))
  throw new Error(`TWIN_NETNS must be ctwin or ctwin-<name>, got ${TWIN_NETNS}`);
export const TWIN_BRIDGE = 'ctbr0';
export const TWIN_SUBNET = '10.89.0.0/24';
export const TWIN_PREFIX_LEN = 24;
/** The bridge address inside ctwin; the load balancer's frontends and the metadata server listen here. */
export const GATEWAY_IP = '10.89.0.1';
export const LB_HTTPS_PORT = 443;
export const LB_HTTP_PORT = 80;
/** GCP's link-local metadata address, added to ctbr0 so instances reach it on-link. */
export const METADATA_IP = '169.254.169.254';
export const METADATA_HOSTNAME = 'metadata.google.internal';
/** Private Google Access stand-in: the twin's Secret Manager answers here (secretmanager.googleapis.com). */
export const GOOGLE_APIS_IP = '10.89.0.2';

/** The three zones of the region (terraform/envs/prod.json: europe-west1-b/c/d). */
export const ZONES = ['a', 'b', 'c'] as const;
export type Zone = (typeof ZONES)[number];

/** Instance slots per zone: zone a = .11-.19, b = .21-.29, c = .31-.39. */
export const SLOTS_PER_ZONE = 9;

export function zoneIndex(zone: Zone): number {
  return ZONES.indexOf(zone);
}

/** `vm-a-1` = 10.89.0.11, `vm-b-1` = .21, `vm-c-3` = .33. */
export function instanceName(zone: Zone, slot: number): string {
  checkSlot(slot);
  return `vm-${zone}-${slot}`;
}

export function instanceAddress(zone: Zone, slot: number): string {
  checkSlot(slot);
  return `10.89.0.${10 * (zoneIndex(zone) + 1) + slot}`;
}

/** The zone and slot of an instance name, or undefined if the name is not an instance's. */
export function parseInstanceName(name: string): { zone: Zone; slot: number } | undefined {
  const match = /^vm-([abc])-([1-9])$/.exec(name);
  if (!match) return undefined;
  return { zone: match[1] as Zone, slot: Number(match[2]) };
}

function checkSlot(slot: number): void {
  if (!Number.isInteger(slot) || slot < 1 || slot > SLOTS_PER_ZONE) {
    throw new Error(`instance slot must be an integer 1-${SLOTS_PER_ZONE}, got ${slot}`);
  }
}

export interface TwinHost {
  /** Namespace name (also the hostname). */
  readonly name: string;
  readonly ip: string;
  /** Zone the host stands in; used for cross-zone delays. */
  readonly zone: Zone;
}

/** The database tier's hosts (built by twin/db). */
export const DB_HOSTS = {
  dcs: { name: 'ctwin-dcs', ip: '10.89.0.50', zone: 'c' },
  db1: { name: 'ctwin-db1', ip: '10.89.0.51', zone: 'a' },
  db2: { name: 'ctwin-db2', ip: '10.89.0.52', zone: 'b' },
  sql: { name: 'ctwin-sql', ip: '10.89.0.60', zone: 'a' },
} as const satisfies Record<string, TwinHost>;

/** The stable "Cloud SQL private IP" the instances connect to. */
export const SQL_ADDRESS = DB_HOSTS.sql.ip;
export const SQL_PORT = 5432;

/** Every name the twin may leave behind; cleanup finds leftovers by these. */
export const TWIN_NAME_PREFIXES = { netns: 'ctwin', vethInBridge: 'vh-', machine: 'vm-' } as const;

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  readonly timeoutMs?: number;
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Runs a command to completion (killed with its process group at the deadline); never throws on exit code. */
export function exec(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a command that ignores its input closes the pipe early
      child.stdin.end(options.input);
    }
  });
}

/** As exec, but throws with the command and its stderr unless it exits 0. */
export async function execOk(command: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const result = await exec(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${[command, ...args].join(' ')} exited ${result.code}: ${result.stderr.trim().slice(-2000)}`);
  }
  return result.stdout;
}

/**
 * Runs a command inside a namespace's network (nsenter, not `ip netns exec`:
 * the latter remounts /sys and breaks systemd-nspawn's cgroup setup).
 */
export function nsExec(
  netns: string,
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  return exec('nsenter', [`--net=/run/netns/${netns}`, '--', command, ...args], options);
}

export async function nsExecOk(
  netns: string,
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<string> {
  return execOk('nsenter', [`--net=/run/netns/${netns}`, '--', command, ...args], options);
}

/** The argv prefix that runs a long-lived process inside a namespace (for spawn). */
export function nsArgv(netns: string, command: string, args: readonly string[]): string[] {
  return ['nsenter', `--net=/run/netns/${netns}`, '--', command, ...args];
}

export async function listNetns(): Promise<string[]> {
  const out = await execOk('ip', ['-json', 'netns', 'list']).catch(() => '[]');
  const parsed = JSON.parse(out.trim() === '' ? '[]' : out) as { name: string }[];
  return parsed.map((entry) => entry.name);
}

/** Creates ctwin with ctbr0 (10.89.0.1/24 and the metadata address). Idempotent. */
export async function createNetwork(): Promise<void> {
  if (!(await listNetns()).includes(TWIN_NETNS)) await execOk('ip', ['netns', 'add', TWIN_NETNS]);
  await nsExecOk(TWIN_NETNS, 'ip', ['link', 'set', 'lo', 'up']);
  const links = await nsExec(TWIN_NETNS, 'ip', ['link', 'show', TWIN_BRIDGE]);
  if (links.code !== 0) {
    await nsExecOk(TWIN_NETNS, 'ip', ['link', 'add', TWIN_BRIDGE, 'type', 'bridge']);
    await nsExecOk(TWIN_NETNS, 'ip', ['addr', 'add', `${GATEWAY_IP}/${TWIN_PREFIX_LEN}`, 'dev', TWIN_BRIDGE]);
    await nsExecOk(TWIN_NETNS, 'ip', ['addr', 'add', `${METADATA_IP}/32`, 'dev', TWIN_BRIDGE]);
    await nsExecOk(TWIN_NETNS, 'ip', ['addr', 'add', `${GOOGLE_APIS_IP}/32`, 'dev', TWIN_BRIDGE]);
  }
  await nsExecOk(TWIN_NETNS, 'ip', ['link', 'set', TWIN_BRIDGE, 'up']);
}

/** Deletes ctwin (and with it ctbr0 and every bridge-side veth). Idempotent. */
export async function destroyNetwork(): Promise<void> {
  if ((await listNetns()).includes(TWIN_NETNS)) await execOk('ip', ['netns', 'delete', TWIN_NETNS]);
}

/** The bridge-side veth name of a host namespace (IFNAMSIZ: at most 15 characters). */
export function bridgeVethName(host: string): string {
  const name = `vh-${host}`;
  if (name.length > 15) throw new Error(`host name ${host} too long for a veth name`);
  return name;
}

/**
 * Creates namespace `host` with eth0 = `ip`/24 joined to ctbr0 by a veth pair
 * (bridge side `vh-<host>`). Idempotent: an existing namespace is replaced.
 */
export async function attachHost(host: string, ip: string): Promise<void> {
  await detachHost(host);
  const veth = bridgeVethName(host);
  await execOk('ip', ['netns', 'add', host]);
  await nsExecOk(TWIN_NETNS, 'ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host]);
  await nsExecOk(TWIN_NETNS, 'ip', ['link', 'set', veth, 'master', TWIN_BRIDGE, 'up']);
  await nsExecOk(host, 'ip', ['link', 'set', 'lo', 'up']);
  await nsExecOk(host, 'ip', ['addr', 'add', `${ip}/${TWIN_PREFIX_LEN}`, 'dev', 'eth0']);
  await nsExecOk(host, 'ip', ['link', 'set', 'eth0', 'up']);
}

/** Removes a host namespace (its veth pair goes with it). Idempotent. */
export async function detachHost(host: string): Promise<void> {
  if ((await listNetns()).includes(host)) await execOk('ip', ['netns', 'delete', host]);
  if ((await listNetns()).includes(TWIN_NETNS)) {
    await nsExec(TWIN_NETNS, 'ip', ['link', 'delete', bridgeVethName(host)]);
  }
}

/**
 * Checks (never probes) that the root namespace has no route of its own into
 * the twin: `ip route get` for the twin's addresses must not name a twin
 * interface nor a source in the twin subnet, and no root route may cover it.
 * Throws with the offending route otherwise.
 */
export async function assertIsolated(): Promise<void> {
  const routes = await execOk('ip', ['route', 'show', 'table', 'all']);
  const own = routes.split('\n').filter((line) => line.startsWith('10.89.0.') || line.includes(TWIN_BRIDGE));
  if (own.length > 0) throw new Error(`root namespace has a route into the twin: ${own.join('; ')}`);
  for (const ip of [GATEWAY_IP, instanceAddress('a', 1), SQL_ADDRESS]) {
    const route = (await execOk('ip', ['route', 'get', ip])).trim();
    if (/dev (ctbr0|vh-)/.test(route) || /src 10\.89\.0\./.test(route)) {
      throw new Error(`root namespace routes ${ip} into the twin: ${route}`);
    }
  }
}
