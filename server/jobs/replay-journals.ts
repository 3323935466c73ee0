// Replays journal files whose owner process is gone (a crash, a pm2 restart
// or reload during degraded mode). Every worker runs it at start and on a
// schedule; an advisory lock per file keeps two workers from doing the same
// file at once, and the ledger makes a repeated replay harmless anyway.
// Progress is appended to the file as `done` records, so a replay that is
// killed halfway resumes where it stopped. A fully applied file is deleted.

import fs from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../db.js';
import type { Logger } from '../log.js';
import { doneLine, isJournalFile, ownerAlive, pendingEntries } from '../counter/journal.js';
import { commitBatches } from '../counter/ledger.js';
import type { Job } from './schedule.js';

export interface ReplayReport {
  files: number;
  entries: number;
  increments: number;
}

export interface ReplayOptions {
  readonly db: Db;
  readonly log: Logger;
  readonly dir: string;
  readonly maxReplayAgeMs: number;
  readonly onReplay?: (entries: number, increments: number) => void;
  readonly chunk?: number;
}

async function listOrphans(dir: string): Promise<string[]> {
  try {
    const names = await fs.readdir(dir);
    return names.filter((name) => isJournalFile(name) && !ownerAlive(name)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function replayFile(options: ReplayOptions, name: string, report: ReplayReport): Promise<void> {
  const { db, log, dir } = options;
  const file = path.join(dir, name);
  await db.session(async (s) => {
    const [lock] = await s.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock(hashtext('counter-journal:' || $1)) AS locked",
      [name],
    );
    if (lock?.locked !== true) return;
    try {
      const { entries, torn } = pendingEntries(await fs.readFile(file, 'utf8'));
      if (torn > 0)
        log.warn(
          { file, torn },
          'journal file had unreadable lines (a write cut short by a crash); they were never acknowledged',
        );
      const stale = entries.find((e) => Date.now() - e.at > options.maxReplayAgeMs);
      if (stale !== undefined) {
        await fs.rename(file, `${file}.stale`);
        log.error(
          { file, entry: stale.id },
          'journal file is older than the ledger retention: quarantined, see docs/runbooks.md',
        );
        return;
      }
      const chunk = options.chunk ?? 500;
      for (let i = 0; i < entries.length; i += chunk) {
        const slice = entries.slice(i, i + chunk);
        const ranges = await commitBatches(s, slice);
        await fs.appendFile(file, slice.map((e) => doneLine(e.id, ranges.get(e.id))).join(''));
        const increments = slice.reduce((sum, e) => sum + (ranges.has(e.id) ? e.n : 0), 0);
        report.entries += slice.length;
        report.increments += increments;
        options.onReplay?.(slice.length, increments);
      }
      await fs.rm(file, { force: true });
      report.files += 1;
      if (entries.length > 0) log.info({ file, entries: entries.length }, 'replayed an orphaned journal');
    } finally {
      await s.query("SELECT pg_advisory_unlock(hashtext('counter-journal:' || $1))", [name]);
    }
  });
}

export async function replayOrphanedJournals(options: ReplayOptions): Promise<ReplayReport> {
  const report: ReplayReport = { files: 0, entries: 0, increments: 0 };
  for (const name of await listOrphans(options.dir)) await replayFile(options, name, report);
  return report;
}

export function replayJournalsJob(options: ReplayOptions, cron: string): Job {
  return { name: 'replay-orphaned-journals', cron, run: () => replayOrphanedJournals(options) };
}
