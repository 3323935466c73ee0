// The warm-up that runs before a worker reports ready: readiness stays 503
// until it is done, it opens the pool's connections, drives requests through
// the app, stays within its budget, and moves no counter value.

import anyTest, { type TestFn } from 'ava';
import { readCounter } from '../../helpers/counter.js';
import { loadConfig } from '../../../server/config.js';
import { createDb, type Db } from '../../../server/db.js';
import { createWarmUp } from '../../../server/http/warm-up.js';
import { captureLog, migratedDatabase } from '../../helpers/app.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';

const test = anyTest as TestFn<{ pg: TestPostgres; url: string; control: Db }>;

test.before(async (t) => {
  const pg = await startPostgres();
  const { db: control, url } = await migratedDatabase(pg);
  t.context = { pg, url, control };
});

test.after.always(async (t) => {
  await t.context.control?.close();
  await t.context.pg?.destroy();
});

const timeouts = { keepAliveTimeoutMs: 5000, headersTimeoutMs: 1000, requestTimeoutMs: 2000 };
const ready = () => ({ ready: true, status: 'ready' });

test.serial(
  'readiness is 503 warming_up until the warm-up is done; it opens the pool and moves no counter',
  async (t) => {
    const config = loadConfig({ DATABASE_URL: t.context.url, DB_POOL_SIZE: '4' });
    const db = createDb({ config: config.db, log: captureLog().log });
    const { log, lines } = captureLog();
    const before = await readCounter(t.context.control);
    const ledgerBefore = await t.context.control.query('SELECT count(*)::int AS n FROM counter_batch');
    const warmUp = createWarmUp({ budgetMs: 2000, db, poolSize: 4, log, timeouts });
    const readiness = warmUp.gate(ready);

    t.deepEqual(await readiness(), { ready: false, status: 'warming_up' });
    const running = warmUp.run();
    const during: string[] = [];
    const polling = (async () => {
      for (let i = 0; i < 10; i += 1) {
        during.push((await readiness()).status);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const [report] = await Promise.all([running, polling]);
    const after = await readiness();
    const stats = db.stats();
    await db.close();

    t.true(
      during.every((status) => status === 'warming_up'),
      during.join(','),
    );
    t.deepEqual(after, { ready: true, status: 'ready' });
    t.is(report.poolConnections, 4);
    t.is(stats.total, 4, 'the pool holds its connections');
    t.true(report.requests > 0, 'requests went through the app');
    // Bounded, not timed: the margin is for a loaded machine.
    t.true(report.ms >= 2000 && report.ms < 2000 + 5000, `${report.ms} ms`);
    t.is(await readCounter(t.context.control), before, 'the counter did not move');
    t.deepEqual(await t.context.control.query('SELECT count(*)::int AS n FROM counter_batch'), ledgerBefore);
    const done = lines.find((line) => line.message === 'warm-up done');
    t.is(done?.requests, report.requests);
    t.is(done?.ms, report.ms);
  },
);

test.serial('WARMUP_MS=0 disables the warm-up: readiness passes through at once', async (t) => {
  const warmUp = createWarmUp({ budgetMs: 0, db: t.context.control, poolSize: 4, log: captureLog().log, timeouts });
  t.deepEqual(await warmUp.gate(ready)(), { ready: true, status: 'ready' });
  t.deepEqual(await warmUp.run(), { ms: 0, requests: 0, secureRequests: 0, poolConnections: 0 });
});

test.serial('with the database down the warm-up still ends within its budget', async (t) => {
  const config = loadConfig({ DATABASE_URL: 'postgres://nobody:x@127.0.0.1:9/none', DB_CONNECT_TIMEOUT_MS: '5000' });
  const db = createDb({ config: config.db, log: captureLog().log });
  const warmUp = createWarmUp({ budgetMs: 300, db, poolSize: 4, log: captureLog().log, timeouts });
  const report = await warmUp.run();
  await db.close();
  t.is(report.poolConnections, 0);
  t.true(report.ms < 300 + 5000, `${report.ms} ms`);
  t.deepEqual(await warmUp.gate(ready)(), { ready: true, status: 'ready' });
});
