// Builds the real app in-process against a real database, listening on an
// ephemeral port: the same factories main.ts uses, without a child process.

import type http from 'node:http';
import type { TestFn } from 'ava';
import { pino } from 'pino';
import { createApp } from '../../server/app.js';
import { loadConfig, type Config } from '../../server/config.js';
import { CoalescingAllocator } from '../../server/counter/allocator.js';
import type { Counter } from '../../server/counter/types.js';
import { deadlineAfter } from '../../server/counter/waiter.js';
import { createDb, type Db } from '../../server/db.js';
import { createServer, drainAndClose, listen } from '../../server/http/servers.js';
import { createLogger, type Logger } from '../../server/log.js';
import { createMetrics, type Metrics } from '../../server/metrics.js';
import { migrate } from '../../server/migrations.js';
import { startPostgres, type TestPostgres } from './postgres.js';

export const silentLog: Logger = pino({ level: 'silent' });

/** A logger in the service's format whose lines are kept in memory, parsed. */
export function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  return { log: createLogger({ level: 'debug', destination }), lines };
}

export interface TestApp {
  readonly url: string;
  readonly port: number;
  readonly db: Db;
  readonly config: Config;
  readonly metrics: Metrics;
  readonly server: http.Server;
  close(): Promise<void>;
}

export async function startTestApp(
  databaseUrl: string,
  env: Record<string, string> = {},
  counter?: (db: Db, config: Config) => Counter,
  options: { readonly log?: Logger; readonly wrapCounter?: (counter: Counter) => Counter } = {},
): Promise<TestApp> {
  const log = options.log ?? silentLog;
  const config = loadConfig({ DATABASE_URL: databaseUrl, ...env });
  const metrics = createMetrics(0);
  const db = createDb({ config: config.db, log: silentLog, observe: metrics.observeQuery });
  await migrate(db, silentLog);
  const theCounter =
    counter?.(db, config) ??
    new CoalescingAllocator({
      db,
      log: silentLog,
      maxBatch: config.maxBatch,
      deadlineMs: config.requestDeadlineMs,
      metrics: metrics.counter,
    });
  const app = createApp({
    counter: options.wrapCounter?.(theCounter) ?? theCounter,
    // As in main.ts: one deadline per request, ended early if the client goes.
    deadline: () => deadlineAfter(config.requestDeadlineMs),
    log,
    metrics,
    readiness: () => ({ ready: true, status: 'ready' }),
    proxies: config,
    project: config.googleCloudProject,
  });
  const spec = { port: 0, host: '127.0.0.1' };
  const server = createServer(app, spec, config, log, metrics.http.clientError);
  const port = await listen(server, spec);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    db,
    config,
    metrics,
    server,
    close: async () => {
      await drainAndClose(server, Date.now() + 2000, 0);
      await theCounter.close();
      await db.close();
    },
  };
}

/** A fresh, migrated database on `pg`, and a gateway to it. */
export async function migratedDatabase(
  pg: { freshDatabase(): Promise<string> },
  applicationName = 'counter-api-test',
): Promise<{ db: Db; url: string }> {
  const url = await pg.freshDatabase();
  const db = createDb({
    config: loadConfig({ DATABASE_URL: url, DB_QUERY_TIMEOUT_MS: '2000' }).db,
    log: silentLog,
    applicationName,
  });
  await migrate(db, silentLog);
  return { db, url };
}

export interface DatabaseContext {
  pg: TestPostgres;
  db: Db;
}

/** Gives every test of a file one real PostgreSQL with a migrated database (t.context.pg, t.context.db). */
export function useMigratedDatabase(test: TestFn<DatabaseContext>): void {
  test.before(async (t) => {
    const pg = await startPostgres();
    const { db } = await migratedDatabase(pg);
    t.context = { pg, db };
  });
  test.after.always(async (t) => {
    await t.context.db?.close();
    await t.context.pg?.destroy();
  });
}
