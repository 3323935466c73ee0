// Replays journal files whose owner process is gone (a crash, a pm2 restart
// or reload during degraded mode). Every worker runs it at start and on a
// schedule; an advisory lock per file keeps two workers from doing the same
// file at once, and the ledger makes a repeated replay harmless anyway. The
// replay itself is the live worker's (counter/replay.ts), with the same age
// rule: entries too old to replay safely go to `<file>.stale`. Progress is
// appended to the file as `done` records, so a replay that is killed halfway
// resumes where it stopped. A fully applied file is deleted. A file that
// another worker finished and deleted meanwhile is simply skipped.

import fs from 'node:fs/promises';
import path from 'node:path';
import { withAdvisoryLock, type Db } from '../db.js';
import type { Logger } from '../log.js';
import { doneLine, isJournalFile, ownerAlive, readPendingEntries } from '../counter/journal.js';
import { replayEntries } from '../counter/replay.js';
import type { Job } from './schedule.js';

export interface ReplayReport {
  files: number;
  entries: number;
  increments: number;
  quarantined: number;
}

export interface ReplayOptions {
  readonly db: Db;
  readonly log: Logger;
  readonly dir: string;
  readonly maxReplayAgeMs: number;
  readonly onReplay?: (entries: number, increments: number) => void;
  readonly onQuarantine?: (entries: number, increments: number) => void;
  readonly chunk?: number;
}

const gone = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

async function listOrphans(dir: string): Promise<string[]> {
  try {
    const names = await fs.readdir(dir);
    return names.filter((name) => isJournalFile(name) && !ownerAlive(name)).sort();
  } catch (error) {
    if (gone(error)) return [];
    throw error;
  }
}

async function replayFile(options: ReplayOptions, name: string, report: ReplayReport): Promise<void> {
  const { log, dir } = options;
  const file = path.join(dir, name);
  await withAdvisoryLock(options.db, `counter-journal:${name}`, async (s) => {
    const { entries, torn } = await readPendingEntries(file);
    if (torn > 0)
      log.warn({ file, torn }, 'journal file had unreadable lines (writes cut short); they were never acknowledged');
    const chunk = options.chunk ?? 500;
    for (let i = 0; i < entries.length; i += chunk) {
      const slice = entries.slice(i, i + chunk);
      const result = await replayEntries(s, file, slice, { maxReplayAgeMs: options.maxReplayAgeMs });
      await fs.appendFile(file, slice.map((e) => doneLine(e.id, result.applied.get(e.id))).join(''));
      report.entries += slice.length;
      report.increments += result.increments;
      options.onReplay?.(slice.length, result.increments);
      if (result.quarantined.length > 0) {
        const increments = result.quarantined.reduce((sum, e) => sum + e.n, 0);
        report.quarantined += result.quarantined.length;
        options.onQuarantine?.(result.quarantined.length, increments);
        log.error(
          { file: `${file}.stale`, entries: result.quarantined.length, increments },
          'journal entries older than the ledger retention: quarantined, not replayed; see docs/runbooks.md',
        );
      }
    }
    await fs.rm(file, { force: true });
    report.files += 1;
    if (entries.length > 0) log.info({ file, entries: entries.length }, 'replayed an orphaned journal');
  });
}

export async function replayOrphanedJournals(options: ReplayOptions): Promise<ReplayReport> {
  const report: ReplayReport = { files: 0, entries: 0, increments: 0, quarantined: 0 };
  for (const name of await listOrphans(options.dir)) {
    try {
      await replayFile(options, name, report);
    } catch (error) {
      // Another worker replayed and deleted it between our listing and our read.
      if (!gone(error)) throw error;
    }
  }
  return report;
}

export function replayJournalsJob(options: ReplayOptions, cron: string): Job {
  return { name: 'replay-orphaned-journals', cron, run: () => replayOrphanedJournals(options) };
}
