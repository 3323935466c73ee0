// The HTTP contract of POST / and the error contract for bad input, against
// the real app and a real PostgreSQL. Every bad request must leave the
// counter exactly where it was.

import net, { type AddressInfo } from 'node:net';
import anyTest, { type TestFn } from 'ava';
import { readCounter } from '../helpers/counter.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { createAdminApp } from '../../server/app.js';
import { silentLog, startTestApp, type TestApp } from '../helpers/app.js';

const test = anyTest as TestFn<{ pg: TestPostgres; app: TestApp }>;

test.before(async (t) => {
  const pg = await startPostgres();
  const app = await startTestApp(await pg.freshDatabase(), { HEADERS_TIMEOUT_MS: '500', REQUEST_TIMEOUT_MS: '1000' });
  t.context = { pg, app };
});

test.after.always(async (t) => {
  await t.context.app?.close();
  await t.context.pg?.destroy();
});

const send = (t: { context: { app: TestApp } }, init: RequestInit & { path?: string } = {}) =>
  fetch(new URL(init.path ?? '/', t.context.app.url), { method: 'POST', ...init });

test.serial(
  'POST / answers 200 JSON with an integer unix timestamp, the next counter value and the message',
  async (t) => {
    const before = await readCounter(t.context.app.db);
    const sent = Date.now();
    const response = await send(t);
    const body = (await response.json()) as Record<string, unknown>;
    const received = Date.now();
    t.is(response.status, 200);
    t.is(response.headers.get('content-type'), 'application/json; charset=utf-8');
    t.is(Number(response.headers.get('content-length')), Buffer.byteLength(JSON.stringify(body)));
    t.deepEqual(Object.keys(body), ['timestamp', 'counter', 'message']);
    t.is(body.message, 'Hello world');
    t.is(body.counter, before + 1);
    t.true(Number.isInteger(body.timestamp));
    t.true((body.timestamp as number) >= Math.floor(sent / 1000) && (body.timestamp as number) <= received / 1000);
    t.is(await readCounter(t.context.app.db), before + 1);
  },
);

test.serial(
  'POST / sets helmet headers, hides x-powered-by, forbids caching and says the value is exact',
  async (t) => {
    const response = await send(t);
    t.is(response.headers.get('x-powered-by'), null);
    t.is(response.headers.get('x-content-type-options'), 'nosniff');
    t.truthy(response.headers.get('strict-transport-security'));
    t.truthy(response.headers.get('content-security-policy'));
    t.is(response.headers.get('cache-control'), 'no-store');
    t.is(response.headers.get('counter-consistency'), 'exact');
    t.regex(response.headers.get('x-request-id') ?? '', /^[\w-]{8,}$/);
  },
);

test.serial('POST / answers with its own request id, never the client-chosen X-Request-Id', async (t) => {
  const first = await send(t, { headers: { 'x-request-id': 'abc-123' } });
  const second = await send(t, { headers: { 'x-request-id': 'abc-123' } });
  const ids = [first, second].map((response) => response.headers.get('x-request-id'));
  for (const id of ids) t.regex(id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.not(ids[0], ids[1]);
});

test.serial('POST / ignores a valid body of any type', async (t) => {
  const before = await readCounter(t.context.app.db);
  const json = await send(t, { body: '{"anything": [1, 2]}', headers: { 'content-type': 'application/json' } });
  const text = await send(t, { body: 'not json at all', headers: { 'content-type': 'text/plain' } });
  t.is(json.status, 200);
  t.is(text.status, 200);
  t.is(await readCounter(t.context.app.db), before + 2);
});

const badInputs: { title: string; init: RequestInit & { path?: string }; status: number; code: string }[] = [
  { title: 'GET /', init: { method: 'GET' }, status: 405, code: 'method_not_allowed' },
  { title: 'PUT /', init: { method: 'PUT' }, status: 405, code: 'method_not_allowed' },
  { title: 'DELETE /', init: { method: 'DELETE' }, status: 405, code: 'method_not_allowed' },
  {
    title: 'a body over 1 KiB',
    init: { body: 'x'.repeat(1025), headers: { 'content-type': 'text/plain' } },
    status: 413,
    code: 'payload_too_large',
  },
  {
    title: 'malformed JSON',
    init: { body: '{"a":', headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'invalid_json',
  },
  {
    title: 'malformed +json',
    init: { body: 'nope', headers: { 'content-type': 'application/vnd.api+json' } },
    status: 400,
    code: 'invalid_json',
  },
  { title: 'an unknown path', init: { path: '/nope' }, status: 404, code: 'not_found' },
  { title: 'GET on an unknown path', init: { path: '/admin', method: 'GET' }, status: 404, code: 'not_found' },
];

for (const bad of badInputs) {
  test.serial(`${bad.title} → ${bad.status} JSON error, no stack, counter unchanged`, async (t) => {
    const before = await readCounter(t.context.app.db);
    const response = await send(t, bad.init);
    const text = await response.text();
    t.is(response.status, bad.status);
    t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
    const body = JSON.parse(text) as { error: { code: string; message: string } };
    t.is(body.error.code, bad.code);
    t.true(body.error.message.length > 0);
    t.false(/at .+\.(ts|js):\d+/.test(text), 'no stack trace in the body');
    if (bad.status === 405) t.is(response.headers.get('allow'), 'POST');
    t.is(await readCounter(t.context.app.db), before);
  });
}

test.serial('a client that sends headers too slowly is disconnected, and nothing is counted', async (t) => {
  const before = await readCounter(t.context.app.db);
  const socket = net.connect(t.context.app.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('POST / HTTP/1.1\r\nHost: x\r\n');
  const started = Date.now();
  const received = await new Promise<string>((resolve) => {
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    socket.once('close', () => resolve(data));
    setTimeout(() => resolve('still open after 5 s'), 5000);
  });
  socket.destroy();
  t.regex(received, /^(HTTP\/1\.1 408|$)/, `got: ${received.slice(0, 40)}`);
  t.true(Date.now() - started < 4000);
  t.is(await readCounter(t.context.app.db), before);
});

/**
 * Opens a connection, sends nothing, and reads whatever comes back until the
 * server closes it (bounded by 5 s). `stallMs` blocks this thread, where the
 * app runs too, once the server has accepted: the event loop then wakes
 * with both of the server's clocks overdue, as on a busy machine.
 */
async function silentClient(port: number, stallMs = 0): Promise<{ closed: boolean; ms: number; received: string }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const started = Date.now();
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  const closed = new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 5000);
  });
  if (stallMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const until = Date.now() + stallMs;
    while (Date.now() < until) {
      // Busy: no timer, no I/O.
    }
  }
  const result = { closed: await closed, ms: Date.now() - started, received };
  socket.destroy();
  return result;
}

