// A writer that proves no acknowledged commit is lost across a failover: run
// inside a twin namespace, it inserts rows with increasing ids through the
// stable address for --seconds, reconnecting after every error, and prints
// the ids whose COMMIT was acknowledged (one JSON line at the end). A test
// then checks that every one of them is on the new primary.
// Usage: node --import tsx twin/db/writer-probe.ts --url URL --seconds S [--ca FILE]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values: args } = parseArgs({
  options: { url: { type: 'string' }, seconds: { type: 'string', default: '10' }, ca: { type: 'string' } },
});
if (args.url === undefined) throw new Error('--url is required');
const ssl =
  args.ca === undefined ? undefined : { ca: readFileSync(args.ca, 'utf8'), checkServerIdentity: () => undefined };
const until = Date.now() + Number(args.seconds) * 1000;
const acknowledged: number[] = [];
let errors = 0;
let next = 1;
let client: pg.Client | undefined;

while (Date.now() < until) {
  try {
    if (client === undefined) {
      client = new pg.Client({ connectionString: args.url, ssl, connectionTimeoutMillis: 2000, query_timeout: 5000 });
      client.on('error', () => undefined);
      await client.connect();
      await client.query('CREATE TABLE IF NOT EXISTS probe_write (id bigint PRIMARY KEY)');
    }
    const id = next;
    next += 1;
    await client.query('INSERT INTO probe_write (id) VALUES ($1)', [id]);
    acknowledged.push(id);
  } catch {
    errors += 1;
    await client?.end().catch(() => undefined);
    client = undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}
await client?.end().catch(() => undefined);
console.log(JSON.stringify({ acknowledged, errors, attempted: next - 1 }));
