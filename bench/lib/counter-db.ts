// The benchmark's own access to the counter's database: reading the counter
// (for the correctness check) and a modeled Cloud SQL HA commit latency, inside PostgreSQL: a deferred
// constraint trigger on the counter row sleeps at commit time, after the
// UPDATE and while its row lock is still held, as a primary does while it
// waits for its synchronous standby to confirm the commit. Every writer of
// the counter then pays the delay per transaction, and the next writer waits
// behind it on the lock: the naive allocator once per request, the
// coalescing one once per batch. (This kernel has no netem; the twin models
// the same thing with synchronous replication and a standby apply delay.)

import pg from 'pg';

export async function installCommitDelay(databaseUrl: string, delayMs: number): Promise<void> {
  if (!(delayMs > 0 && delayMs < 1000)) throw new RangeError(`commit delay must be in (0, 1000) ms (got ${delayMs})`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`
      CREATE OR REPLACE FUNCTION bench_commit_delay() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_sleep(${(delayMs / 1000).toFixed(6)});
        RETURN NULL;
      END $$`);
    await client.query('DROP TRIGGER IF EXISTS bench_commit_delay ON counter');
    await client.query(`
      CREATE CONSTRAINT TRIGGER bench_commit_delay AFTER UPDATE ON counter
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_commit_delay()`);
  } finally {
    await client.end();
  }
}

/** Mean commit time of `n` sequential single-row updates of the counter row (the value is left unchanged). */
export async function measureCommitMs(databaseUrl: string, n: number): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const started = performance.now();
    for (let i = 0; i < n; i += 1) await client.query('UPDATE counter SET value = value WHERE id = 1');
    return Math.round(((performance.now() - started) / n) * 1000) / 1000;
  } finally {
    await client.end();
  }
}

export async function readCounter(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const rows = await client.query<{ value: string }>('SELECT value FROM counter WHERE id = 1');
    return Number(rows.rows[0]?.value);
  } finally {
    await client.end();
  }
}
