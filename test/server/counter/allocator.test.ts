// The coalescing allocator against a real PostgreSQL: exact and contiguous
// under concurrency, coalesced (far fewer statements than requests), FIFO,
// and exact when its connections are killed mid-batch or when requests give
// up before their batch commits.

import anyTest, { type TestFn } from 'ava';
import { CoalescingAllocator } from '../../../server/counter/allocator.js';
import { readCounter } from '../../helpers/counter.js';
import { UnavailableError, type CounterMetrics } from '../../../server/counter/types.js';
import { loadConfig } from '../../../server/config.js';
import { createDb, type Db } from '../../../server/db.js';
import { migratedDatabase, silentLog } from '../../helpers/app.js';
import { contiguityProblem } from '../../helpers/load.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';

const test = anyTest as TestFn<{ pg: TestPostgres }>;

test.before(async (t) => {
  t.context = { pg: await startPostgres() };
});

test.after.always(async (t) => {
  await t.context.pg?.destroy();
});

const freshDb = (pg: TestPostgres, name: string) => migratedDatabase(pg, name);

function countingMetrics() {
  const counts = { batches: 0, retried: 0, committed: 0, orphaned: 0, fenced: 0 };
  const metrics: CounterMetrics = {
    batchSize: () => (counts.batches += 1),
    batchOutcome: (o) => {
      if (o in counts) counts[o as keyof typeof counts] += 1;
    },
    queueDepth: () => undefined,
  };
  return { counts, metrics };
}

test('3,000 concurrent requests get exactly 1..3000, in far fewer statements than requests', async (t) => {
  const { db } = await freshDb(t.context.pg, 'alloc-concurrency');
  const { counts, metrics } = countingMetrics();
  const allocator = new CoalescingAllocator({ db, log: silentLog, maxBatch: 1000, deadlineMs: 10_000, metrics });
  const values = (await Promise.all(Array.from({ length: 3000 }, () => allocator.next()))).map((a) => a.value);
  await allocator.close();
  t.is(contiguityProblem([...values].sort((a, b) => a - b)), undefined);
  t.is(await readCounter(db), 3000);
  t.true(counts.batches <= 300, `${counts.batches} statements for 3000 requests`);
  await db.close();
});

