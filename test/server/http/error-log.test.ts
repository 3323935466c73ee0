// Log levels of failed requests: a 503 the counter answers on purpose (the
// schema not migrated yet at start-up, a deadline, a full journal) is normal
// operation, logged by the request log as a warning, never as an ERROR; an
// unexpected failure (500) is an ERROR with its stack.

import anyTest, { type TestFn } from 'ava';
import { UnavailableError, type Counter } from '../../../server/counter/types.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { captureLog, startTestApp, type TestApp } from '../../helpers/app.js';

interface Context {
  pg: TestPostgres;
  starting: TestApp;
  broken: TestApp;
  lines: Record<string, unknown>[];
}
const test = anyTest as TestFn<Context>;

const failing = (error: () => Error): Counter => ({
  next: () => Promise.reject(error()),
  close: () => Promise.resolve(),
});

test.before(async (t) => {
  const pg = await startPostgres();
  const { log, lines } = captureLog();
  const starting = await startTestApp(
    await pg.freshDatabase(),
    {},
    () => failing(() => new UnavailableError('starting: schema not migrated yet', 2)),
    { log },
  );
  const broken = await startTestApp(await pg.freshDatabase(), {}, () => failing(() => new Error('a bug')), { log });
  t.context = { pg, starting, broken, lines };
});

test.after.always(async (t) => {
  await t.context.starting?.close();
  await t.context.broken?.close();
  await t.context.pg?.destroy();
});

const errors = (lines: readonly Record<string, unknown>[]) => lines.filter((line) => line.severity === 'ERROR');

test.serial('a 503 while starting is logged as a warning, not an error', async (t) => {
  const mark = t.context.lines.length;
  const response = await fetch(t.context.starting.url, { method: 'POST' });
  t.is(response.status, 503);
  t.is(response.headers.get('retry-after'), '2');
  const lines = t.context.lines.slice(mark);
  t.deepEqual(errors(lines), []);
  t.true(lines.some((line) => line.severity === 'WARNING' && line.message === 'request failed'));
});

test.serial('an unexpected failure is a 500 logged as an error with its stack', async (t) => {
  const mark = t.context.lines.length;
  const response = await fetch(t.context.broken.url, { method: 'POST' });
  t.is(response.status, 500);
  const [line] = errors(t.context.lines.slice(mark));
  t.regex(String((line?.err as { stack?: string } | undefined)?.stack), /a bug/);
});
