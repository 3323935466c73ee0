// Names, addresses, ports, paths and defaults of the twin's database tier:
// "Cloud SQL for PostgreSQL, availability REGIONAL" as a Patroni pair (one
// node per zone) with etcd as the consensus store and HAProxy on the stable
// private address. Addresses come from twin/topology.ts; everything else the
// database modules share is here.

import path from 'node:path';
import { DB_HOSTS, SQL_ADDRESS, SQL_PORT, TWIN_SUBNET } from '../topology.js';

export const STATE_DIR = '/var/tmp/ctwin-db';
export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const PATRONI_BIN = '/usr/bin/patroni';
export const PATRONICTL_BIN = '/usr/bin/patronictl';
export const ETCD_BIN = '/usr/bin/etcd';
export const HAPROXY_BIN = '/usr/sbin/haproxy';

export const SCOPE = 'ctwin-sql';
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const PATRONI_REST_PORT = 8008;
export const PG_PORT = 5432;
/** HAProxy's port inside ctwin-sql when the delaying relay holds the public one. */
export const HAPROXY_INNER_PORT = 6432;

export const NODES = [DB_HOSTS.db1, DB_HOSTS.db2] as const;
export type NodeName = 'db1' | 'db2';
export const nodeName = (host: { name: string }): NodeName => host.name.replace('ctwin-', '') as NodeName;

/** The fleet's instances (10.89.0.11-39): the source range a partition silences. */
export const FLEET_RANGE = '10.89.0.11-10.89.0.39';
export { DB_HOSTS, SQL_ADDRESS, SQL_PORT, TWIN_SUBNET };

export const APP_DATABASE = 'counter';
export const APP_ROLE = 'counter_app';

/**
 * Cross-zone round trip. Google publishes a bound, not a typical value: its
 * "Geography and regions" page (https://cloud.google.com/docs/geography-and-regions)
 * states that locations within a region have round-trip network latencies
 * under 5 ms at the 95th percentile. The twin models a typical cross-zone
 * round trip of 1 ms (an estimate well inside that bound, in line with what
 * is commonly measured between zones) and takes the bound itself with
 * `--db-rtt-ms 5`.
 */
export const DEFAULT_RTT_MS = 1;
/**
 * The commit wait a synchronous standby in another zone adds: one cross-zone
 * round trip, modelled as the standby's recovery_min_apply_delay under
 * synchronous_commit = remote_apply (PostgreSQL applies a commit record only
 * once its commit time plus the delay has passed, and remote_apply makes the
 * primary wait for that).
 */
export const DEFAULT_COMMIT_DELAY_MS = DEFAULT_RTT_MS;

export const nodeDir = (node: NodeName): string => path.join(STATE_DIR, node);
export const dataDir = (node: NodeName): string => path.join(nodeDir(node), 'data');
export const runDir = (node: NodeName): string => path.join(nodeDir(node), 'run');
export const tlsDir = (): string => path.join(STATE_DIR, 'tls');
export const caCertFile = (): string => path.join(tlsDir(), 'ca.crt');
export const credentialsFile = (): string => path.join(STATE_DIR, 'credentials.json');
export const pidFile = (name: string): string => path.join(STATE_DIR, 'pids', `${name}.pid`);
export const logFile = (name: string): string => path.join(STATE_DIR, 'logs', `${name}.log`);
