// Starting and stopping the twin's "Cloud SQL HA": etcd on ctwin-dcs, a
// Patroni node on ctwin-db1 (zone a) and ctwin-db2 (zone b), HAProxy on
// ctwin-sql (the stable private address) and, unless --no-delay, the relay
// that adds the cross-zone round trip. Stopping leaves no process, namespace
// or file behind, also after a failed start: Patroni is stopped first (it
// shuts PostgreSQL down), then any postmaster still running (a killed Patroni
// leaves its postmaster behind) by its postmaster.pid, then everything still
// living in the database namespaces or naming the state directory.

import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  TWIN_NETNS,
  attachHost,
  createNetwork,
  destroyNetwork,
  detachHost,
  execOk,
  listNetns,
  nsExec,
} from '../topology.js';
import {
  etcdArgv,
  HAPROXY_CHECK,
  haproxyBind,
  haproxyConfig,
  patroniConfig,
  type DatabaseTuning,
} from './config-files.js';
import { healPartition } from './partition.js';
import { killAll, namespacePids, readPid, startDaemon, stateDirPids, stopDaemon, stopPid } from './processes.js';
import { psql } from './sql.js';
import { waitForStablePrimary } from './stable-primary.js';
import { loadState, saveState, type DatabaseState } from './state.js';
import { waitForStatus } from './status.js';
import { generateTls } from './tls.js';
import {
  APP_DATABASE,
  APP_ROLE,
  DB_HOSTS,
  DEFAULT_COMMIT_DELAY_MS,
  DEFAULT_RTT_MS,
  ETCD_BIN,
  HAPROXY_BIN,
  PATRONI_BIN,
  SQL_ADDRESS,
  SQL_PORT,
  STATE_DIR,
  dataDir,
  nodeDir,
  runDir,
  type NodeName,
} from './settings.js';

export interface StartOptions {
  /** false = --no-delay: no relay and no commit delay. */
  readonly delay?: boolean;
  readonly rttMs?: number;
  readonly commitDelayMs?: number;
  readonly tls?: boolean;
  readonly etcdMembers?: 1 | 3;
  readonly timeoutMs?: number;
}

const HOSTS = [DB_HOSTS.dcs, DB_HOSTS.db1, DB_HOSTS.db2, DB_HOSTS.sql];
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const password = () => randomBytes(18).toString('base64url');

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([execOk('id', ['-u', 'postgres']), execOk('id', ['-g', 'postgres'])]);
  return { uid: Number(uid), gid: Number(gid) };
}

export function patroniConfigFile(node: NodeName): string {
  return path.join(nodeDir(node), 'patroni.yml');
}

/** Starts (or restarts, after a kill) the Patroni daemon of one node. */
export function startNode(node: NodeName): number {
  return startDaemon(`patroni-${node}`, `ctwin-${node}`, [PATRONI_BIN, patroniConfigFile(node)], {
    user: 'postgres',
    env: { PATH: '/usr/bin:/bin', HOME: nodeDir(node), LANG: 'C.UTF-8' },
  });
}

/** Starts the relay on the stable address: fleet -> database round trip of `rttMs`. */
function startRelay(rttMs: number): void {
  const inner = haproxyBind(true);
  startDaemon(
    'relay',
    DB_HOSTS.sql.name,
    [
      process.execPath,
      ...['--import', 'tsx', path.join(ROOT, 'twin', 'db', 'delay-relay.ts')],
      ...['--listen', `${SQL_ADDRESS}:${SQL_PORT}`, '--target', `${inner.address}:${inner.port}`],
      ...['--rtt-ms', String(rttMs), '--tag', STATE_DIR],
    ],
    { cwd: ROOT },
  );
}

