// The ledger prune job: deletes only rows older than the retention window,
// and only one worker across the fleet does it at a time (advisory lock).

import { randomUUID } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import { commitBatch } from '../../../server/counter/ledger.js';
import { readCounter } from '../../helpers/counter.js';
import { pruneLedger, pruneLedgerJob } from '../../../server/jobs/prune-ledger.js';
import { useMigratedDatabase, type DatabaseContext } from '../../helpers/app.js';

const test = anyTest as TestFn<DatabaseContext>;
useMigratedDatabase(test);

test.serial('pruneLedger deletes rows older than the retention and keeps newer ones and the counter', async (t) => {
  const { db } = t.context;
  const old = [randomUUID(), randomUUID(), randomUUID()];
  const recent = [randomUUID(), randomUUID()];
  for (const id of [...old, ...recent]) await commitBatch(db, id, 1);
  await db.query("UPDATE counter_batch SET created_at = now() - interval '5 hours' WHERE batch_id = ANY($1::uuid[])", [
    old,
  ]);
  const before = await readCounter(db);
  const deleted = await pruneLedger(db, 4);
  const left = await db.query<{ id: string }>('SELECT batch_id::text AS id FROM counter_batch ORDER BY created_at');
  t.is(deleted, 3);
  t.deepEqual(left.map((r) => r.id).sort(), [...recent].sort());
  t.is(await readCounter(db), before);
});

test.serial('pruneLedger skips (returns undefined) while another worker holds the job lock', async (t) => {
  const { db } = t.context;
  const id = randomUUID();
  await commitBatch(db, id, 1);
  await db.query("UPDATE counter_batch SET created_at = now() - interval '100 hours' WHERE batch_id = $1::uuid", [id]);
  const result = await db.session(async (s) => {
    await s.query("SELECT pg_advisory_lock(hashtext('counter-api:prune-ledger'))");
    try {
      return await pruneLedger(db, 4);
    } finally {
      await s.query("SELECT pg_advisory_unlock(hashtext('counter-api:prune-ledger'))");
    }
  });
  t.is(result, undefined);
  t.is((await db.query('SELECT 1 FROM counter_batch WHERE batch_id = $1::uuid', [id])).length, 1);
  t.is(await pruneLedger(db, 4), 1);
});

test.serial('the job is named and runs the prune with the configured retention', async (t) => {
  const job = pruneLedgerJob(t.context.db, 4, '*/10 * * * *');
  t.is(job.name, 'prune-ledger');
  t.is(job.cron, '*/10 * * * *');
  t.is(await job.run(), 0);
});
