// The configuration the database tier's daemons read, generated from
// settings.ts: Patroni (one file per node), HAProxy, and etcd's command line.
// Patroni reads YAML; JSON is YAML, so the files are written as JSON.
//
// Failover settings resemble Cloud SQL HA (a synchronous standby in a second
// zone, promoted automatically, one stable address) and are the fastest that
// stay stable on a loaded 2-core machine (docs/twin.md, "Failover timing"):
// ttl 6 s, loop_wait 1 s, retry_timeout 2 s; primary_start_timeout 0 so a
// crashed primary is failed over instead of restarted in place;
// synchronous_mode so no acknowledged commit is lost in a failover; pg_rewind
// and replication slots so the old primary rejoins as the new standby.

import {
  DB_HOSTS,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  HAPROXY_INNER_PORT,
  PATRONI_REST_PORT,
  PG_BIN,
  PG_PORT,
} from './settings.js';
import {
  NODES,
  SCOPE,
  SQL_ADDRESS,
  SQL_PORT,
  TWIN_SUBNET,
  dataDir,
  nodeDir,
  runDir,
  tlsDir,
  type NodeName,
} from './settings.js';

export interface Credentials {
  readonly superuser: string;
  readonly replication: string;
  readonly app: string;
}

export interface DatabaseTuning {
  /** recovery_min_apply_delay on the standby, ms (0: none). */
  readonly commitDelayMs: number;
  readonly tls: boolean;
  readonly etcdMembers: 1 | 3;
}

/** Client URLs of the etcd members, all on the dcs host. */
export function etcdMembers(count: 1 | 3): { name: string; client: string; peer: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `dcs${i + 1}`,
    client: `${DB_HOSTS.dcs.ip}:${ETCD_CLIENT_PORT + 2 * i}`,
    peer: `${DB_HOSTS.dcs.ip}:${ETCD_PEER_PORT + 2 * i}`,
  }));
}

export function etcdArgv(index: number, count: 1 | 3, dataDirectory: string): string[] {
  const members = etcdMembers(count);
  const me = members[index];
  if (me === undefined) throw new Error(`no etcd member ${index}`);
  return [
    ...['--name', me.name, '--data-dir', dataDirectory],
    ...['--listen-client-urls', `http://${me.client}`, '--advertise-client-urls', `http://${me.client}`],
    ...['--listen-peer-urls', `http://${me.peer}`, '--initial-advertise-peer-urls', `http://${me.peer}`],
    ...['--initial-cluster', members.map((m) => `${m.name}=http://${m.peer}`).join(',')],
    ...['--initial-cluster-state', 'new', '--initial-cluster-token', SCOPE],
    // Small and quick: the twin's DCS holds a handful of keys.
    ...['--heartbeat-interval', '100', '--election-timeout', '1000', '--snapshot-count', '10000'],
    ...['--quota-backend-bytes', String(256 * 2 ** 20), '--logger', 'zap', '--log-level', 'warn'],
  ];
}

/** PostgreSQL parameters the whole cluster shares (kept in the DCS by Patroni). */
export function clusterParameters(tuning: DatabaseTuning): Record<string, string | number> {
  return {
    // Every commit waits until the synchronous standby has applied it, so the
    // standby's apply delay is paid by every commit: the modelled cross-zone
    // commit latency. With `on` the delay would have no effect.
    synchronous_commit: 'remote_apply',
    recovery_min_apply_delay: `${tuning.commitDelayMs}ms`,
    wal_log_hints: 'on',
    wal_level: 'replica',
    hot_standby: 'on',
    max_connections: 200,
    max_wal_senders: 10,
    max_replication_slots: 10,
    wal_keep_size: '128MB',
    shared_buffers: '64MB',
    password_encryption: 'scram-sha-256',
    ...(tuning.tls
      ? {
          ssl: 'on',
          ssl_cert_file: `${tlsDir()}/server.crt`,
          ssl_key_file: `${tlsDir()}/server.key`,
          ssl_min_protocol_version: 'TLSv1.2',
        }
      : {}),
  };
}

