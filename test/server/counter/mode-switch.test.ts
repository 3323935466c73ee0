// Deterministic tests of the allocator and the mode switch (degraded.ts):
// fake timers (node:test's MockTimers, Date included) and a fake ledger
// (fake-ledger.ts), so each scenario happens at exactly the millisecond it
// names. The journal is the real one, writing to an in-memory file. Every
// scenario ends with the invariant: the database rose by exactly the number
// of values handed out, and no request was answered after its deadline.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mock } from 'node:test';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { CoalescingAllocator } from '../../../server/counter/allocator.js';
import { DegradedCounter, type DegradedCounterOptions } from '../../../server/counter/degraded.js';
import { Journal, pendingEntries, type JournalFile } from '../../../server/counter/journal.js';
import { noMetrics, UnavailableError, type Allocation, type Counter } from '../../../server/counter/types.js';
import { silentLog } from '../../helpers/app.js';
import { FakeLedger } from './fake-ledger.js';

const test = anyTest.serial as TestFn;

const DEADLINE = 1500;
const BUDGET = 1000;

/**
 * File-system requests in flight: callback and promise requests, and
 * `CloseReq`, a FileHandle's close (the quarantine file's last step), which
 * a match on `FSReq` alone missed, so a slow close on a busy machine let the
 * mocked clock run on without it.
 */
const pendingFsRequests = () =>
  process.getActiveResourcesInfo().filter((r) => r.startsWith('FSReq') || r === 'CloseReq').length;

/**
 * Lets promise chains and real I/O (directory fsync, the quarantine file) run;
 * mocked timers do not move. Real I/O takes real time, longer on a busy
 * machine, so this waits until no file-system request is in flight (bounded
 * by 10 s of real time) rather than for a fixed number of turns.
 */