test('values are handed out in arrival order', async (t) => {
  const { db } = await freshDb(t.context.pg, 'alloc-fifo');
  const allocator = new CoalescingAllocator({ db, log: silentLog, maxBatch: 7, deadlineMs: 10_000 });
  const values = (await Promise.all(Array.from({ length: 200 }, () => allocator.next()))).map((a) => a.value);
  await allocator.close();
  t.deepEqual(
    values,
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  await db.close();
});

test('connections terminated mid-batch under load: no duplicate, no gap, every committed value accounted for', async (t) => {
  const { db, url } = await freshDb(t.context.pg, 'alloc-terminate');
  const { counts, metrics } = countingMetrics();
  const allocator = new CoalescingAllocator({
    db,
    log: silentLog,
    maxBatch: 50,
    deadlineMs: 20_000,
    metrics,
    retryDelayMs: 5,
  });
  let stop = false;
  let terminated = 0;
  const killer = (async () => {
    for (let i = 0; i < 2000 && !stop; i += 1) {
      const rows = await t.context.pg.sql<{ t: boolean }>(
        url,
        "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = 'alloc-terminate'",
      );
      terminated += rows.filter((r) => r.t).length;
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const outcomes: PromiseSettledResult<{ value: number }>[] = [];
  await Promise.all(
    Array.from({ length: 40 }, async () => {
      for (let i = 0; i < 100; i += 1) outcomes.push(...(await Promise.allSettled([allocator.next()])));
    }),
  );
  stop = true;
  await killer;
  await allocator.close();
  const values = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.value] : [])).sort((a, b) => a - b);
  const failed = outcomes.filter((o) => o.status === 'rejected').length;
  t.true(terminated > 0, 'the test must actually terminate connections');
  t.true(counts.retried > 0, 'some batch must have been retried after an unknown outcome');
  t.is(failed, 0);
  t.is(new Set(values).size, values.length, 'no duplicate values');
  t.is(contiguityProblem(values), undefined);
  t.is(await readCounter(db), values.length + allocator.spareCount);
  t.log(`${terminated} connections terminated, ${counts.retried} retries, ${counts.batches} batches`);
  await db.close();
});

test('a request that gives up before its batch commits gets 503, and its committed value goes to the next request', async (t) => {
  const { db, url } = await freshDb(t.context.pg, 'alloc-orphan');
  const allocator = new CoalescingAllocator({ db, log: silentLog, maxBatch: 100, deadlineMs: 300 });
  const first = await allocator.next();
  // Hold the counter row so the next batch waits on it past the deadline.
  const holder = createDb({ config: loadConfig({ DATABASE_URL: url }).db, log: silentLog });
  let locked!: () => void;
  const holding = new Promise<void>((resolve) => (locked = resolve));
  const released = holder.session(async (s) => {
    await s.query('BEGIN');
    await s.query('SELECT value FROM counter WHERE id = 1 FOR UPDATE');
    locked();
    await new Promise((r) => setTimeout(r, 800));
    await s.query('COMMIT');
  });
  await holding;
  const late = await Promise.allSettled([allocator.next(), allocator.next()]);
  await released;
  // The first late request was in a batch (its value becomes a spare); the second was still queued.
  for (let i = 0; i < 100 && allocator.spareCount < 1; i += 1) await new Promise((r) => setTimeout(r, 20));
  t.is(allocator.spareCount, 1);
  const after = await Promise.all([allocator.next(), allocator.next(), allocator.next()]);
  await allocator.close();
  t.is(first.value, 1);
  t.true(late.every((o) => o.status === 'rejected' && o.reason instanceof UnavailableError));
  t.deepEqual(
    after.map((a) => a.value),
    [2, 3, 4],
  );
  t.is(await readCounter(db), 4);
  await holder.close();
  await db.close();
});

test('with the database unreachable a request fails with UnavailableError by its deadline, not later', async (t) => {
  const db = createDb({
    config: loadConfig({ DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none', DB_CONNECT_TIMEOUT_MS: '200' }).db,
    log: silentLog,
  });
  const allocator = new CoalescingAllocator({ db, log: silentLog, maxBatch: 10, deadlineMs: 400 });
  const started = Date.now();
  await t.throwsAsync(allocator.next(), { instanceOf: UnavailableError });
  const elapsed = Date.now() - started;
  t.true(elapsed >= 350 && elapsed < 1500, `${elapsed} ms`);
  await allocator.close().catch(() => undefined);
  await db.close();
});

test('a commit whose acknowledgement is lost is retried under its id and not applied twice', async (t) => {
  const { db } = await freshDb(t.context.pg, 'alloc-lost-ack');
  const { counts, metrics } = countingMetrics();
  let lost = 0;
  // The statement really commits; only the answer is lost on the way back,
  // as when the connection drops between COMMIT and the client reading it.
  const flaky: Db = {
    ...db,
    query: async <R>(text: string, values?: readonly unknown[], name?: string): Promise<R[]> => {
      const rows = await db.query<R>(text, values, name);
      if (name === 'batch_commit' && lost < 3) {
        lost += 1;
        throw new Error('Connection terminated unexpectedly');
      }
      return rows;
    },
  };
  const allocator = new CoalescingAllocator({
    db: flaky,
    log: silentLog,
    maxBatch: 1000,
    deadlineMs: 10_000,
    metrics,
    retryDelayMs: 1,
  });
  const values: number[] = [];
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      for (let i = 0; i < 30; i += 1) values.push((await allocator.next()).value);
    }),
  );
  await allocator.close();
  t.is(lost, 3);
  t.true(counts.retried >= 3);
  t.is(contiguityProblem([...values].sort((a, b) => a - b)), undefined);
  t.is(await readCounter(db), 300);
  await db.close();
});
