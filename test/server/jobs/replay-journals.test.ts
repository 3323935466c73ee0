// The orphan scanner against a real PostgreSQL and real journal files: a
// file left by a dead process is replayed exactly once even when two workers
// race for it, entries too old to replay are quarantined by the same rule as
// the live worker's (the rest are replayed), and a file another worker
// removed between listing and reading does not abort the scan.

import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { batchId } from '../../../server/counter/batch-id.js';
import { readCounter } from '../../helpers/counter.js';
import { replayOrphanedJournals } from '../../../server/jobs/replay-journals.js';
import { createDb } from '../../../server/db.js';
import { loadConfig } from '../../../server/config.js';
import { silentLog, useMigratedDatabase, type DatabaseContext } from '../../helpers/app.js';
import { tempDir } from '../../helpers/temp.js';

const test = anyTest.serial as TestFn<DatabaseContext>;
useMigratedDatabase(test);

const HOUR = 3600_000;
/** No process has this pid, so the owner is dead. */
const orphanName = (n: number) => `journal-w${n}-p999999${n}-s1.jsonl`;
const addLine = (id: string, n: number, at = Date.now()) => `${JSON.stringify({ op: 'add', id, n, at })}\n`;

test('two workers racing for one orphaned journal apply it exactly once', async (t) => {
  const { db, pg } = t.context;
  const dir = tempDir(t);
  const entries = Array.from({ length: 40 }, (_, i) => ({ id: batchId(), n: 1 + (i % 3) }));
  writeFileSync(path.join(dir, orphanName(1)), entries.map((e) => addLine(e.id, e.n)).join(''));
  const total = entries.reduce((sum, e) => sum + e.n, 0);
  // A second worker: its own pool (its own sessions and advisory locks).
  const url = pg.cluster.url((await db.query<{ name: string }>('SELECT current_database() AS name'))[0]?.name);
  const other = createDb({ config: loadConfig({ DATABASE_URL: url }).db, log: silentLog });
  t.teardown(() => other.close());
  const before = await readCounter(db);
  const options = { log: silentLog, dir, maxReplayAgeMs: 23 * HOUR, chunk: 5 };
  const reports = await Promise.all([
    replayOrphanedJournals({ ...options, db }),
    replayOrphanedJournals({ ...options, db: other }),
  ]);
  t.is(await readCounter(db), before + total, 'applied once');
  t.is(
    reports.reduce((sum, r) => sum + r.increments, 0),
    total,
    'one worker replayed it; the other skipped it (lock held, or file gone)',
  );
  t.false(existsSync(path.join(dir, orphanName(1))), 'the replayed file is removed');
});

test('an orphaned journal with entries past the replay age: those are quarantined to .stale, the rest replayed', async (t) => {
  const { db } = t.context;
  const dir = tempDir(t);
  const old = batchId(Date.now() - 30 * HOUR);
  const fresh = batchId();
  const file = path.join(dir, orphanName(2));
  writeFileSync(file, addLine(old, 4, Date.now() - 30 * HOUR) + addLine(fresh, 2));
  const before = await readCounter(db);
  const quarantined: number[][] = [];
  const report = await replayOrphanedJournals({
    db,
    log: silentLog,
    dir,
    maxReplayAgeMs: 23 * HOUR,
    onQuarantine: (entries, increments) => quarantined.push([entries, increments]),
  });
  t.is(await readCounter(db), before + 2, 'only the fresh entry is applied');
  t.deepEqual(quarantined, [[1, 4]]);
  t.is(report.quarantined, 1);
  t.regex(readFileSync(`${file}.stale`, 'utf8'), new RegExp(old));
  t.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.jsonl')),
    [],
  );
});

test('a journal deleted by another worker between listing and reading does not abort the scan', async (t) => {
  const { db } = t.context;
  const dir = tempDir(t);
  const a = path.join(dir, orphanName(3));
  const b = path.join(dir, orphanName(4));
  const id = batchId();
  writeFileSync(a, addLine(batchId(), 1));
  writeFileSync(b, addLine(id, 3));
  const before = await readCounter(db);
  // The first file disappears the moment its lock is taken, as if another worker had just finished it.
  let sessions = 0;
  const vanishing: typeof db = {
    ...db,
    session: (fn) =>
      db.session((s) => {
        sessions += 1;
        if (sessions === 1) rmSync(a);
        return fn(s);
      }),
  };
  const report = await replayOrphanedJournals({ db: vanishing, log: silentLog, dir, maxReplayAgeMs: 23 * HOUR });
  t.is(await readCounter(db), before + 3, 'the second file was still replayed');
  t.is(report.files, 1);
});