async function settle(): Promise<void> {
  const giveUpAt = performance.now() + 10_000;
  for (let i = 0; i < 30 || (pendingFsRequests() > 0 && performance.now() < giveUpAt); i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

let now = 0;
async function advance(ms: number): Promise<void> {
  for (let step = 0; step < ms; step += 10) {
    mock.timers.tick(10);
    now += 10;
    await settle();
  }
}

interface Answer {
  readonly value?: number;
  readonly error?: Error;
  readonly at: number;
  readonly sentAt: number;
}

/** Sends one request and records when and how it was answered. */
function request(counter: Counter, answers: Answer[]): void {
  const sentAt = now;
  counter.next().then(
    (a: Allocation) => answers.push({ value: a.value, at: now, sentAt }),
    (error: Error) => answers.push({ error, at: now, sentAt }),
  );
}

/** Opens the journal (directory creation and fsync are real I/O) before the scenario's clock starts. */
async function opened(journal: Journal): Promise<Journal> {
  await journal.add('00000000-0000-7000-8000-000000000000', 1);
  journal.done('00000000-0000-7000-8000-000000000000');
  return journal;
}

/**
 * A journal on a real directory whose file lives in memory (fsync is instant,
 * content inspectable); while `disk.broken` is set, every write fails (EIO).
 */
async function memoryJournal(dir: string, disk = { broken: false }) {
  const written: Buffer[] = [];
  const file: JournalFile = {
    write: (data, offset, length) => {
      if (disk.broken) return Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
      written.push(Buffer.from(data.subarray(offset, offset + length)));
      return Promise.resolve({ bytesWritten: length });
    },
    datasync: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const journal = await opened(new Journal({ dir, workerId: 0, openFile: () => Promise.resolve(file) }));
  return { journal, text: () => Buffer.concat(written).toString('utf8') };
}

test.beforeEach((t) => {
  now = 0;
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 0 });
  t.context = mkdtempSync(path.join(os.tmpdir(), 'counter-api-mode-'));
});

test.afterEach.always((t) => {
  mock.timers.reset();
  rmSync(t.context as string, { recursive: true, force: true });
});

function degraded(db: FakeLedger, journal: Journal, extra: Partial<DegradedCounterOptions> = {}) {
  return new DegradedCounter({
    ...extra,
    db,
    log: silentLog,
    journal,
    maxBatch: 100,
    deadlineMs: DEADLINE,
    budgetMs: BUDGET,
    probeIntervalMs: 500,
    maxReplayAgeMs: 3600_000,
    retryDelayMs: 20,
    ...extra,
  });
}

const handedOut = (answers: readonly Answer[]) => answers.filter((a) => a.value !== undefined);
const lateAnswers = (answers: readonly Answer[]) => answers.filter((a) => a.at - a.sentAt > DEADLINE + 100);

test('mode switch: a batch handed off after its requests were answered 503 does not count them', async (t) => {
  const db = new FakeLedger();
  const { journal } = await memoryJournal(t.context as string);
  const counter = degraded(db, journal);
  const answers: Answer[] = [];
  // X's statement takes 900 ms (a row lock held elsewhere); A and B queue behind it.
  db.stalled = true;
  request(counter, answers);
  await advance(100);
  request(counter, answers);
  request(counter, answers);
  await advance(800);
  db.release();
  db.stalled = true; // A and B's batch now meets a silent database.
  await settle();
  t.is(handedOut(answers).length, 1, 'X got its exact value');
  // A and B expire at 1600 ms; their batch is handed off at about 1900 ms.
  await advance(1100);
  t.is(counter.mode, 'degraded');
  t.deepEqual(
    answers.slice(1).map((a) => a.error instanceof UnavailableError),
    [true, true],
  );
  // C arrives degraded and is served from what A and B's batch journaled.
  request(counter, answers);
  await advance(300);
  t.is(handedOut(answers).length, 2);
  // The database returns; the batch's original statement never committed.
  db.drop();
  await advance(1500);
  t.is(counter.mode, 'exact');
  await counter.close();
  t.is(db.value, handedOut(answers).length, 'database rose by exactly the values handed out');
  t.deepEqual(lateAnswers(answers), []);
});

test('mode switch: a handed-off batch whose statement commits late is counted once, and its requests keep their values', async (t) => {
  const db = new FakeLedger();
  const { journal } = await memoryJournal(t.context as string);
  const counter = degraded(db, journal);
  const answers: Answer[] = [];
  db.stalled = true;
  request(counter, answers);
  request(counter, answers);
  await advance(1100);
  t.is(counter.mode, 'degraded');
  t.is(handedOut(answers).length, 2, 'both answered provisionally from the journal');
  for (let i = 0; i < 3; i += 1) request(counter, answers);
  await advance(50);
  // The original statement commits after all (late), then the database answers again.
  db.release();
  await advance(1500);
  t.is(counter.mode, 'exact');
  request(counter, answers);
  await advance(50);
  await counter.close();
  t.is(handedOut(answers).length, 6);
  t.is(db.value, 6, 'database rose by exactly the values handed out');
  t.deepEqual(lateAnswers(answers), []);
});

/** A batch stalls and the journal cannot take it: its requests are refused, then the database answers again. */
async function refusedHandOff(t: ExecutionContext<unknown>, settleDb: (db: FakeLedger) => void) {
  const db = new FakeLedger();
  const disk = { broken: false };
  const { journal } = await memoryJournal(t.context as string, disk);
  const counter = degraded(db, journal);
  const answers: Answer[] = [];
  db.stalled = true;
  disk.broken = true;
  request(counter, answers);
  request(counter, answers);
  await advance(1600);
  t.is(counter.mode, 'degraded');
  t.is(answers.length, 2);
  t.true(
    answers.every((a) => a.error instanceof UnavailableError && a.at <= DEADLINE),
    'both refused by their deadline',
  );
  disk.broken = false;
  settleDb(db);
  await advance(1000);
  t.is(counter.mode, 'exact');
  for (let i = 0; i < 3; i += 1) request(counter, answers);
  await advance(50);
  await counter.close();
  t.deepEqual(
    handedOut(answers).map((a) => a.value),
    [1, 2, 3],
    'exact values from 1: nothing skipped, nothing twice',
  );
  t.is(db.value, 3, 'database rose by exactly the values handed out');
  t.deepEqual(lateAnswers(answers), []);
  return db;
}

test('mode switch: a handed-off batch the journal refuses is answered 503; if its statement commits late, its values go to the next requests', async (t) => {
  // The statement commits after all (values 1 and 2, for requests answered 503).
  await refusedHandOff(t, (db) => db.release());
});

test('mode switch: a handed-off batch the journal refuses is answered 503 and fenced; it never commits', async (t) => {
  // The connection drops: the statement never ran; it is fenced so that it never will.
  const db = await refusedHandOff(t, (db) => db.drop());
  t.true(
    [...db.batches.values()].some((row) => row === null),
    'a fence row was written',
  );
});

test('mode switch: shutting down with a refused batch still unsettled reports its increments as lost', async (t) => {
  const db = new FakeLedger();
  const disk = { broken: false };
  const { journal } = await memoryJournal(t.context as string, disk);
  disk.broken = true;
  const lost: number[] = [];
  const counter = degraded(db, journal, {
    metrics: {
      ...noMetrics,
      unhanded: (n, where) => {
        if (where === 'lost') lost.push(n);
      },
    },
  });
  const answers: Answer[] = [];
  db.stalled = true;
  request(counter, answers);
  request(counter, answers);
  await advance(1600);
  t.true(answers.every((a) => a.error instanceof UnavailableError));
  await counter.close();
  // The first request's batch (n = 1) was refused; the second was queued behind it and refused by the journal.
  t.deepEqual(lost, [1]);
});

test('mode switch: requests held during the last replay are answered 503 by their deadline when the replay hangs', async (t) => {
  const db = new FakeLedger();
  const { journal } = await memoryJournal(t.context as string);
  const counter = degraded(db, journal);
  const answers: Answer[] = [];
  db.stalled = true;
  request(counter, answers);
  await advance(1100);
  t.is(counter.mode, 'degraded');
  // The database answers again, except that the replay statement hangs.
  db.drop();
  db.stalled = true;
  db.stallOnly = 'batch_commit_many';
  await advance(500);
  for (let i = 0; i < 3; i += 1) request(counter, answers);
  await advance(2000);
  const held = answers.slice(1);
  t.is(held.length, 3, 'every held request was answered');
  t.true(held.every((a) => a.error instanceof UnavailableError));
  t.deepEqual(lateAnswers(answers), []);
  // The replay is let through: exact again, and nothing answered 503 was counted.
  db.release();
  await advance(1500);
  t.is(counter.mode, 'exact');
  request(counter, answers);
  await advance(50);
  await counter.close();
  t.is(db.value, handedOut(answers).length);
});

test('mode switch: a journal fsync slower than the deadline answers 503 on time and the increment is not counted', async (t) => {
  const db = new FakeLedger();
  const dir = t.context as string;
  let slowSync: (() => void) | undefined;
  let slow = false;
  const disk: Buffer[] = [];
  const journal = await opened(
    new Journal({
      dir,
      workerId: 0,
      openFile: () =>
        Promise.resolve({
          write: (data, offset, length) => {
            disk.push(Buffer.from(data.subarray(offset, offset + length)));
            return Promise.resolve({ bytesWritten: length });
          },
          datasync: () => (slow ? new Promise<void>((resolve) => (slowSync = resolve)) : Promise.resolve()),
          close: () => Promise.resolve(),
        }),
    }),
  );
  const counter = degraded(db, journal);
  const answers: Answer[] = [];
  db.stalled = true;
  request(counter, answers);
  await advance(1100);
  t.is(handedOut(answers).length, 1);
  slow = true;
  request(counter, answers);
  request(counter, answers);
  await advance(1600);
  t.true(
    answers.slice(1).every((a) => a.error instanceof UnavailableError),
    'answered 503 while the fsync hangs',
  );
  slow = false;
  slowSync?.();
  await settle();
  db.release();
  await advance(1500);
  t.is(counter.mode, 'exact');
  await counter.close();
  t.is(db.value, handedOut(answers).length, 'the two refused increments were taken off the journal');
  t.deepEqual(lateAnswers(answers), []);
  t.deepEqual(pendingEntries(Buffer.concat(disk).toString('utf8')).entries, []);
});

test('allocator: a batch whose requests all gave up is fenced; if it committed, its values go to the next requests', async (t) => {
  const db = new FakeLedger();
  const allocator = new CoalescingAllocator({
    db,
    log: silentLog,
    maxBatch: 100,
    deadlineMs: DEADLINE,
    retryDelayMs: 20,
  });
  const answers: Answer[] = [];
  db.stalled = true;
  request(allocator, answers);
  request(allocator, answers);
  await advance(1600);
  t.true(answers.every((a) => a.error instanceof UnavailableError));
  // The statement commits late; the fence then finds its range and keeps it as spares.
  db.release();
  await advance(100);
  t.is(allocator.spareCount, 1);
  request(allocator, answers);
  request(allocator, answers);
  request(allocator, answers);
  await advance(50);
  t.deepEqual(
    handedOut(answers).map((a) => a.value),
    [1, 2, 3],
  );
  await allocator.close();
  t.is(db.value, 3);
});

test('allocator: a batch whose requests all gave up before it committed is fenced and never commits', async (t) => {
  const db = new FakeLedger();
  const allocator = new CoalescingAllocator({
    db,
    log: silentLog,
    maxBatch: 100,
    deadlineMs: DEADLINE,
    retryDelayMs: 20,
  });
  const answers: Answer[] = [];
  db.stalled = true;
  request(allocator, answers);
  await advance(1600);
  // The connection drops: the statement never ran; the fence makes sure it never will.
  db.drop();
  await advance(100);
  t.is(allocator.spareCount, 0);
  t.true(
    [...db.batches.values()].some((row) => row === null),
    'a fence row was written',
  );
  request(allocator, answers);
  await advance(50);
  await allocator.close();
  t.deepEqual(
    handedOut(answers).map((a) => a.value),
    [1],
  );
  t.is(db.value, 1);
});

test('mode switch: an entry older than the replay age is quarantined with an error, and the worker returns to exact', async (t) => {
  const db = new FakeLedger();
  const { journal } = await memoryJournal(t.context as string);
  const quarantined: number[][] = [];
  const counter = degraded(db, journal, {
    maxReplayAgeMs: 2000,
    onQuarantine: (entries, increments) => quarantined.push([entries, increments]),
  });
  const answers: Answer[] = [];
  db.stalled = true;
  request(counter, answers);
  await advance(1100);
  t.is(counter.mode, 'degraded');
  // The outage outlasts the replay age: the entry could no longer be replayed blindly.
  await advance(2500);
  db.drop();
  await advance(1000);
  t.is(counter.mode, 'exact', 'not stuck in degraded mode');
  t.deepEqual(quarantined, [[1, 1]], 'reported (metric)');
  const stale = readFileSync(`${journal.path}.stale`, 'utf8');
  t.regex(stale, /"op":"add"/, 'the entry is kept in the quarantine file for an operator');
  t.is(db.value, 0, 'and not applied blindly');
  await counter.close();
});