export async function startDatabase(options: StartOptions = {}): Promise<DatabaseState> {
  const delayed = options.delay ?? true;
  const tuning: DatabaseTuning = {
    commitDelayMs: delayed ? (options.commitDelayMs ?? DEFAULT_COMMIT_DELAY_MS) : 0,
    tls: options.tls ?? true,
    etcdMembers: options.etcdMembers ?? 1,
  };
  const rttMs = delayed ? (options.rttMs ?? DEFAULT_RTT_MS) : 0;
  const timeoutMs = options.timeoutMs ?? 90_000;
  await stopDatabase();
  const ownsNetwork = !(await listNetns()).includes(TWIN_NETNS);
  await createNetwork();
  for (const host of HOSTS) await attachHost(host.name, host.ip);

  const ids = await postgresIds();
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
  const state: DatabaseState = {
    credentials: { superuser: password(), replication: password(), app: password() },
    tls: tuning.tls,
    rttMs,
    commitDelayMs: tuning.commitDelayMs,
    etcdMembers: tuning.etcdMembers,
    ownsNetwork,
  };
  saveState(state);
  if (tuning.tls) await generateTls(ids);
  for (const node of ['db1', 'db2'] as const) {
    for (const dir of [nodeDir(node), runDir(node)]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chownSync(dir, ids.uid, ids.gid);
    }
    writeFileSync(
      patroniConfigFile(node),
      `${JSON.stringify(patroniConfig(node, state.credentials, tuning), null, 2)}\n`,
      {
        mode: 0o600,
      },
    );
    chownSync(patroniConfigFile(node), ids.uid, ids.gid);
  }
  for (let i = 0; i < tuning.etcdMembers; i += 1) {
    const dir = path.join(STATE_DIR, `etcd${i + 1}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    startDaemon(`etcd${i + 1}`, DB_HOSTS.dcs.name, [ETCD_BIN, ...etcdArgv(i, tuning.etcdMembers, dir)]);
  }
  // db1 bootstraps (zone a, beside the stable address); db2 clones from it.
  startNode('db1');
  await waitForStatus((s) => s.primary === 'db1', timeoutMs, 'db1 to bootstrap as primary');
  startNode('db2');
  await waitForStatus(
    (s) => s.primary !== undefined && s.syncStandby !== undefined,
    timeoutMs,
    'a synchronous standby',
  );

  const bind = haproxyBind(rttMs > 0);
  const haproxyCfg = path.join(STATE_DIR, 'haproxy.cfg');
  writeFileSync(haproxyCfg, haproxyConfig(bind.address, bind.port));
  startDaemon('haproxy', DB_HOSTS.sql.name, [HAPROXY_BIN, '-db', '-f', haproxyCfg]);
  if (rttMs > 0) startRelay(rttMs);

  // The application's database and role, once the stable address leads only
  // to the primary (stable-primary.ts); the service migrates its schema itself.
  await waitForStablePrimary(async () => (await psql(['SELECT pg_is_in_recovery()'])) === 'f', {
    consecutive: 3,
    spanMs: HAPROXY_CHECK.interMs * (HAPROXY_CHECK.fall + 1),
    intervalMs: 250,
    timeoutMs,
  });
  await psql([
    `CREATE ROLE ${APP_ROLE} LOGIN PASSWORD '${state.credentials.app}'`,
    `CREATE DATABASE ${APP_DATABASE} OWNER ${APP_ROLE}`,
  ]);
  return state;
}

/** Stops every database process and removes the database hosts and state. Idempotent. */
export async function stopDatabase(): Promise<void> {
  const state = loadState();
  if ((await listNetns()).includes(DB_HOSTS.sql.name)) await healPartition();
  await stopDaemon('relay');
  await stopDaemon('haproxy');
  await Promise.all((['db1', 'db2'] as const).map((node) => stopDaemon(`patroni-${node}`, 'SIGTERM', 20_000)));
  for (const node of ['db1', 'db2'] as const) {
    const postmaster = readPid(path.join(dataDir(node), 'postmaster.pid'));
    // SIGINT is PostgreSQL's fast shutdown; SIGKILL follows after the grace.
    if (postmaster !== undefined) await stopPid(postmaster, 'SIGINT', 10_000);
  }
  for (const name of ['etcd1', 'etcd2', 'etcd3']) await stopDaemon(name);
  const leftovers = new Set<number>(stateDirPids());
  for (const host of HOSTS) for (const pid of await namespacePids(host.name)) leftovers.add(pid);
  await killAll([...leftovers]);
  for (const host of HOSTS) await detachHost(host.name);
  if (state?.ownsNetwork && (await listNetns()).filter((n) => n !== TWIN_NETNS && n.startsWith('ctwin')).length === 0) {
    // Only a network this module created, and only when no other twin host is on it.
    const others = await nsExec(TWIN_NETNS, 'ip', ['-o', 'link', 'show', 'master', 'ctbr0']).catch(() => undefined);
    if (others === undefined || others.stdout.trim() === '') await destroyNetwork();
  }
  if (existsSync(STATE_DIR)) rmSync(STATE_DIR, { recursive: true, force: true });
}
