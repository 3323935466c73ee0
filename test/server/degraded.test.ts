// Degraded mode against a real PostgreSQL that really goes away: the service
// keeps answering from its journal, says its values are provisional, and
// after the database returns the journal is replayed exactly once, so the
// database counter equals the number of 2xx answers.

import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { freePort } from '../../server/local/postgres.js';
import { load, successValues, type Outcome } from '../helpers/load.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startService, type Service } from '../helpers/service.js';
import { tempDir } from '../helpers/temp.js';

const DEGRADED_ENV = {
  DB_BUDGET_MS: '300',
  PROBE_INTERVAL_MS: '200',
  REQUEST_DEADLINE_MS: '4000',
  DB_CONNECT_TIMEOUT_MS: '300',
  DB_QUERY_TIMEOUT_MS: '2000',
};

async function counterValue(pg: TestPostgres, url: string): Promise<number> {
  const [row] = await pg.sql<{ value: string }>(url, 'SELECT value FROM counter');
  return Number(row?.value);
}

/** Polls /readyz until the service is back in exact mode; returns how long that took. */
async function exactAgain(service: Service, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const ready = (await fetch(`${service.url}readyz`).then(
      (r) => r.json(),
      () => ({}),
    )) as { mode?: string };
    if (ready.mode === 'exact') return Date.now() - started;
    await sleep(25);
  }
  throw new Error(`still degraded ${timeoutMs} ms after the database returned`);
}

/** Polls until the database counts `expected` and the service is exact again; returns the time it took. */
async function converge(
  pg: TestPostgres,
  url: string,
  service: Service,
  expected: number,
  timeoutMs = 30_000,
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const ready = (await fetch(`${service.url}readyz`).then(
      (r) => r.json(),
      () => ({}),
    )) as { mode?: string };
    const value = await counterValue(pg, url).catch(() => -1);
    if (value === expected && ready.mode === 'exact') return Date.now() - started;
    await sleep(50);
  }
  throw new Error(`no convergence to ${expected} within ${timeoutMs} ms (database at ${await counterValue(pg, url)})`);
}

function summarize(t: ExecutionContext, outcomes: readonly Outcome[]) {
  const ok = outcomes.filter((o) => o.status === 200);
  const refused = outcomes.filter((o) => o.status === 503);
  const other = outcomes.filter((o) => o.status !== 200 && o.status !== 503);
  const exact = successValues(outcomes, 'exact');
  const provisional = ok.filter((o) => o.consistency === 'provisional');
  t.log(
    `${outcomes.length} requests: ${ok.length} × 200 (${provisional.length} provisional), ${refused.length} × 503, ${other.length} other`,
  );
  return { ok, refused, other, exact, provisional };
}

for (const how of ['fast shutdown', 'SIGKILL'] as const) {
  test(`database ${how} for 3 s under load: every request 2xx or 503, then exact convergence`, async (t) => {
    const pg = await startPostgres();
    t.teardown(() => pg.destroy());
    const url = await pg.freshDatabase();
    // Metrics are served only on the admin listener (worker 0: METRICS_PORT + 0).
    const metricsPort = await freePort();
    const service = await startService({
      port: await freePort(),
      env: {
        DATABASE_URL: url,
        JOURNAL_DIR: tempDir(t, 'counter-api-journal-'),
        METRICS_PORT: String(metricsPort),
        ...DEGRADED_ENV,
      },
    });
    t.teardown(async () => {
      service.kill('SIGKILL');
      await service.exited;
    });
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

    let stop = false;
    const running = load({ url: service.url, total: 1_000_000, concurrency: 20, timeoutMs: 8000, stop: () => stop });
    await sleep(1000);
    await (how === 'SIGKILL' ? pg.cluster.crash() : pg.cluster.stop());
    await sleep(1500);
    const readyDuring = await fetch(`${service.url}readyz`);
    const metricsDuring = await fetch(metricsUrl).then((r) => r.text());
    await sleep(1500);
    await pg.cluster.start();
    const backMs = await exactAgain(service);
    const metricsAfter = await fetch(metricsUrl).then((r) => r.text());
    await sleep(1000);
    stop = true;
    const outcomes = await running;
    const { ok, refused, other, exact, provisional } = summarize(t, outcomes);
    await converge(pg, url, service, ok.length);

    t.deepEqual(other.slice(0, 3), [], 'no transport errors or unexpected statuses');
    t.true(
      refused.every((o) => o.retryAfter !== undefined),
      '503s carry Retry-After',
    );
    t.true(provisional.length > 100, `degraded mode must have served (${provisional.length} provisional)`);
    t.true(exact.length > 100);
    t.is(new Set(exact).size, exact.length, 'exact values are unique');
    t.is(await counterValue(pg, url), ok.length, 'database counter equals the number of 2xx');
    t.is(readyDuring.status, 200, 'still ready while degraded');
    t.like(await readyDuring.json(), { mode: 'degraded' });
    t.regex(metricsDuring, /^counter_degraded\{worker="0"\} 1$/m);
    t.regex(metricsDuring, /^journal_pending_increments\{worker="0"\} [1-9]\d*$/m);
    t.regex(metricsAfter, /^counter_degraded\{worker="0"\} 0$/m);
    t.regex(metricsAfter, /^journal_replayed_entries_total\{worker="0"\} [1-9]\d*$/m);
    t.log(
      `exact again ${backMs} ms after the database was back, under load; 2xx fraction ${(ok.length / outcomes.length).toFixed(5)}`,
    );
  });
}

