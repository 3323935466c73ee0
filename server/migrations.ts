// Schema migrations, run by every worker at start. Each one runs in its own
// transaction under a transaction-level advisory lock, and re-checks what is
// applied after taking the lock, so any number of workers and instances can
// start at once: one applies, the rest wait and then find nothing to do.

import type { Db } from './db.js';
import type { Logger } from './log.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Arbitrary constant: the advisory-lock key that serializes migrations. */
const MIGRATION_LOCK = 727_001;

const LEDGER_OF_MIGRATIONS = `CREATE TABLE IF NOT EXISTS schema_migration (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'counter and batch ledger',
    sql: `
      CREATE TABLE counter (
        id    smallint PRIMARY KEY CHECK (id = 1),
        value bigint   NOT NULL CHECK (value >= 0)
      );
      INSERT INTO counter (id, value) VALUES (1, 0);

      -- One row per batch statement: the idempotency key that makes a retry
      -- after an unknown commit outcome safe. A row with NULL values is a
      -- fence: the batch was cancelled and can never commit.
      CREATE TABLE counter_batch (
        batch_id    uuid        PRIMARY KEY,
        first_value bigint,
        last_value  bigint,
        created_at  timestamptz NOT NULL DEFAULT now(),
        CHECK ((first_value IS NULL) = (last_value IS NULL)),
        CHECK (last_value >= first_value)
      );
      -- BRIN: rows arrive in created_at order, so a block-range index serves
      -- the prune job for a few pages, and costs nearly nothing per insert.
      CREATE INDEX counter_batch_created_at ON counter_batch USING brin (created_at);
    `,
  },
];

export async function migrate(db: Db, log: Logger, migrations: readonly Migration[] = MIGRATIONS): Promise<number> {
  let applied = 0;
  for (const migration of migrations) {
    const didApply = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await tx.query(LEDGER_OF_MIGRATIONS);
      const done = await tx.query('SELECT 1 FROM schema_migration WHERE version = $1', [migration.version]);
      if (done.length > 0) return false;
      await tx.query(migration.sql);
      await tx.query('INSERT INTO schema_migration (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      return true;
    });
    if (didApply) {
      applied += 1;
      log.info({ version: migration.version, migration: migration.name }, 'migration applied');
    }
  }
  return applied;
}
