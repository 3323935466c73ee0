// The batch ledger: the SQL behind every increment. A batch of n increments
// is one autocommit statement that raises the counter and records
// (batch_id, first, last) together. The batch id is an idempotency key: when
// a commit's outcome is unknown (connection lost, client-side timeout), the
// same statement is simply run again with the same id. If the first attempt
// committed, the retry hits the primary key and fails as a whole, and the
// recorded range is read back instead; if it did not, the retry commits.
// A retry that races a still-running first attempt waits on the counter's
// row lock, so the answer is exact either way.

import { UNIQUE_VIOLATION, sqlState, type Queryable } from '../db.js';

export interface Range {
  readonly first: number;
  readonly last: number;
}

/** What a fence found: the batch had committed (its range), or it never will. */
export type FenceOutcome = { readonly committed: true; readonly range: Range } | { readonly committed: false };

const COMMIT = `
  WITH bumped AS (
    UPDATE counter SET value = value + $2::bigint WHERE id = 1 RETURNING value
  )
  INSERT INTO counter_batch (batch_id, first_value, last_value)
  SELECT $1::uuid, value - $2::bigint + 1, value FROM bumped
  RETURNING first_value AS first, last_value AS last`;

const LOOKUP = 'SELECT first_value AS first, last_value AS last FROM counter_batch WHERE batch_id = $1::uuid';

const FENCE = 'INSERT INTO counter_batch (batch_id) VALUES ($1::uuid) ON CONFLICT (batch_id) DO NOTHING';

interface Row {
  first: number | null;
  last: number | null;
}

export class BatchCancelledError extends Error {
  constructor(readonly batchId: string) {
    super(`batch ${batchId} was fenced and cannot commit`);
    this.name = 'BatchCancelledError';
  }
}

async function lookup(db: Queryable, batchId: string): Promise<Row | undefined> {
  const rows = await db.query<Row>(LOOKUP, [batchId], 'batch_lookup');
  return rows[0];
}

/**
 * Commits a batch of `n` increments under `batchId`, or returns the range an
 * earlier attempt with the same id committed. Throws BatchCancelledError if
 * the id was fenced, and the driver's error if the database could not be
 * reached (the outcome is then unknown: call again with the same id).
 */
export async function commitBatch(db: Queryable, batchId: string, n: number): Promise<Range> {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`batch size must be a positive integer (got ${n})`);
  try {
    const rows = await db.query<Row>(COMMIT, [batchId, n], 'batch_commit');
    const row = rows[0];
    if (row?.first == null || row.last == null) throw new Error('counter row is missing: were migrations run?');
    return { first: row.first, last: row.last };
  } catch (error) {
    if (sqlState(error) !== UNIQUE_VIOLATION) throw error;
    const row = await lookup(db, batchId);
    if (row === undefined) throw error;
    if (row.first === null || row.last === null) throw new BatchCancelledError(batchId);
    if (row.last - row.first + 1 !== n)
      throw new Error(`batch ${batchId} committed ${row.last - row.first + 1} values, expected ${n}`);
    return { first: row.first, last: row.last };
  }
}

/**
 * Settles a batch whose outcome is unknown without committing it: writes a
 * fence row under its id, so that an attempt still in flight fails on the
 * primary key, then reads back what is there.
 */
export async function fenceBatch(db: Queryable, batchId: string): Promise<FenceOutcome> {
  await db.query(FENCE, [batchId], 'batch_fence');
  const row = await lookup(db, batchId);
  if (row?.first == null || row.last == null) return { committed: false };
  return { committed: true, range: { first: row.first, last: row.last } };
}

/** The one-increment-per-statement baseline that the coalescing allocator is measured against. */
export async function incrementOnce(db: Queryable): Promise<number> {
  const rows = await db.query<{ value: number }>(
    'UPDATE counter SET value = value + 1 WHERE id = 1 RETURNING value',
    [],
    'naive_increment',
  );
  const value = rows[0]?.value;
  if (value === undefined) throw new Error('counter row is missing: were migrations run?');
  return value;
}

const COMMIT_MANY = `
  WITH input AS (
    SELECT t.batch_id, t.n, t.ord
    FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS t(batch_id, n, ord)
  ),
  bumped AS (
    UPDATE counter SET value = value + (SELECT sum(n) FROM input) WHERE id = 1 RETURNING value
  ),
  ranged AS (
    SELECT batch_id, n,
           (SELECT value FROM bumped) - coalesce(sum(n) OVER (ORDER BY ord ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0) AS last
    FROM input
  )
  INSERT INTO counter_batch (batch_id, first_value, last_value)
  SELECT batch_id, last - n + 1, last FROM ranged
  RETURNING batch_id AS id, first_value AS first, last_value AS last`;

/**
 * Commits several batches in one statement (journal replay), each under its
 * own id, in the given order. If any id was already committed or fenced the
 * whole statement fails on the primary key and nothing changes; the entries
 * are then committed one by one, each idempotently. Returns the range of
 * every id that is now committed (fenced ids are left out).
 */
export async function commitBatches(
  db: Queryable,
  batches: readonly { id: string; n: number }[],
): Promise<Map<string, Range>> {
  const ranges = new Map<string, Range>();
  if (batches.length === 0) return ranges;
  try {
    const rows = await db.query<{ id: string; first: number; last: number }>(
      COMMIT_MANY,
      [batches.map((b) => b.id), batches.map((b) => b.n)],
      'batch_commit_many',
    );
    for (const row of rows) ranges.set(row.id, { first: row.first, last: row.last });
    if (ranges.size !== batches.length)
      throw new Error(`replay committed ${ranges.size} of ${batches.length} batches: was the counter row missing?`);
    return ranges;
  } catch (error) {
    if (sqlState(error) !== UNIQUE_VIOLATION) throw error;
  }
  for (const batch of batches) {
    try {
      ranges.set(batch.id, await commitBatch(db, batch.id, batch.n));
    } catch (error) {
      if (!(error instanceof BatchCancelledError)) throw error;
    }
  }
  return ranges;
}