/**
 * A gate in the test database, not in the service: once `after` ledger rows
 * exist, every further ledger insert waits (inside its statement, so under
 * the service's own statement timeout) until the test opens the gate. The
 * replay then stops part-way whatever the machine's speed, where polling for
 * progress alone could find the whole replay done (and the journal deleted)
 * before its first look on a busy machine.
 */
async function holdLedgerInserts(pg: TestPostgres, url: string, after: number): Promise<() => Promise<void>> {
  // One round trip; the opener below stays two, since a held insert can only
  // finish once the gate's update is committed, and the drop waits for it.
  await pg.sql(
    url,
    `CREATE TABLE test_replay_gate (hold boolean NOT NULL);
     INSERT INTO test_replay_gate VALUES (true);
     CREATE FUNCTION test_replay_gate() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF (SELECT count(*) FROM counter_batch) >= ${after} THEN
         FOR i IN 1..6000 LOOP
           EXIT WHEN NOT (SELECT hold FROM test_replay_gate);
           PERFORM pg_sleep(0.01);
         END LOOP;
       END IF;
       RETURN NEW;
     END $$;
     CREATE TRIGGER test_replay_gate BEFORE INSERT ON counter_batch
       FOR EACH ROW EXECUTE FUNCTION test_replay_gate();`,
  );
  return async () => {
    await pg.sql(url, 'UPDATE test_replay_gate SET hold = false');
    // Waits for a statement the gate held to finish (it may commit: its worker is gone, not its backend).
    await pg.sql(url, 'DROP TRIGGER test_replay_gate ON counter_batch');
  };
}

test('a worker SIGKILLed in the middle of a replay, then restarted: still exact', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.destroy());
  const url = await pg.freshDatabase();
  const journal = tempDir(t, 'counter-api-journal-');
  const port = await freePort();
  // One entry per statement during replay, so the replay has many steps to stop between.
  const env = { DATABASE_URL: url, JOURNAL_DIR: journal, ...DEGRADED_ENV, JOURNAL_REPLAY_CHUNK: '1' };
  const first = await startService({ port, env });
  t.teardown(async () => {
    first.kill('SIGKILL');
    await first.exited;
  });
  const openGate = await holdLedgerInserts(pg, url, 10);

  await pg.cluster.stop();
  const outage = await load({ url: first.url, total: 3000, concurrency: 30, timeoutMs: 8000 });
  const journalFile = readdirSync(journal).find((f) => f.startsWith('journal-'));
  t.truthy(journalFile, 'the outage was journaled');
  const file = path.join(journal, journalFile as string);
  const journalLines = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');

  await pg.cluster.start();
  // The gate holds the replay after 10 entries: kill the worker once some are recorded applied.
  let done = 0;
  for (let i = 0; i < 1000 && done === 0; i += 1) {
    done = journalLines().filter((l) => l.includes('"op":"done"')).length;
    if (done === 0) await sleep(10);
  }
  first.kill('SIGKILL');
  await first.exited;
  const lines = journalLines();
  const adds = lines.filter((l) => l.includes('"op":"add"')).length;
  const dones = lines.filter((l) => l.includes('"op":"done"')).length;
  t.log(`killed with ${dones} of ${adds} journal entries applied`);
  t.true(dones > 0 && dones < adds, 'the kill landed in the middle of the replay');
  await openGate();

  const second = await startService({ port, env });
  t.teardown(async () => {
    second.kill('SIGKILL');
    await second.exited;
  });
  const after = await load({ url: second.url, total: 500, concurrency: 10, timeoutMs: 8000 });
  const outcomes = [...outage, ...after];
  const { ok, other } = summarize(t, outcomes);
  t.deepEqual(other.slice(0, 3), []);
  await converge(pg, url, second, ok.length);
  t.is(await counterValue(pg, url), ok.length, 'database counter equals the number of 2xx');
  t.deepEqual(
    readdirSync(journal).filter((f) => f.startsWith('journal-')),
    [],
    'the replayed journal was removed',
  );
});

