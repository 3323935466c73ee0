// The batch ledger's idempotency: a batch id commits at most once, a fenced
// id never commits, and the multi-batch replay statement keeps order.

import { randomUUID } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import { BatchCancelledError, commitBatch, commitBatches, fenceBatch } from '../../../server/counter/ledger.js';
import { readCounter } from '../../helpers/counter.js';
import { useMigratedDatabase, type DatabaseContext } from '../../helpers/app.js';

const test = anyTest as TestFn<DatabaseContext>;
useMigratedDatabase(test);

test.serial('commitBatch run twice with one id commits once and returns the same range both times', async (t) => {
  const { db } = t.context;
  const before = await readCounter(db);
  const id = randomUUID();
  const first = await commitBatch(db, id, 5);
  const again = await commitBatch(db, id, 5);
  t.deepEqual(first, { first: before + 1, last: before + 5 });
  t.deepEqual(again, first);
  t.is(await readCounter(db), before + 5);
});

test.serial('a fenced id can never commit, and the counter does not move', async (t) => {
  const { db } = t.context;
  const before = await readCounter(db);
  const id = randomUUID();
  t.deepEqual(await fenceBatch(db, id), { committed: false });
  await t.throwsAsync(commitBatch(db, id, 3), { instanceOf: BatchCancelledError });
  t.is(await readCounter(db), before);
});

test.serial('fencing an id that already committed reports its range', async (t) => {
  const { db } = t.context;
  const id = randomUUID();
  const range = await commitBatch(db, id, 2);
  t.deepEqual(await fenceBatch(db, id), { committed: true, range });
});

test.serial('commitBatches gives each id its own range, in order, with no gap', async (t) => {
  const { db } = t.context;
  const before = await readCounter(db);
  const batches = [3, 1, 4, 1, 5].map((n) => ({ id: randomUUID(), n }));
  const ranges = await commitBatches(db, batches);
  let expected = before + 1;
  for (const b of batches) {
    t.deepEqual(ranges.get(b.id), { first: expected, last: expected + b.n - 1 });
    expected += b.n;
  }
  t.is(await readCounter(db), before + 14);
});

test.serial('commitBatches with some ids already committed or fenced applies only the new ones', async (t) => {
  const { db } = t.context;
  const done = { id: randomUUID(), n: 2 };
  const fenced = { id: randomUUID(), n: 7 };
  const fresh = { id: randomUUID(), n: 3 };
  const doneRange = await commitBatch(db, done.id, done.n);
  await fenceBatch(db, fenced.id);
  const before = await readCounter(db);
  const ranges = await commitBatches(db, [done, fenced, fresh]);
  t.deepEqual(ranges.get(done.id), doneRange);
  t.false(ranges.has(fenced.id));
  t.deepEqual(ranges.get(fresh.id), { first: before + 1, last: before + 3 });
  t.is(await readCounter(db), before + 3);
});

test.serial('a batch size that is not a positive integer is refused and changes nothing', async (t) => {
  const { db } = t.context;
  const before = await readCounter(db);
  for (const n of [0, -1, 1.5, Number.NaN])
    await t.throwsAsync(commitBatch(db, randomUUID(), n), { instanceOf: RangeError });
  t.is(await readCounter(db), before);
});

test.serial('a retry racing an uncommitted first attempt waits for it and then reads its range', async (t) => {
  const { db } = t.context;
  const id = randomUUID();
  const before = await readCounter(db);
  // First attempt inside an open transaction: it holds the row lock and the ledger row, uncommitted.
  const release = await db.session(async (s) => {
    await s.query('BEGIN');
    await commitBatch(s, id, 4);
    const retry = commitBatch(db, id, 4);
    await new Promise((r) => setTimeout(r, 200));
    await s.query('COMMIT');
    return retry;
  });
  t.deepEqual(release, { first: before + 1, last: before + 4 });
  t.is(await readCounter(db), before + 4);
});
