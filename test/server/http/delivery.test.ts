// Accounting of values handed to clients that went away: every value taken
// from the counter is either a written 2xx or logged and counted as
// undelivered, so the metrics' values handed out equal the database increase.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import pg from 'pg';
import type { Registry } from 'prom-client';
import { readCounter } from '../../helpers/counter.js';
import type { Counter } from '../../../server/counter/types.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { captureLog, startTestApp, type TestApp } from '../../helpers/app.js';
import { connectionCloseHooks } from '../../../server/http/delivery.js';
import { connect, exchange, parseResponses } from './raw-socket.js';

interface Context {
  pg: TestPostgres;
  /** Its own database, for stalling the counter row without touching the others. */
  stall: TestApp;
  stallUrl: string;
  /** Answers as the service does. */
  app: TestApp;
  /** Takes its value 100 ms after the request arrived, as a slow database would. */
  slow: TestApp;
  lines: Record<string, unknown>[];
}
const test = anyTest as TestFn<Context>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const slowly = (counter: Counter): Counter => ({
  next: async () => {
    await sleep(100);
    return counter.next();
  },
  close: () => counter.close(),
});

test.before(async (t) => {
  const pg = await startPostgres();
  const { log, lines } = captureLog();
  const app = await startTestApp(await pg.freshDatabase(), {}, undefined, { log });
  const slow = await startTestApp(await pg.freshDatabase(), {}, undefined, { log, wrapCounter: slowly });
  const stallUrl = await pg.freshDatabase();
  const stall = await startTestApp(stallUrl, {}, undefined, { log });
  t.context = { pg, app, slow, stall, stallUrl, lines };
});

test.after.always(async (t) => {
  await t.context.app?.close();
  await t.context.slow?.close();
  await t.context.stall?.close();
  await t.context.pg?.destroy();
});

async function sum(registry: Registry, name: string, match: Record<string, string> = {}): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((v) => Object.entries(match).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((total, v) => total + v.value, 0);
}

interface Books {
  database: number;
  handedOut: number;
  written: number;
  undelivered: number;
}

async function books(app: TestApp): Promise<Books> {
  const registry = app.metrics.registry;
  return {
    database: await readCounter(app.db),
    handedOut: await sum(registry, 'http_counter_values_handed_out_total'),
    written: await sum(registry, 'http_requests_total', { route: '/', method: 'POST', status: '200' }),
    undelivered: await sum(registry, 'http_counter_values_undelivered_total'),
  };
}

const delta = (after: Books, before: Books): Books => ({
  database: after.database - before.database,
  handedOut: after.handedOut - before.handedOut,
  written: after.written - before.written,
  undelivered: after.undelivered - before.undelivered,
});

const connections = (app: TestApp) =>
  new Promise<number>((resolve) => app.server.getConnections((_error, count) => resolve(count)));

/**
 * Waits (bounded) until the server holds no connection and the books are
 * balanced and stable for 300 ms: every value handed out settled and committed.
 */
async function settled(t: ExecutionContext<Context>, app: TestApp, before: Books): Promise<Books> {
  let change = delta(await books(app), before);
  let stableFor = 0;
  for (let i = 0; i < 50 && stableFor < 3; i += 1) {
    await sleep(100);
    const next = delta(await books(app), before);
    const balanced =
      (await connections(app)) === 0 &&
      next.handedOut === next.written + next.undelivered &&
      next.database === next.handedOut;
    stableFor = balanced && JSON.stringify(next) === JSON.stringify(change) ? stableFor + 1 : 0;
    change = next;
  }
  t.log(JSON.stringify(change));
  return change;
}

const POST = 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n';

test.serial(
  'connections reset right after POST /, then as many that stay: database increase == handed out == 2xx written + undelivered',
  async (t) => {
    const before = await books(t.context.app);
    await Promise.all(
      Array.from({ length: 20 }, () => exchange(t.context.app.port, POST, { resetAfterWrite: true, waitMs: 1000 })),
    );
    // A value committed for a client that left before it was handed out is a
    // spare, handed to the next request: as many clients that stay as left
    // take every spare there can be.
    for (let i = 0; i < 20; i += 1) {
      const { text } = await exchange(t.context.app.port, POST, { until: /"message"/, waitMs: 3000 });
      t.is(parseResponses(text)[0]?.status, 200);
    }
    const change = await settled(t, t.context.app, before);
    t.true(change.written >= 20);
    t.is(change.database, change.handedOut);
    t.is(change.handedOut, change.written + change.undelivered);
  },
);