test('a journal that cannot be written: 503 with Retry-After, and the counter does not move', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.destroy());
  const url = await pg.freshDatabase();
  const base = tempDir(t, 'counter-api-journal-');
  const notADirectory = path.join(base, 'file');
  writeFileSync(notADirectory, 'this is a file, so nothing can be created under it');
  const service = await startService({
    port: await freePort(),
    env: { DATABASE_URL: url, JOURNAL_DIR: path.join(notADirectory, 'journal'), ...DEGRADED_ENV },
  });
  t.teardown(async () => {
    service.kill('SIGKILL');
    await service.exited;
  });
  const before = await load({ url: service.url, total: 50, concurrency: 5 });
  t.true(before.every((o) => o.status === 200 && o.consistency === 'exact'));

  await pg.cluster.stop();
  const during = await load({ url: service.url, total: 200, concurrency: 10, timeoutMs: 8000 });
  await pg.cluster.start();
  await exactAgain(service);

  t.true(
    during.every((o) => o.status === 503),
    `statuses: ${[...new Set(during.map((o) => o.status))].join(',')}`,
  );
  t.true(during.every((o) => o.retryAfter !== undefined));
  t.is(await counterValue(pg, url), 50, 'no increment from a request that was refused');
  const afterwards = await load({ url: service.url, total: 20, concurrency: 2, timeoutMs: 8000 });
  t.deepEqual(
    successValues(afterwards),
    Array.from({ length: 20 }, (_, i) => 51 + i),
    'exact again, with no gap',
  );
});

test('a worker restarted while the database is down serves degraded at once from the state file, and converges', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.destroy());
  const url = await pg.freshDatabase();
  const journal = tempDir(t, 'counter-api-journal-');
  const port = await freePort();
  const env = { DATABASE_URL: url, JOURNAL_DIR: journal, ...DEGRADED_ENV };
  const first = await startService({ port, env });
  const before = await load({ url: first.url, total: 30, concurrency: 3 });
  first.kill('SIGTERM');
  t.is(await first.exited, 0);
  t.true(
    readdirSync(journal).some((f) => /^state-w0\.json$/.test(f)),
    'the worker recorded its state',
  );

  await pg.cluster.stop();
  // No database: ready only because the state file says the schema exists.
  const second = await startService({ port, env });
  t.teardown(async () => {
    second.kill('SIGKILL');
    await second.exited;
  });
  const during = await load({ url: second.url, total: 40, concurrency: 4, timeoutMs: 8000 });
  t.true(
    during.every((o) => o.status === 200 && o.consistency === 'provisional'),
    `statuses: ${[...new Set(during.map((o) => `${o.status}/${o.consistency}`))].join(',')}`,
  );
  t.true(
    successValues(during).every((v) => v > 30),
    'provisional numbers continue from the last committed value',
  );
  await pg.cluster.start();
  const ok = [...before, ...during].filter((o) => o.status === 200).length;
  await converge(pg, url, second, ok);
  t.is(await counterValue(pg, url), ok, 'database counter equals the number of 2xx');
});
