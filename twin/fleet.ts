// The fleet side of the twin, wired together: the metadata server (one
// process inside ctwin), the instances' metadata (terraform/instance-metadata.ts
// with the twin database's address, CA and password), the MIG's real
// dependencies (nspawn instances, HAProxy backends, autohealing probes sent
// from inside ctwin) and the fleet's persistent settings (fleet.json).

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { instanceMetadata } from '../terraform/instance-metadata.js';
import type { HttpCheck } from '../terraform/serving-policy.js';
import { ensureGuestLayer } from './guest.js';
import { imageRoot, repoDir, TWIN_STATE_DIR } from './image.js';
import {
  alive,
  cpuSharesAfter,
  createInstance,
  destroyInstance,
  listRecords,
  livePids,
  readRecord,
  setCpuShares,
  stopInstance,
} from './instance.js';
import { ensureSshKey, SSH_USER, writeInventory } from './inventory.js';
import { addBackend, drainBackend } from './lb.js';
import { Mig, type MigDeps, type MigEvent } from './mig.js';
import { ensureCa, ensureLeaf } from './pki.js';
import { GOOGLE_APIS_IP, METADATA_IP, nsArgv, nsExec, TWIN_NETNS, ZONES, type Zone } from './topology.js';

export const PKI_DIR = path.join(TWIN_STATE_DIR, 'pki');
const METADATA_DIR = path.join(TWIN_STATE_DIR, 'metadata');
const METADATA_STATE = path.join(METADATA_DIR, 'state.json');
const METADATA_PID = path.join(METADATA_DIR, 'server.pid');
const FLEET_FILE = path.join(TWIN_STATE_DIR, 'fleet.json');
export const EVENTS_FILE = path.join(TWIN_STATE_DIR, 'mig-events.ndjson');
/** terraform/envs/prod.json: fleet.bootSeconds, the autohealing initial delay. */
const PROD_ENV = path.join(repoDir, 'terraform', 'envs', 'prod.json');
const PASSWORD_SECRET = 'projects/counter-api-prod/secrets/counter-prod-db-password';

export interface FleetSettings {
  readonly zones: readonly Zone[];
  readonly targetSize: number;
  readonly version: string;
  readonly initialDelaySec: number;
  /** Extra KEY=VALUE lines appended to counter-api-env (the twin's deviations, stated). */
  readonly extraEnv: Readonly<Record<string, string>>;
}

export async function readFleet(): Promise<FleetSettings | undefined> {
  try {
    return JSON.parse(await fs.readFile(FLEET_FILE, 'utf8')) as FleetSettings;
  } catch {
    return undefined;
  }
}

export async function writeFleet(settings: FleetSettings): Promise<void> {
  await fs.mkdir(TWIN_STATE_DIR, { recursive: true });
  await fs.writeFile(FLEET_FILE, `${JSON.stringify(settings, null, 2)}\n`);
}

export async function initialDelayFromEnv(): Promise<number> {
  const raw = JSON.parse(await fs.readFile(PROD_ENV, 'utf8')) as { fleet?: { bootSeconds?: number } };
  return raw.fleet?.bootSeconds ?? 300;
}

interface MetadataState {
  tls: { key: string; cert: string };
  secrets: Record<string, string>;
  instances: Record<string, { name: string; zone: string; image: string; attributes: Record<string, string> }>;
}

async function readMetadataState(): Promise<MetadataState> {
  return JSON.parse(await fs.readFile(METADATA_STATE, 'utf8')) as MetadataState;
}