test.serial('a reset while the value is being taken: every value is logged and counted as undelivered', async (t) => {
  const before = await books(t.context.slow);
  const mark = t.context.lines.length;
  await Promise.all(
    Array.from({ length: 10 }, () => exchange(t.context.slow.port, POST, { resetAfterWrite: true, waitMs: 500 })),
  );
  const change = await settled(t, t.context.slow, before);
  t.deepEqual(change, { database: 10, handedOut: 10, written: 0, undelivered: 10 });
  const logged = t.context.lines
    .slice(mark)
    .filter((line) => line.message === 'counter value handed out but its response was not delivered');
  t.is(logged.length, 10);
  const values = logged.map((line) => line.counter as number).sort((a, b) => a - b);
  t.deepEqual(
    values,
    Array.from({ length: 10 }, (_, i) => before.database + i + 1),
    'the values themselves are logged',
  );
});

test.serial(
  'garbage after a POST on the same connection: the POST gets its 200, then a 400, and the books balance',
  async (t) => {
    for (const app of [t.context.app, t.context.slow]) {
      const before = await books(app);
      const { text, closed } = await exchange(app.port, `${POST}GARBAGE\r\n\r\n`, { waitMs: 3000 });
      const responses = parseResponses(text);
      const change = await settled(t, app, before);
      t.deepEqual(
        responses.map((r) => r.status),
        [200, 400],
      );
      t.is((JSON.parse(responses[0]?.body ?? '{}') as { counter?: number }).counter, before.database + 1);
      t.true(closed);
      t.deepEqual(change, { database: 1, handedOut: 1, written: 1, undelivered: 0 });
    }
  },
);

test.serial(
  'sockets closed while the database is stalled: no value is taken for them, and database increase == 2xx + undelivered',
  async (t) => {
    const { stall, stallUrl } = t.context;
    const before = await books(stall);
    // Another session holds the counter row: the first batch blocks on it, the other requests queue behind.
    const holder = new pg.Client({ connectionString: stallUrl });
    await holder.connect();
    t.teardown(() => holder.end());
    await holder.query('BEGIN');
    await holder.query('SELECT value FROM counter WHERE id = 1 FOR UPDATE');
    const N = 20;
    const sockets = await Promise.all(Array.from({ length: N }, () => connect(stall.port)));
    for (const socket of sockets) {
      socket.on('error', () => undefined);
      socket.write(POST);
    }
    await sleep(300);
    for (const socket of sockets) socket.resetAndDestroy();
    await sleep(300);
    await holder.query('COMMIT');
    // Clients that stay: the first takes the value the stalled batch committed for a client that left.
    const answers = [];
    for (let i = 0; i < 3; i += 1) answers.push(await exchange(stall.port, POST, { until: /"message"/, waitMs: 3000 }));
    t.deepEqual(
      answers.map((a) => parseResponses(a.text)[0]?.status),
      [200, 200, 200],
    );
    const change = await settled(t, stall, before);
    t.is(change.undelivered, 0, 'no value was taken for a request whose client had gone');
    t.is(change.written, 3);
    t.is(change.database, change.written + change.undelivered);
  },
);

test('connection close hooks: one listener per connection, a forgotten hook never runs, the rest run once', (t) => {
  const hooks = connectionCloseHooks();
  const socket = new EventEmitter() as unknown as Socket;
  const ran: number[] = [];
  const forgets = Array.from({ length: 1000 }, (_, i) => hooks(socket, () => ran.push(i)));
  for (const forget of forgets.slice(0, 998)) forget();
  t.is((socket as unknown as EventEmitter).listenerCount('close'), 1);
  (socket as unknown as EventEmitter).emit('close');
  (socket as unknown as EventEmitter).emit('close');
  t.deepEqual(ran, [998, 999]);
});
