// Without degraded mode (DEGRADED_MODE=off) a database outage must cost
// nothing but clean refusals: every POST gets a JSON 503 with Retry-After by
// its deadline, readiness reports the database, nothing is counted, and the
// service is exact again, with no gap, when the database returns.

import test from 'ava';
import { freePort } from '../../server/local/postgres.js';
import { load, successValues } from '../helpers/load.js';
import { startPostgres } from '../helpers/postgres.js';
import { startService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp.js';

test('DEGRADED_MODE=off, database down: 503 + Retry-After within the deadline, readiness 503, counter unchanged, then exact', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.destroy());
  const url = await pg.freshDatabase();
  const service = await startService({
    port: await freePort(),
    env: {
      DATABASE_URL: url,
      DEGRADED_MODE: 'off',
      REQUEST_DEADLINE_MS: '1000',
      DB_CONNECT_TIMEOUT_MS: '300',
      JOURNAL_DIR: tempDir(t),
    },
  });
  t.teardown(async () => {
    service.kill('SIGKILL');
    await service.exited;
  });
  const before = await load({ url: service.url, total: 30, concurrency: 3 });
  t.deepEqual(
    successValues(before),
    Array.from({ length: 30 }, (_, i) => i + 1),
  );

  await pg.cluster.stop();
  const started = Date.now();
  const response = await fetch(service.url, { method: 'POST' });
  const elapsed = Date.now() - started;
  const body = (await response.json()) as { error: { code: string } };
  const during = await load({ url: service.url, total: 40, concurrency: 10, timeoutMs: 5000 });
  const ready = await fetch(`${service.url}readyz`);

  t.is(response.status, 503);
  t.is(body.error.code, 'unavailable');
  t.truthy(response.headers.get('retry-after'));
  t.true(elapsed >= 900 && elapsed < 2500, `answered after ${elapsed} ms`);
  t.true(during.every((o) => o.status === 503 && o.retryAfter !== undefined));
  t.is(ready.status, 503);
  t.like(await ready.json(), { status: 'database_unreachable' });

  await pg.cluster.start();
  const [row] = await pg.sql<{ value: string }>(url, 'SELECT value FROM counter');
  t.is(Number(row?.value), 30, 'no refused request was counted');
  for (let attempt = 0; attempt < 100 && (await fetch(`${service.url}readyz`)).status !== 200; attempt += 1)
    await new Promise((r) => setTimeout(r, 100));
  const after = await load({ url: service.url, total: 10, concurrency: 2, timeoutMs: 5000 });
  t.deepEqual(
    successValues(after),
    Array.from({ length: 10 }, (_, i) => 31 + i),
    'exact again with no gap',
  );
});