async function writeMetadataState(state: MetadataState): Promise<void> {
  const tmp = `${METADATA_STATE}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await fs.rename(tmp, METADATA_STATE);
}

/** Serialises read-modify-write of shared files within this process. */
let queue: Promise<unknown> = Promise.resolve();
function serial<T>(fn: () => Promise<T>): Promise<T> {
  const next = queue.then(fn, fn);
  queue = next.catch(() => undefined);
  return next;
}

const guestLayers = new Map<string, Promise<string>>();
function guestLayer(version: string, root: string): Promise<string> {
  let layer = guestLayers.get(version);
  if (layer === undefined) {
    layer = (async () => ensureGuestLayer(version, root, await fs.readFile((await ensureCa(PKI_DIR)).cert, 'utf8')))();
    guestLayers.set(version, layer);
    layer.catch(() => guestLayers.delete(version));
  }
  return layer;
}

export interface DatabaseAccess {
  readonly password: string;
  readonly role: string;
  readonly host: string;
  readonly caPem?: string;
}

/** Starts the metadata server and Secret Manager stand-in inside ctwin. */
export async function startMetadataServer(db: DatabaseAccess): Promise<void> {
  await stopMetadataServer();
  await fs.mkdir(METADATA_DIR, { recursive: true, mode: 0o700 });
  const leaf = await ensureLeaf(PKI_DIR, 'googleapis', ['secretmanager.googleapis.com', GOOGLE_APIS_IP]);
  await writeMetadataState({
    tls: { key: await fs.readFile(leaf.key, 'utf8'), cert: await fs.readFile(leaf.cert, 'utf8') },
    secrets: { [PASSWORD_SECRET]: db.password },
    instances: {},
  });
  await fs.writeFile(path.join(METADATA_DIR, 'db.json'), JSON.stringify(db), { mode: 0o600 });
  const log = openSync(path.join(METADATA_DIR, 'server.log'), 'a');
  const argv = nsArgv(TWIN_NETNS, process.execPath, [
    '--import',
    'tsx',
    path.join(repoDir, 'twin', 'metadata-server.ts'),
    METADATA_STATE,
    METADATA_IP,
    GOOGLE_APIS_IP,
  ]);
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', log, log], detached: true, cwd: repoDir });
  closeSync(log);
  child.unref();
  await fs.writeFile(METADATA_PID, String(child.pid));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const probe = await nsExec(TWIN_NETNS, 'curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-m',
      '2',
      `http://${METADATA_IP}/`,
    ]);
    if (probe.stdout === '403') return;
    if (!alive(child.pid)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const tail = await fs.readFile(path.join(METADATA_DIR, 'server.log'), 'utf8').catch(() => '');
  throw new Error(`the metadata server did not start:\n${tail.slice(-2000)}`);
}

export async function metadataServerPid(): Promise<number | undefined> {
  const pid = Number((await fs.readFile(METADATA_PID, 'utf8').catch(() => '')).trim());
  if (!(pid > 0) || !alive(pid)) return undefined;
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('metadata-server.ts') ? pid : undefined;
}

export async function stopMetadataServer(): Promise<void> {
  const pid = await metadataServerPid();
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 30 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await fs.rm(METADATA_PID, { force: true });
}

/** Registers an instance's metadata (before it boots: its startup script reads it). */
export function registerInstance(
  name: string,
  zone: Zone,
  ip: string,
  version: string,
  extraEnv: Readonly<Record<string, string>>,
): Promise<void> {
  return serial(() => registerNow(name, zone, ip, version, extraEnv));
}

async function registerNow(
  name: string,
  zone: Zone,
  ip: string,
  version: string,
  extraEnv: Readonly<Record<string, string>>,
): Promise<void> {
  const db = JSON.parse(await fs.readFile(path.join(METADATA_DIR, 'db.json'), 'utf8')) as DatabaseAccess;
  const attributes = instanceMetadata({
    pgHost: db.host,
    pgServerCa: db.caPem ?? '',
    sslMode: db.caPem === undefined ? 'require' : 'verify-ca',
    passwordSecretId: PASSWORD_SECRET,
  });
  let env = attributes['counter-api-env'] ?? '';
  // The twin's database names its application role differently from terraform/naming.ts.
  env = env.replace(/^PGUSER=.*$/m, `PGUSER=${db.role}`);
  if (db.caPem === undefined) env = env.replace(/^PGSSLMODE=.*$/m, 'PGSSLMODE=disable');
  for (const [key, value] of Object.entries(extraEnv)) env += `\n${key}=${value}`;
  attributes['counter-api-env'] = env;
  // OS Login stands in as the guest agent's ssh-keys account (twin/guest.ts).
  attributes['ssh-keys'] = `${SSH_USER}:${await ensureSshKey()}`;
  const state = await readMetadataState();
  state.instances[ip] = { name, zone, image: version, attributes };
  await writeMetadataState(state);
}

