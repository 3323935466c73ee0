// Reads the counter row directly, so tests can compare the database with the
// answers they got. Production code never reads the counter outside a batch.

import type { Queryable } from '../../server/db.js';

export async function readCounter(db: Queryable): Promise<number> {
  const rows = await db.query<{ value: number }>('SELECT value FROM counter WHERE id = 1', [], 'counter_read');
  const value = rows[0]?.value;
  if (value === undefined) throw new Error('counter row is missing: were migrations run?');
  return value;
}
