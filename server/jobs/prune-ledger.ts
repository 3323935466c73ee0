// Prunes the batch ledger. The ledger only has to remember a batch for as
// long as its outcome might still be asked about (a retry after a lost
// connection, a journal replay), so rows older than the retention window go.
// Runs on every worker's schedule; a session-level advisory lock makes one of
// them do the work and the others skip. Deletes in bounded chunks so the
// counter's hot row never waits behind a long transaction.

import { withAdvisoryLock, type Db } from '../db.js';
import type { Job } from './schedule.js';

const CHUNK = 10_000;

/** Returns the number of rows deleted, or undefined if another worker holds the job. */
export async function pruneLedger(db: Db, retentionHours: number): Promise<number | undefined> {
  return withAdvisoryLock(db, 'counter-api:prune-ledger', async (s) => {
    let total = 0;
    for (let chunk = 0; chunk < 1000; chunk += 1) {
      const [row] = await s.query<{ deleted: number }>(
        `WITH gone AS (
             DELETE FROM counter_batch WHERE batch_id IN (
               SELECT batch_id FROM counter_batch
               WHERE created_at < now() - make_interval(hours => $1::int)
               LIMIT $2)
             RETURNING 1)
           SELECT count(*)::int AS deleted FROM gone`,
        [retentionHours, CHUNK],
      );
      const deleted = row?.deleted ?? 0;
      total += deleted;
      if (deleted < CHUNK) break;
    }
    return total;
  });
}

export function pruneLedgerJob(db: Db, retentionHours: number, cron: string): Job {
  return { name: 'prune-ledger', cron, run: () => pruneLedger(db, retentionHours) };
}