export function unregisterInstance(ip: string): Promise<void> {
  return serial(() => unregisterNow(ip));
}

async function unregisterNow(ip: string): Promise<void> {
  const state = await readMetadataState().catch(() => undefined);
  if (state === undefined) return;
  delete state.instances[ip];
  await writeMetadataState(state);
}

/** One HTTP check from inside ctwin (never from the root namespace). */
export async function probeFromTwin(ip: string, check: HttpCheck): Promise<boolean> {
  const result = await nsExec(
    TWIN_NETNS,
    'curl',
    [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-m',
      String(check.timeoutSec),
      `http://${ip}:${check.port}${check.path}`,
    ],
    { timeoutMs: (check.timeoutSec + 5) * 1000 },
  );
  return result.stdout.trim() === '200';
}

/** The MIG's dependencies on the real twin. */
export function twinMigDeps(
  settings: FleetSettings,
  log: (e: MigEvent) => void,
  unavailableZones: ReadonlySet<Zone> = new Set(),
): MigDeps {
  return {
    create: async (name, zone, ip, version) => {
      // A zone outage: GCE refuses new VMs there until it is back.
      if (unavailableZones.has(zone)) throw new Error(`zone ${zone} is unavailable`);
      const root = imageRoot(version);
      const guest = await guestLayer(version, root);
      await registerInstance(name, zone, ip, version, settings.extraEnv);
      await createInstance({ name, zone, ip, version, imageRoot: root, guestLayer: guest });
      await serial(writeInventory);
    },
    lbAdd: (name, ip) => addBackend(name, ip),
    lbDrain: async (name) => void (await drainBackend(name)),
    stopAndDelete: async (name) => {
      const record = await readRecord(name);
      try {
        await stopInstance(name);
      } finally {
        await destroyInstance(name);
      }
      if (record !== undefined) await unregisterInstance(record.ip);
      await serial(writeInventory);
    },
    probe: probeFromTwin,
    running: async (name) => {
      const record = await readRecord(name);
      if (record === undefined) return false;
      return (await livePids(record)).leader !== undefined;
    },
    now: () => Date.now(),
    log: (event) => {
      void fs.appendFile(EVENTS_FILE, `${JSON.stringify(event)}\n`).catch(() => undefined);
      // In service from its first passing check until drained for deletion:
      // only then does it get a VM's CPU (instance.ts).
      const shares = cpuSharesAfter(event.type);
      if (shares !== undefined && event.instance !== undefined) void setCpuShares(event.instance, shares);
      log(event);
    },
  };
}

/** A MIG over the instances that exist now (adopted), with the fleet's settings. */
export async function loadMig(
  log: (e: MigEvent) => void = () => undefined,
  unavailableZones: ReadonlySet<Zone> = new Set(),
): Promise<{ mig: Mig; settings: FleetSettings }> {
  const settings = await readFleet();
  if (settings === undefined) throw new Error('the twin fleet is not up (no fleet.json): run npm run twin:up');
  const mig = new Mig(
    {
      zones: settings.zones,
      targetSize: settings.targetSize,
      version: settings.version,
      initialDelaySec: settings.initialDelaySec,
    },
    twinMigDeps(settings, log, unavailableZones),
  );
  for (const record of await listRecords()) {
    mig.adopt(record.name, record.zone, record.ip, record.version, Date.parse(record.createdAt));
  }
  return { mig, settings };
}

export { ZONES };
