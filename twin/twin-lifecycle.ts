// Bringing the whole twin up, reporting on it and taking it down. Teardown
// never trusts its own records alone: it also scans for what the twin's
// names say it could have left (nspawn processes for vm-* machines under the
// instances directory, overlay mounts there, processes inside ctwin, the
// namespaces), so a crashed run is cleaned up as well as a clean one.

import fs from 'node:fs/promises';
import path from 'node:path';
import { ensureImage, TWIN_STATE_DIR } from './image.js';
import { alive, destroyInstance, INSTANCES_DIR, leftoverCgroups, listRecords, livePids } from './instance.js';
import { writeInventory, removeInventory } from './inventory.js';
import { haproxyPid, listServers, startLb, stopLb } from './lb.js';
import {
  EVENTS_FILE,
  initialDelayFromEnv,
  loadMig,
  metadataServerPid,
  PKI_DIR,
  readFleet,
  startMetadataServer,
  stopMetadataServer,
  writeFleet,
} from './fleet.js';
import { ensureLeaf } from './pki.js';
import {
  assertIsolated,
  createNetwork,
  destroyNetwork,
  execOk,
  GATEWAY_IP,
  listNetns,
  SQL_ADDRESS,
  TWIN_NETNS,
  ZONES,
} from './topology.js';

export interface UpOptions {
  readonly size: number;
  readonly version: string;
  readonly delay: boolean;
  readonly log: (line: string) => void;
  /** Bound on the fleet becoming available (boot + first autohealing check). */
  readonly timeoutMs?: number;
}

/** The twin's deviations from the production environment lines, each for a stated reason. */
export const TWIN_EXTRA_ENV: Readonly<Record<string, string>> = {
  // n2d-standard-2 has 2 vCPUs per VM; this whole machine has 2 cores for
  // every instance, the database and the load: one worker per instance.
  WEB_CONCURRENCY: '1',
};

async function database() {
  return import('./db/index.js');
}

export async function fleetUp(o: UpOptions): Promise<{ seconds: number; instances: string[] }> {
  const started = Date.now();
  o.log('cleaning up anything a previous run left');
  const left = await fleetDown(o.log);
  if (left.length > 0) throw new Error(`cannot start: ${left.join('; ')}`);

  o.log(`network: namespace ${TWIN_NETNS}, bridge at ${GATEWAY_IP}/24`);
  await createNetwork();
  await assertIsolated();

  const image = ensureImage({ version: o.version, log: o.log });
  o.log('database: Patroni pair + etcd + HAProxy at the stable address');
  const db = await database();
  const state = await db.startDatabase({ delay: o.delay });
  const baked = await image;
  o.log(`image ${baked.version}: ${baked.cached ? 'cached' : `baked in ${baked.seconds.toFixed(0)} s`}`);

  o.log('load balancer and metadata server');
  const lbCert = await ensureLeaf(PKI_DIR, 'lb', ['api.counter.example.com', GATEWAY_IP]);
  await startLb(lbCert.pemFile);
  const conn = db.databaseConnection();
  await startMetadataServer({
    password: state.credentials.app,
    role: db.APP_ROLE,
    host: SQL_ADDRESS,
    caPem: conn.caCertFile === undefined ? undefined : await fs.readFile(conn.caCertFile, 'utf8'),
  });

  await writeFleet({
    zones: ZONES,
    targetSize: o.size,
    version: o.version,
    initialDelaySec: await initialDelayFromEnv(),
    extraEnv: TWIN_EXTRA_ENV,
  });
  const { mig } = await loadMig((e) => o.log(`mig: ${e.type} ${e.instance ?? ''} ${e.detail ?? ''}`.trimEnd()));
  await mig.runUntil(() => mig.isStable(), o.timeoutMs ?? 10 * 60_000, 1000);
  await writeInventory();
  return { seconds: (Date.now() - started) / 1000, instances: [...mig.instances.keys()].sort() };
}

/** nspawn processes of twin machines (found by their command line, whatever the records say). */
async function strayNspawns(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('systemd-nspawn') && cmdline.includes(`${INSTANCES_DIR}/`) && cmdline.includes('\0vm-')) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

async function mountsUnder(dir: string): Promise<string[]> {
  const mounts = await fs.readFile('/proc/self/mounts', 'utf8');
  return mounts
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort()
    .reverse();
}

/** Marks in a command line that only twin processes carry (entered namespaces, state directories). */
const TWIN_CMDLINE_MARKS = [`/run/netns/${TWIN_NETNS}`, `${TWIN_STATE_DIR}/`, '/var/tmp/ctwin-db'];

/**
 * Twin processes found by their command line, whatever namespace they are in
 * (one left in a deleted namespace can no longer be found through it): a
 * load generator, ansible or ssh under nsenter, a daemon of the database.
 */
async function twinProcesses(): Promise<number[]> {
  const pids: number[] = [];
  const own = new Set([process.pid, process.ppid]);
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry) || own.has(Number(entry))) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (TWIN_CMDLINE_MARKS.some((mark) => cmdline.includes(mark))) pids.push(Number(entry));
  }
  return pids;
}

