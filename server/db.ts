// The database gateway: the only module that imports `pg`. It owns the pool,
// its error handler, transactions and advisory-lock sessions, bigint parsing,
// and query timing (by statement name, never parameters). Everything else
// talks to PostgreSQL through the small `Db` interface below, so tests and the
// allocators share one well-behaved way in.

import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { DatabaseConfig } from './config.js';
import type { Logger } from './log.js';
import { within } from './timing.js';

export interface Queryable {
  /** Runs one statement and returns its rows. `name` makes it a prepared statement and labels timings. */
  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[], name?: string): Promise<R[]>;
}

export interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

export interface Db extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` on one dedicated session, e.g. to hold a session-level advisory lock. */
  session<T>(fn: (s: Queryable) => Promise<T>): Promise<T>;
  ping(timeoutMs: number): Promise<void>;
  stats(): PoolStats;
  close(): Promise<void>;
}

/**
 * Runs `fn` on one session holding the session-level advisory lock named
 * `key`, so one worker across the fleet does it; undefined (without running
 * `fn`) if another session holds the lock.
 */
export async function withAdvisoryLock<T>(
  db: Db,
  key: string,
  fn: (s: Queryable) => Promise<T>,
): Promise<T | undefined> {
  return db.session(async (s) => {
    const [lock] = await s.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [key]);
    if (lock?.locked !== true) return undefined;
    try {
      return await fn(s);
    } finally {
      await s.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
    }
  });
}

export type QueryObserver = (name: string, seconds: number, ok: boolean) => void;

export interface DbOptions {
  readonly config: DatabaseConfig;
  readonly log: Logger;
  readonly applicationName?: string;
  readonly observe?: QueryObserver;
}

/** SQLSTATE of a PostgreSQL error, if the error came from the server. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export const UNIQUE_VIOLATION = '23505';

function parseInt8(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new RangeError(`bigint ${value} exceeds the safe integer range`);
  return parsed;
}

const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : (pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown)) as typeof pg.types.getTypeParser,
};

function sslOption(config: DatabaseConfig): pg.PoolConfig['ssl'] {
  const ca = config.sslRootCertFile === undefined ? undefined : readFileSync(config.sslRootCertFile, 'utf8');
  switch (config.sslMode) {
    case undefined:
      return undefined;
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // The certificate must chain to the CA; the host name is not checked
      // (Cloud SQL server certificates name the instance, not its private IP).
      return { ca, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ca };
  }
}

export function poolConfig(config: DatabaseConfig, applicationName: string): pg.PoolConfig {
  return {
    connectionString: config.connectionString,
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    ssl: sslOption(config),
    max: config.poolSize,
    connectionTimeoutMillis: config.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: applicationName,
    statement_timeout: config.queryTimeoutMs,
    idle_in_transaction_session_timeout: config.queryTimeoutMs,
    // Client-side bound for a server that stopped answering (network
    // partition): the connection is destroyed and the caller sees an error.
    query_timeout: config.queryTimeoutMs + 1000,
    types,
  };
}

export function createDb(options: DbOptions): Db {
  const { log } = options;
  const observe = options.observe ?? (() => undefined);
  const pool = new pg.Pool(poolConfig(options.config, options.applicationName ?? 'counter-api'));
  pool.on('error', (err) => {
    // An idle client lost its connection (database restart, failover). The
    // pool drops it; the next checkout opens a new one.
    log.warn({ err }, 'idle database connection lost');
  });

  async function timed<R>(run: () => Promise<pg.QueryResult>, name: string): Promise<R[]> {
    const started = process.hrtime.bigint();
    let ok = false;
    try {
      const result = await run();
      ok = true;
      return result.rows as R[];
    } finally {
      observe(name, Number(process.hrtime.bigint() - started) / 1e9, ok);
    }
  }

  function on(client: pg.PoolClient | pg.Pool): Queryable {
    return {
      query: <R>(text: string, values: readonly unknown[] = [], name = 'adhoc') =>
        timed<R>(
          () => client.query(name === 'adhoc' ? { text, values: [...values] } : { name, text, values: [...values] }),
          name,
        ),
    };
  }

  async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (error) {
      // A server-side error leaves the session usable; anything else (lost
      // connection, client-side timeout) means the session must not be reused.
      if (sqlState(error) === undefined) broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  return {
    ...on(pool),
    transaction: (fn) =>
      withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const result = await fn(on(client));
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    session: (fn) => withClient((client) => fn(on(client))),
    ping: async (timeoutMs) => {
      const client = new pg.Client({
        ...poolConfig(options.config, 'counter-api/probe'),
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        // end() waits for the server's goodbye; a half-open connection would never send it.
        await within(
          client.end().catch(() => undefined),
          timeoutMs,
          undefined,
          { unref: true },
        );
      }
    },
    stats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => pool.end(),
  };
}
