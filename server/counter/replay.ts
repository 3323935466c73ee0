// Journal replay, the one implementation behind both the live worker (its
// own journal, when the database answers again) and the orphan scanner
// (files whose owner is gone). Entries are applied oldest first through the
// batch ledger, so an entry applied twice commits once. One rule for age:
// an entry older than the ledger retention (minus a margin) could have had
// its ledger row pruned, so a blind replay might apply it twice; it is moved
// to a quarantine file `<journal>.stale` (kept for an operator, counted by
// the drain check, see docs/runbooks.md) and reported, never replayed.

import fs from 'node:fs/promises';
import type { Queryable } from '../db.js';
import type { JournalEntry } from './journal.js';
import { commitBatches, type Range } from './ledger.js';

export interface ReplayResult {
  /** Ranges of the entries now committed (by this replay or an earlier one). */
  readonly applied: Map<string, Range>;
  /** Entries that were fenced in the database: never applied. */
  readonly fenced: readonly JournalEntry[];
  /** Entries too old to replay safely, now in the quarantine file. */
  readonly quarantined: readonly JournalEntry[];
  /** Increments this call applied or found applied. */
  readonly increments: number;
}

export interface ReplayRule {
  readonly maxReplayAgeMs: number;
  readonly now?: number;
}

export const quarantinePath = (journalPath: string) => `${journalPath}.stale`;

export function isStale(entry: JournalEntry, rule: ReplayRule): boolean {
  return (rule.now ?? Date.now()) - entry.at > rule.maxReplayAgeMs;
}

/** Appends entries to the quarantine file beside `journalPath`, durably. */
async function quarantine(journalPath: string, entries: readonly JournalEntry[]): Promise<void> {
  const handle = await fs.open(quarantinePath(journalPath), 'a', 0o640);
  try {
    await handle.writeFile(entries.map((e) => `${JSON.stringify({ op: 'add', ...e })}\n`).join(''));
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Applies `entries` of the journal at `journalPath` in one statement (or one
 * by one where some were applied already). Stale entries are quarantined
 * first. The caller records the outcome in the journal (done records).
 */
export async function replayEntries(
  db: Queryable,
  journalPath: string,
  entries: readonly JournalEntry[],
  rule: ReplayRule,
): Promise<ReplayResult> {
  rule = { ...rule, now: rule.now ?? Date.now() };
  const quarantined = entries.filter((e) => isStale(e, rule));
  if (quarantined.length > 0) await quarantine(journalPath, quarantined);
  const fresh = quarantined.length === 0 ? entries : entries.filter((e) => !isStale(e, rule));
  const applied = await commitBatches(db, fresh);
  const fenced = fresh.filter((e) => !applied.has(e.id));
  const increments = fresh.reduce((sum, e) => sum + (applied.has(e.id) ? e.n : 0), 0);
  return { applied, fenced, quarantined, increments };
}
