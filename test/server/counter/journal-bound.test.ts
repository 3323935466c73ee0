// The journal's memory is bounded in a long outage: at most maxEntries
// entries (one per fsync group) are pending at once, an add past that is
// refused (503, nothing counted), and everything acknowledged before is
// still applied exactly once when the database returns. Against a real
// PostgreSQL that the counter sees as down until the test lets it through.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import type { Db } from '../../../server/db.js';
import { DegradedCounter } from '../../../server/counter/degraded.js';
import { Journal, JournalFullError } from '../../../server/counter/journal.js';
import { UnavailableError } from '../../../server/counter/types.js';
import { silentLog, useMigratedDatabase, type DatabaseContext } from '../../helpers/app.js';
import { readCounter } from '../../helpers/counter.js';

const test = anyTest as TestFn<DatabaseContext>;
useMigratedDatabase(test);

/** `db`, failing every statement and probe while `down.now` is true (a connection that cannot be made). */
function switchable(db: Db, down: { now: boolean }): Db {
  const refuse = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  return {
    query: (text, values, name) => (down.now ? refuse() : db.query(text, values, name)),
    transaction: (fn) => (down.now ? refuse() : db.transaction(fn)),
    session: (fn) => (down.now ? refuse() : db.session(fn)),
    ping: (ms) => (down.now ? refuse() : db.ping(ms)),
    stats: () => db.stats(),
    close: () => Promise.resolve(),
  };
}

const tempDir = () => mkdtempSync(path.join(os.tmpdir(), 'counter-journal-bound-'));

test.serial('a full journal refuses an add, and takes adds again once entries are settled', async (t) => {
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const journal = new Journal({ dir, workerId: 0, maxEntries: 3 });
  await Promise.all(['a', 'b', 'c'].map((id) => journal.add(id, 2)));
  await t.throwsAsync(journal.add('d', 1), { instanceOf: JournalFullError });
  t.is(journal.entryCount, 3);
  t.is(journal.pendingIncrements, 6);
  journal.done('a');
  await journal.add('d', 1);
  t.deepEqual(
    journal.oldest(10).map((e) => e.id),
    ['b', 'c', 'd'],
  );
  await t.throwsAsync(journal.add('e', 1), { instanceOf: JournalFullError });
  await journal.close();
});

test.serial('adds queued together count against the bound before any is written', async (t) => {
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const journal = new Journal({ dir, workerId: 0, maxEntries: 2 });
  const results = await Promise.allSettled(['a', 'b', 'c', 'd'].map((id) => journal.add(id, 1)));
  t.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'rejected'],
  );
  t.is(journal.entryCount, 2);
  t.is(journal.pendingIncrements, 2);
  await journal.close();
});

test.serial(
  'a long outage keeps at most maxEntries in memory, answers 503 past it, and replays every acknowledged increment once',
  async (t) => {
    const dir = tempDir();
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const MAX = 10;
    const REQUESTS = 25;
    const down = { now: true };
    const journal = new Journal({ dir, workerId: 0, maxEntries: MAX });
    const counter = new DegradedCounter({
      db: switchable(t.context.db, down),
      log: silentLog,
      journal,
      maxBatch: 100,
      deadlineMs: 3000,
      budgetMs: 200,
      probeIntervalMs: 50,
      maxReplayAgeMs: 3600_000,
      retryDelayMs: 20,
    });
    t.teardown(() => counter.close());
    const before = await readCounter(t.context.db);
    let ok = 0;
    let refused = 0;
    let most = 0;
    // One request at a time: each one is its own fsync group, so its own entry.
    for (let i = 0; i < REQUESTS; i += 1) {
      try {
        const answer = await counter.next();
        t.is(answer.consistency, 'provisional');
        ok += 1;
      } catch (error) {
        t.true(error instanceof UnavailableError, String(error));
        refused += 1;
      }
      most = Math.max(most, journal.entryCount);
    }
    t.is(counter.mode, 'degraded');
    t.true(most <= MAX, `at most ${MAX} entries in memory, saw ${most}`);
    t.is(ok, MAX);
    t.is(refused, REQUESTS - MAX);

    down.now = false;
    const giveUpAt = Date.now() + 15_000;
    while (counter.mode !== 'exact' && Date.now() < giveUpAt) await new Promise((r) => setTimeout(r, 50));
    t.is(counter.mode, 'exact');
    t.is(journal.entryCount, 0);
    t.is((await readCounter(t.context.db)) - before, ok);
    // Exact again: a new request is counted once more, with no gap.
    t.is((await counter.next()).value, before + ok + 1);
  },
);