/** Processes whose network namespace is ctwin (anything the twin started there). */
async function processesInTwinNet(): Promise<number[]> {
  const target = await fs.stat(`/run/netns/${TWIN_NETNS}`).catch(() => undefined);
  if (target === undefined) return [];
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const ns = await fs.stat(`/proc/${entry}/ns/net`).catch(() => undefined);
    if (ns !== undefined && ns.ino === target.ino && ns.dev === target.dev) pids.push(Number(entry));
  }
  return pids;
}

/** Takes everything down; returns what could not be removed (empty = clean). */
export async function fleetDown(log: (line: string) => void): Promise<string[]> {
  const names = new Set((await listRecords()).map((r) => r.name));
  for (const entry of await fs.readdir(INSTANCES_DIR).catch(() => [] as string[])) names.add(entry);
  for (const name of names) {
    await destroyInstance(name).catch((err: unknown) => log(`instance ${name}: ${(err as Error).message}`));
  }
  for (const pid of await strayNspawns()) process.kill(pid, 'SIGKILL');
  for (const mount of await mountsUnder(INSTANCES_DIR)) await execOk('umount', ['-l', mount]).catch(() => undefined);
  // A bake killed mid-way leaves its chroot mounts (proc, sys, dev) under images/<version>.partial.
  for (const mount of await mountsUnder(TWIN_STATE_DIR)) await execOk('umount', ['-l', mount]).catch(() => undefined);
  await stopLb();
  await stopMetadataServer();
  // A development twin (TWIN_NETNS=ctwin-<x>) runs no database: never touch the real one's hosts.
  if (TWIN_NETNS === 'ctwin') {
    await (await database()).stopDatabase().catch((err: unknown) => log(`database: ${(err as Error).message}`));
  }
  // Anything else still in the namespace was started by the twin: it goes too.
  for (const pid of await processesInTwinNet()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const pid of await twinProcesses()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const ns of await listNetns()) {
    if (ns === TWIN_NETNS || ns.startsWith(`${TWIN_NETNS}-`))
      await execOk('ip', ['netns', 'delete', ns]).catch(() => undefined);
  }
  await destroyNetwork();
  await removeInventory();
  await fs.rm(INSTANCES_DIR, { recursive: true, force: true }).catch(() => undefined);
  await fs.rm(EVENTS_FILE, { force: true });
  await fs.rm(path.join(TWIN_STATE_DIR, 'fleet.json'), { force: true });

  const left: string[] = [];
  const ns = (await listNetns()).filter((n) => n.startsWith(TWIN_NETNS));
  if (ns.length > 0) left.push(`namespaces ${ns.join(', ')}`);
  const mounts = await mountsUnder(TWIN_STATE_DIR);
  if (mounts.length > 0) left.push(`mounts ${mounts.join(', ')}`);
  await new Promise((r) => setTimeout(r, 200)); // SIGKILLed processes take a moment to go
  const processes = await twinProcesses();
  if (processes.length > 0) left.push(`processes ${processes.join(', ')}`);
  const nspawns = await strayNspawns();
  if (nspawns.length > 0) left.push(`nspawn pids ${nspawns.join(', ')}`);
  const cgroups = await leftoverCgroups();
  if (cgroups.length > 0) left.push(`cgroups ${cgroups.join(', ')}`);
  if ((await haproxyPid()) !== undefined) left.push('haproxy');
  if ((await metadataServerPid()) !== undefined) left.push('metadata server');
  const links = (await execOk('ip', ['-o', 'link', 'show']))
    .split('\n')
    .filter((l) => /\b(ctbr0|vb-vm-|vh-ctwin)/.test(l));
  if (links.length > 0) left.push(`interfaces ${links.join('; ')}`);
  return left;
}

export interface InstanceStatus {
  readonly name: string;
  readonly ip: string;
  readonly zone: string;
  readonly version: string;
  readonly state: string;
  readonly lb: string;
}

export async function fleetStatus() {
  const network = (await listNetns()).includes(TWIN_NETNS);
  const lbPid = await haproxyPid();
  const servers = lbPid === undefined ? [] : await listServers().catch(() => []);
  let databaseLine = 'down';
  try {
    const s = await (await database()).databaseStatus();
    databaseLine = JSON.stringify(s);
  } catch (err) {
    databaseLine = `unavailable (${(err as Error).message.split('\n')[0]})`;
  }
  const fleet = await readFleet();
  const instances: InstanceStatus[] = [];
  for (const r of await listRecords()) {
    const pids = await livePids(r);
    instances.push({
      name: r.name,
      ip: r.ip,
      zone: r.zone,
      version: r.version,
      state: pids.leader !== undefined && alive(pids.leader) ? 'RUNNING' : 'TERMINATED',
      lb: servers.find((s) => s.name === r.name)?.status ?? 'not in backend',
    });
  }
  return {
    network,
    lb: lbPid === undefined ? undefined : `haproxy pid ${lbPid}`,
    metadata: (await metadataServerPid()) !== undefined,
    database: databaseLine,
    fleet: fleet === undefined ? undefined : `${fleet.targetSize} instances on ${fleet.version}`,
    instances,
  };
}
