// Exactness across processes: three service processes (as three instances or
// pm2 workers would be) share one database; thousands of POSTs in flight at
// once across all of them must come back as exactly start+1 … start+N, and
// the database must hold exactly N more.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { freePort } from '../../server/local/postgres.js';
import { contiguityProblem, load, successValues, type Outcome } from '../helpers/load.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startService, type Service } from '../helpers/service.js';

const test = anyTest as TestFn<{ pg: TestPostgres; url: string; services: Service[] }>;
const journalDirs: string[] = [];

test.before(async (t) => {
  const pg = await startPostgres();
  const url = await pg.freshDatabase();
  const journal = mkdtempSync(path.join(os.tmpdir(), 'counter-api-journal-'));
  journalDirs.push(journal);
  // Started together, so the three race on the migrations too.
  const services = await Promise.all(
    [0, 1, 2].map(async (worker) =>
      startService({
        port: await freePort(),
        env: { DATABASE_URL: url, NODE_APP_INSTANCE: String(worker), JOURNAL_DIR: journal, DB_POOL_SIZE: '4' },
      }),
    ),
  );
  t.context = { pg, url, services };
});

test.after.always(async (t) => {
  for (const s of t.context.services ?? []) {
    s.kill('SIGTERM');
    await s.exited;
  }
  await t.context.pg?.destroy();
  for (const dir of journalDirs) rmSync(dir, { recursive: true, force: true });
});

test('6,000 POSTs, 150 in flight across 3 processes on one database → unique, contiguous, and the database counts exactly the 2xx', async (t) => {
  const { pg, url, services } = t.context;
  const [before] = await pg.sql<{ value: string }>(url, 'SELECT value FROM counter');
  const start = Number(before?.value);
  const runs = await Promise.all(
    services.map((s) => load({ url: s.url, total: 2000, concurrency: 50, timeoutMs: 15_000 })),
  );
  const outcomes: Outcome[] = runs.flat();
  const [after] = await pg.sql<{ value: string }>(url, 'SELECT value FROM counter');
  const values = successValues(outcomes);
  t.is(outcomes.length, 6000);
  t.deepEqual(outcomes.filter((o) => o.status !== 200).slice(0, 3), []);
  t.true(outcomes.every((o) => o.consistency === 'exact'));
  t.is(new Set(values).size, values.length, 'no duplicates');
  t.is(contiguityProblem(values, start), undefined);
  t.is(Number(after?.value) - start, values.length);
  const [batches] = await pg.sql<{ n: string }>(url, 'SELECT count(*) AS n FROM counter_batch');
  t.log(`6000 requests in ${String(batches?.n)} batch statements`);
  t.true(Number(batches?.n) < 6000 / 3);
});