for (const stallMs of [0, 700]) {
  test.serial(
    `a client that opens a connection and sends nothing is disconnected${stallMs > 0 ? `, also when the event loop was ${stallMs} ms late` : ''}`,
    async (t) => {
      const before = await readCounter(t.context.app.db);
      const { closed, ms, received } = await silentClient(t.context.app.port, stallMs);
      // Either the connection is closed silently, or Node's own header timeout
      // answered first: a 408 in the JSON error shape, then the close.
      t.regex(received, /^(HTTP\/1\.1 408 [^]*"code":"request_timeout"|$)/, `got: ${received.slice(0, 60)}`);
      if (stallMs > 0) t.regex(received, /^HTTP\/1\.1 408 /, "a late event loop takes Node's 408 path");
      t.true(closed, `closed (after ${ms} ms, received ${received.length} bytes)`);
      t.true(ms < 4000);
      t.is(await readCounter(t.context.app.db), before);
    },
  );
}

test.serial('GET /healthz and /readyz answer 200 JSON; /metrics is not served on the service port', async (t) => {
  const health = await send(t, { method: 'GET', path: '/healthz' });
  const ready = await send(t, { method: 'GET', path: '/readyz' });
  const metrics = await send(t, { method: 'GET', path: '/metrics' });
  t.is(health.status, 200);
  t.deepEqual(await health.json(), { status: 'alive' });
  t.is(ready.status, 200);
  t.is(metrics.status, 404);
  t.deepEqual(((await metrics.json()) as { error: { code: string } }).error.code, 'not_found');
});

test.serial(
  'the admin app (METRICS_PORT) serves Prometheus text with the series, and health, but never counts',
  async (t) => {
    await send(t);
    const admin = createAdminApp({
      log: silentLog,
      readiness: () => ({ ready: true, status: 'ready' }),
      registry: t.context.app.metrics.registry,
    });
    const server = admin.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const before = await readCounter(t.context.app.db);
    const scraped = await fetch(`${base}/metrics`);
    const text = await scraped.text();
    const healthz = await fetch(`${base}/healthz`);
    const counted = await fetch(`${base}/`, { method: 'POST' });
    server.close();
    t.is(scraped.status, 200);
    t.regex(scraped.headers.get('content-type') ?? '', /^text\/plain/);
    for (const series of [
      'http_requests_total{',
      'http_request_duration_seconds_bucket{',
      'http_counter_values_handed_out_total',
      'http_counter_values_undelivered_total',
      'counter_batch_size_bucket{',
      'db_query_duration_seconds_bucket{',
      'counter_queue_depth',
    ]) {
      t.true(text.includes(series), `missing ${series}`);
    }
    t.regex(text, /http_requests_total\{route="\/",method="POST",status="200",worker="0"\} \d+/);
    t.is(healthz.status, 200);
    t.is(counted.status, 404);
    t.is(await readCounter(t.context.app.db), before);
  },
);
