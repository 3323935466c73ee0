// SQL against the twin's database, always sent from inside a twin namespace
// (never from the root namespace to a twin address): psql through the stable
// address from ctwin, where the load generator runs, and pgbench on the
// primary's own host for commit latency. Also the connection settings the
// instances use, the same variables production sets.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TWIN_NETNS, nsExec } from '../topology.js';
import { APP_DATABASE, APP_ROLE, PG_BIN, PG_PORT, SQL_ADDRESS, SQL_PORT, caCertFile } from './settings.js';
import { requireState, type DatabaseState } from './state.js';

function superuserUrl(
  state: DatabaseState,
  database = 'postgres',
  host: string = SQL_ADDRESS,
  port: number = SQL_PORT,
): string {
  const tls = state.tls ? `?sslmode=verify-ca&sslrootcert=${encodeURIComponent(caCertFile())}` : '';
  return `postgresql://postgres:${encodeURIComponent(state.credentials.superuser)}@${host}:${port}/${database}${tls}`;
}

/** Runs statements (each its own -c, so CREATE DATABASE works) as the superuser; returns unaligned output. */
export async function psql(
  statements: readonly string[],
  options: { database?: string; netns?: string; host?: string; port?: number; timeoutMs?: number } = {},
): Promise<string> {
  const state = requireState();
  const result = await nsExec(
    options.netns ?? TWIN_NETNS,
    `${PG_BIN}/psql`,
    [
      superuserUrl(state, options.database, options.host, options.port),
      ...['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'],
      ...statements.flatMap((s) => ['-c', s]),
    ],
    { timeoutMs: options.timeoutMs ?? 15_000, env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '3' } },
  );
  if (result.code !== 0) throw new Error(`psql failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** The counter's value, read through the stable address (ctwin-sql). */
export async function readCounter(): Promise<number> {
  const out = await psql(['SELECT value FROM counter WHERE id = 1'], { database: APP_DATABASE });
  const value = Number(out);
  if (!Number.isSafeInteger(value)) throw new Error(`unexpected counter value "${out}"`);
  return value;
}

export interface Connection {
  readonly url: string;
  /** The environment an instance needs: DATABASE_URL and, with TLS, PGSSLMODE/PGSSLROOTCERT. */
  readonly env: Readonly<Record<string, string>>;
  /** The CA certificate to install on instances (host path), or undefined without TLS. */
  readonly caCertFile: string | undefined;
}

/**
 * How the instances connect: the stable address, the application's role,
 * and verify-ca against the twin's CA. `caPathOnInstance` is where the
 * instance finds the CA file (default: the host path).
 */
export function databaseConnection(caPathOnInstance?: string): Connection {
  const state = requireState();
  const url = `postgresql://${APP_ROLE}:${encodeURIComponent(state.credentials.app)}@${SQL_ADDRESS}:${SQL_PORT}/${APP_DATABASE}`;
  const env: Record<string, string> = { DATABASE_URL: url };
  if (state.tls) {
    env.PGSSLMODE = 'verify-ca';
    env.PGSSLROOTCERT = caPathOnInstance ?? caCertFile();
  }
  return { url, env, caCertFile: state.tls ? caCertFile() : undefined };
}

export interface Latency {
  readonly transactions: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Back-compatible name: commit latencies are Latency figures. */
export type CommitLatency = Latency;

/**
 * Times `transactions` runs of one SQL statement, one client, from inside
 * `netns` (pgbench with its per-transaction log, so every run is seen, not
 * just the average).
 */
export async function measureLatency(
  netns: string,
  sql: string,
  options: { host?: string; port?: number; transactions?: number } = {},
): Promise<Latency> {
  const state = requireState();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ctwin-pgbench-'));
  try {
    const script = path.join(dir, 'script.sql');
    writeFileSync(script, `${sql}\n`);
    const result = await nsExec(
      netns,
      `${PG_BIN}/pgbench`,
      [
        ...['-n', '-c', '1', '-t', String(options.transactions ?? 200), '-f', script, '-l', `--log-prefix=${dir}/tx`],
        ...['-h', options.host ?? '127.0.0.1', '-p', String(options.port ?? SQL_PORT), '-U', 'postgres', 'postgres'],
      ],
      {
        timeoutMs: 120_000,
        env: {
          PATH: process.env.PATH,
          PGPASSWORD: state.credentials.superuser,
          ...(state.tls ? { PGSSLMODE: 'verify-ca', PGSSLROOTCERT: caCertFile() } : {}),
        },
      },
    );
    if (result.code !== 0) throw new Error(`pgbench failed: ${result.stderr.trim()}`);
    const log = readdirSync(dir).find((f) => f.startsWith('tx'));
    if (log === undefined) throw new Error('pgbench wrote no transaction log');
    // Columns: client_id transaction_no time_us script_no time_epoch time_us_fraction
    const times = readFileSync(path.join(dir, log), 'utf8')
      .trim()
      .split('\n')
      .map((line) => Number(line.split(' ')[2]) / 1000)
      .sort((a, b) => a - b);
    const at = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)] ?? Number.NaN;
    return {
      transactions: times.length,
      minMs: times[0] ?? Number.NaN,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: times.at(-1) ?? Number.NaN,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Single-row UPDATE commits timed on the primary's own host: no network delay on the way. */
export async function measureCommitLatency(primaryNetns: string, transactions = 200): Promise<Latency> {
  await psql([
    'CREATE TABLE IF NOT EXISTS commit_probe (id int PRIMARY KEY, v bigint NOT NULL)',
    'INSERT INTO commit_probe VALUES (1, 0) ON CONFLICT DO NOTHING',
  ]);
  return measureLatency(primaryNetns, 'UPDATE commit_probe SET v = v + 1 WHERE id = 1;', {
    host: '127.0.0.1',
    port: PG_PORT,
    transactions,
  });
}

/** `SELECT 1` round trips through the stable address, sent from ctwin over an open connection. */
export async function measureRoundTrip(transactions = 200): Promise<Latency> {
  return measureLatency(TWIN_NETNS, 'SELECT 1;', { host: SQL_ADDRESS, port: SQL_PORT, transactions });
}
