// Graceful shutdown of a real service process under load: on SIGTERM it
// stops taking connections, finishes what is in flight, and exits 0. Every
// request that got a 2xx is counted in the database, and no request hangs.

import test from 'ava';
import { freePort } from '../../server/local/postgres.js';
import { contiguityProblem, load, successValues } from '../helpers/load.js';
import { startPostgres } from '../helpers/postgres.js';
import { startService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp.js';

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} under load: exit 0, nothing in flight lost, no request hangs`, async (t) => {
    const pg = await startPostgres();
    t.teardown(() => pg.destroy());
    const url = await pg.freshDatabase();
    const service = await startService({
      port: await freePort(),
      env: { DATABASE_URL: url, JOURNAL_DIR: tempDir(t, 'counter-api-journal-'), SHUTDOWN_TIMEOUT_MS: '8000' },
    });
    let gone = false;
    void service.exited.then(() => (gone = true));
    const running = load({ url: service.url, total: 20_000, concurrency: 40, timeoutMs: 5000, stop: () => gone });
    await new Promise((r) => setTimeout(r, 700));
    const signalledAt = Date.now();
    service.kill(signal);
    const code = await service.exited;
    const exitMs = Date.now() - signalledAt;
    const outcomes = await running;
    const values = successValues(outcomes);
    const [row] = await pg.sql<{ value: string }>(url, 'SELECT value FROM counter');
    t.is(code, 0, service.output());
    t.true(exitMs < 8000, `exited after ${exitMs} ms`);
    t.true(values.length > 100, `only ${values.length} requests succeeded before the signal`);
    t.is(outcomes.filter((o) => o.error === 'timeout').length, 0, 'no request hung');
    t.true(
      outcomes.every((o) => o.status === 200 || o.status === undefined || o.status === 503),
      'only 200s, refused connections, or 503s',
    );
    t.is(Number(row?.value), values.length, 'the database counts exactly the 2xx answers');
    t.is(contiguityProblem(values), undefined);
    t.log(`${values.length} answered, ${outcomes.length - values.length} refused while closing; exit in ${exitMs} ms`);
  });
}
