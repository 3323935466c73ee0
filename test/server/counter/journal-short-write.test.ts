// The journal when the disk does not take a whole write at once: a short
// write (fewer bytes than asked, as when the disk is nearly full) must be
// continued, never acknowledged as a whole; a write that fails halfway must
// not leave a torn line that swallows the next group; and an add whose write
// failed after some bytes may have reached the disk is voided on disk, so no
// replay counts a request that was answered 503. Short writes are injected
// through the journal's file seam; everything else is a real file.

import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import test from 'ava';
import { Journal, pendingEntries, type JournalFile } from '../../../server/counter/journal.js';
import { tempDir } from '../../helpers/temp.js';

type Write = (data: Buffer, offset: number, length: number) => Promise<{ bytesWritten: number }>;

/** A real file whose writes go through `write`, which gets the real one to call. */
function seam(write: (real: Write, data: Buffer, offset: number, length: number) => Promise<{ bytesWritten: number }>) {
  return async (file: string): Promise<JournalFile> => {
    const handle = await fs.open(file, 'a', 0o640);
    const real: Write = (data, offset, length) => handle.write(data, offset, length);
    return {
      write: (data, offset, length) => write(real, data, offset, length),
      datasync: () => handle.datasync(),
      close: () => handle.close(),
    };
  };
}

const onDisk = (journal: Journal) =>
  pendingEntries(readFileSync(journal.path, 'utf8')).entries.map((e) => [e.id, e.n] as const);

test('journal: a short write is continued, so an acknowledged group is on disk whole', async (t) => {
  let calls = 0;
  const journal = new Journal({
    dir: tempDir(t),
    workerId: 0,
    // Every write takes at most 7 bytes, as a nearly full disk might.
    openFile: seam((real, data, offset, length) => {
      calls += 1;
      return real(data, offset, Math.min(7, length));
    }),
  });
  await Promise.all([journal.add('a', 2), journal.add('b', 3)]);
  t.true(calls > 2, `${calls} write calls`);
  t.deepEqual(onDisk(journal), [
    ['a', 2],
    ['b', 3],
  ]);
  const { torn } = pendingEntries(readFileSync(journal.path, 'utf8'));
  t.is(torn, 0);
  await journal.close();
});

test('journal: a write that fails halfway is refused, and the next group is not glued to the torn line', async (t) => {
  let failNext = true;
  const journal = new Journal({
    dir: tempDir(t),
    workerId: 0,
    openFile: seam(async (real, data, offset, length) => {
      if (!failNext) return real(data, offset, length);
      failNext = false;
      // Half the bytes reach the disk, then the disk is full.
      await real(data, offset, Math.floor(length / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    }),
  });
  await t.throwsAsync(journal.add('lost', 4), { code: 'ENOSPC' });
  t.is(journal.pendingIncrements, 0);
  await journal.add('next', 1);
  t.deepEqual(onDisk(journal), [['next', 1]], 'the acknowledged add is readable; the refused one is not pending');
  await journal.close();
});

test('journal: an add whose bytes reached the disk although its fsync failed is voided on disk', async (t) => {
  let failSync = true;
  const dir = tempDir(t);
  const journal = new Journal({
    dir,
    workerId: 0,
    openFile: async (file) => {
      const handle = await fs.open(file, 'a', 0o640);
      return {
        write: (data, offset, length) => handle.write(data, offset, length),
        datasync: async () => {
          if (!failSync) return handle.datasync();
          failSync = false;
          throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        },
        close: () => handle.close(),
      };
    },
  });
  await t.throwsAsync(journal.add('refused', 5), { code: 'EIO' });
  // The whole record is in the file: a replay of it would count 5 requests answered 503.
  t.regex(readFileSync(journal.path, 'utf8'), /"refused"/);
  await journal.add('kept', 2);
  t.deepEqual(onDisk(journal), [['kept', 2]]);
  t.deepEqual(journal.unvoidedIds(), []);
  await journal.close();
});