export function patroniConfig(node: NodeName, credentials: Credentials, tuning: DatabaseTuning): object {
  const host = NODES.find((h) => h.name === `ctwin-${node}`);
  if (host === undefined) throw new Error(`unknown node ${node}`);
  // Cloud SQL accepts only encrypted connections when ssl mode requires it:
  // with TLS on, the application's role may connect over TLS only.
  const app = tuning.tls ? 'hostssl' : 'host';
  return {
    scope: SCOPE,
    name: node,
    log: { level: 'INFO', dir: nodeDir(node), file_num: 2, file_size: 10_000_000 },
    restapi: { listen: `${host.ip}:${PATRONI_REST_PORT}`, connect_address: `${host.ip}:${PATRONI_REST_PORT}` },
    etcd3: { hosts: etcdMembers(tuning.etcdMembers).map((m) => m.client) },
    bootstrap: {
      dcs: {
        ttl: 6,
        loop_wait: 1,
        retry_timeout: 2,
        primary_start_timeout: 0,
        maximum_lag_on_failover: 1_048_576,
        synchronous_mode: true,
        postgresql: { use_pg_rewind: true, use_slots: true, parameters: clusterParameters(tuning) },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums'],
    },
    postgresql: {
      listen: `${host.ip},127.0.0.1:${PG_PORT}`,
      connect_address: `${host.ip}:${PG_PORT}`,
      data_dir: dataDir(node),
      bin_dir: PG_BIN,
      pgpass: `${nodeDir(node)}/pgpass`,
      authentication: {
        superuser: { username: 'postgres', password: credentials.superuser },
        replication: { username: 'replicator', password: credentials.replication },
        rewind: { username: 'postgres', password: credentials.superuser },
      },
      parameters: { unix_socket_directories: runDir(node) },
      pg_hba: [
        'local all all peer',
        `host replication replicator ${TWIN_SUBNET} scram-sha-256`,
        // Patroni reads a node's own timeline over a replication connection
        // to localhost (its local_replication_address) before deciding to
        // pg_rewind a former primary; refused, it never decides, and a
        // primary killed under load (WAL past the fork) never rejoins.
        'host replication replicator 127.0.0.1/32 scram-sha-256',
        'host all postgres 127.0.0.1/32 scram-sha-256',
        `host all postgres ${TWIN_SUBNET} scram-sha-256`,
        `${app} all all ${TWIN_SUBNET} scram-sha-256`,
      ],
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
}

/**
 * HAProxy on the stable address, following the primary: Patroni answers
 * `OPTIONS /primary` with 200 only on the leader (OPTIONS, not GET: GET
 * checks fill Patroni's log with connection-reset tracebacks). A node marked
 * down has its sessions cut, so clients reconnect to the new primary instead
 * of hanging on the old one. Checks every 500 ms, down after 2 failures,
 * up after 1 success.
 */
/** HAProxy's checks of Patroni's /primary: how soon a standby stops getting connections. */
export const HAPROXY_CHECK = { interMs: 500, fall: 2 } as const;

export function haproxyConfig(bindAddress: string, bindPort: number): string {
  const servers = NODES.map(
    (h) => `  server ${h.name.replace('ctwin-', '')} ${h.ip}:${PG_PORT} maxconn 300 check port ${PATRONI_REST_PORT}`,
  );
  return [
    'global',
    '  maxconn 1000',
    '',
    'defaults',
    '  mode tcp',
    '  retries 2',
    '  timeout connect 2s',
    '  timeout client 30m',
    '  timeout server 30m',
    '  timeout check 1s',
    '',
    'listen primary',
    `  bind ${bindAddress}:${bindPort}`,
    '  option httpchk OPTIONS /primary',
    '  http-check expect status 200',
    `  default-server inter ${HAPROXY_CHECK.interMs}ms fall ${HAPROXY_CHECK.fall} rise 1 on-marked-down shutdown-sessions`,
    ...servers,
    '',
  ].join('\n');
}

/** Where HAProxy binds: the public address itself, or loopback behind the delaying relay. */
export function haproxyBind(delayed: boolean): { address: string; port: number } {
  return delayed ? { address: '127.0.0.1', port: HAPROXY_INNER_PORT } : { address: SQL_ADDRESS, port: SQL_PORT };
}
