// The local journal on a real file system: durable adds, done records,
// parsing that survives a torn last line, deletion only when nothing is
// pending, owner liveness, and write failures that are reported, not hidden.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { Journal, isJournalFile, ownerAlive, pendingEntries } from '../../../server/counter/journal.js';
import { tempDir } from '../../helpers/temp.js';

test('add is on disk when it resolves; done removes it from the pending set', async (t) => {
  const journal = new Journal({ dir: tempDir(t), workerId: 3 });
  await journal.add('a', 2);
  await journal.add('b', 5);
  t.is(journal.pendingIncrements, 7);
  const onDisk = pendingEntries(readFileSync(journal.path, 'utf8')).entries;
  t.deepEqual(
    onDisk.map((e) => [e.id, e.n]),
    [
      ['a', 2],
      ['b', 5],
    ],
  );
  journal.done('a', { first: 10, last: 11 });
  t.is(journal.pendingIncrements, 5);
  t.deepEqual(
    journal.oldest(Number.POSITIVE_INFINITY).map((e) => e.id),
    ['b'],
  );
  await journal.close();
  t.deepEqual(
    pendingEntries(readFileSync(journal.path, 'utf8')).entries.map((e) => e.id),
    ['b'],
  );
});

test('the file name carries worker, pid and start time, and the owner is seen alive', (t) => {
  const journal = new Journal({ dir: tempDir(t), workerId: 7 });
  const name = path.basename(journal.path);
  t.regex(name, new RegExp(`^journal-w7-p${process.pid}-s\\w+\\.jsonl$`));
  t.true(isJournalFile(name));
  t.true(ownerAlive(name));
});

test('a journal whose pid is gone, or reused by another process, has a dead owner', (t) => {
  t.false(ownerAlive('journal-w0-p999999999-s12345.jsonl'));
  // Our own pid with a different start time: the pid was reused.
  t.false(ownerAlive(`journal-w0-p${process.pid}-s1.jsonl`));
  t.false(isJournalFile('state.json'));
});

test('parsing ignores a torn last line (a write cut by a crash) and counts it', (t) => {
  const text = [
    JSON.stringify({ op: 'add', id: 'x', n: 3, at: 1 }),
    JSON.stringify({ op: 'add', id: 'y', n: 1, at: 2 }),
    JSON.stringify({ op: 'done', id: 'x', first: 1, last: 3 }),
    '{"op":"add","id":"z","n"',
  ].join('\n');
  const { entries, torn } = pendingEntries(text);
  t.deepEqual(
    entries.map((e) => e.id),
    ['y'],
  );
  t.is(torn, 1);
});

test('parsing refuses records with a size that is not a positive integer', (t) => {
  const { entries, torn } = pendingEntries(
    `${JSON.stringify({ op: 'add', id: 'q', n: -4, at: 1 })}\n${JSON.stringify({ op: 'add', id: 'r', n: 2.5, at: 1 })}\n`,
  );
  t.deepEqual(entries, []);
  t.is(torn, 2);
});

test('retire deletes the file only when nothing in it is pending', async (t) => {
  const journal = new Journal({ dir: tempDir(t), workerId: 0 });
  await journal.add('a', 1);
  await journal.retire();
  t.true(existsSync(journal.path), 'kept: an entry is pending');
  journal.done('a', { first: 1, last: 1 });
  await journal.retire();
  t.false(existsSync(journal.path), 'deleted once applied');
});

test('an add queued behind a retire is not lost with the file', async (t) => {
  const journal = new Journal({ dir: tempDir(t), workerId: 0 });
  await journal.add('a', 1);
  journal.done('a', { first: 1, last: 1 });
  const retired = journal.retire();
  const added = journal.add('b', 4);
  await Promise.all([retired, added]);
  t.deepEqual(
    pendingEntries(readFileSync(journal.path, 'utf8')).entries.map((e) => e.id),
    ['b'],
  );
  await journal.close();
});

test('a journal that cannot be written rejects the add and does not count it', async (t) => {
  const base = tempDir(t);
  writeFileSync(path.join(base, 'file'), 'not a directory');
  const journal = new Journal({ dir: path.join(base, 'file', 'journal'), workerId: 0 });
  await t.throwsAsync(journal.add('a', 3), { code: 'ENOTDIR' });
  t.is(journal.pendingIncrements, 0);
  t.deepEqual(journal.oldest(Number.POSITIVE_INFINITY), []);
});

test('group commit: adds issued together share one write and fsync', async (t) => {
  const syncs: number[] = [];
  const journal = new Journal({ dir: tempDir(t), workerId: 0, onSync: (_s, records) => syncs.push(records) });
  await journal.add('first', 1);
  await Promise.all(Array.from({ length: 50 }, (_, i) => journal.add(`id-${i}`, 1)));
  t.is(journal.pendingIncrements, 51);
  t.true(syncs.length <= 3, `${syncs.length} fsyncs for 51 adds`);
  await journal.close();
});
