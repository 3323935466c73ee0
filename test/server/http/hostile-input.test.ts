// Hostile and malformed requests as raw bytes on a socket, against the real
// app and a real PostgreSQL: each is refused with a 4xx in the service's JSON
// error shape, promptly, with a log line, and the counter does not move.

import { gzipSync } from 'node:zlib';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { readCounter } from '../../helpers/counter.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { captureLog, startTestApp, type TestApp } from '../../helpers/app.js';
import { exchange, parseResponses, type RawOptions } from './raw-socket.js';

interface Context {
  pg: TestPostgres;
  app: TestApp;
  lines: Record<string, unknown>[];
}
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  const pg = await startPostgres();
  const { log, lines } = captureLog();
  const app = await startTestApp(await pg.freshDatabase(), { HEADERS_TIMEOUT_MS: '1000' }, undefined, { log });
  t.context = { pg, app, lines };
});

test.after.always(async (t) => {
  await t.context.app?.close();
  await t.context.pg?.destroy();
});

const post = (headers: string, body: Buffer | string = '') =>
  Buffer.concat([
    Buffer.from(`POST / HTTP/1.1\r\nHost: localhost\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`),
    Buffer.isBuffer(body) ? body : Buffer.from(body),
  ]);

/** Sends bytes, expects exactly one JSON error response with `status`, and an unchanged counter. */
async function refused(
  t: ExecutionContext<Context>,
  bytes: string | Buffer,
  status: number,
  code: RegExp,
  options: RawOptions = {},
) {
  const before = await readCounter(t.context.app.db);
  const { text } = await exchange(t.context.app.port, bytes, { waitMs: 3000, until: /\r\n\r\n\{.*\}$/s, ...options });
  const [response] = parseResponses(text);
  t.is(response?.status, status, `got: ${text.slice(0, 200)}`);
  t.regex(response?.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(response?.body ?? '{}') as { error?: { code?: string; message?: string } };
  t.regex(body.error?.code ?? '', code);
  t.true((body.error?.message ?? '').length > 0);
  t.false(/at .+\.(ts|js):\d+/.test(text), 'no stack trace in the body');
  t.is(await readCounter(t.context.app.db), before, 'the counter did not move');
  return { text, response };
}

const corrupt: [string, Buffer][] = [
  ['gzip', Buffer.from('this is not gzip at all')],
  ['gzip', gzipSync('{"a":1}').subarray(0, 12)],
  ['deflate', Buffer.from('not deflate either')],
  ['br', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00])],
];
for (const [encoding, body] of corrupt) {
  test.serial(
    `a corrupt ${encoding} body (${body.length} bytes) is 400 invalid_body_encoding, never 5xx, logged without ERROR`,
    async (t) => {
      const mark = t.context.lines.length;
      await refused(
        t,
        post(`Content-Encoding: ${encoding}\r\nContent-Type: text/plain\r\n`, body),
        400,
        /^invalid_body_encoding$/,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const errors = t.context.lines.slice(mark).filter((line) => line.severity === 'ERROR');
      t.deepEqual(errors, []);
    },
  );
}

test.serial('a declared body over 1 KiB is refused with 413 at once, before any body byte is sent', async (t) => {
  const bytes = 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 10485760\r\n\r\n';
  const { response } = await refused(t, bytes, 413, /^payload_too_large$/, { until: /\r\n\r\n.*\}/s });
  t.is(response?.headers.connection, 'close');
});

test.serial('Expect: 100-continue with a declared body over 1 KiB gets 413, not 100 Continue', async (t) => {
  const bytes = 'POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 10485760\r\n\r\n';
  const { text } = await refused(t, bytes, 413, /^payload_too_large$/, { until: /\r\n\r\n.*\}/s });
  t.true(text.startsWith('HTTP/1.1 413'), text.slice(0, 40));
});

test.serial('Expect: 100-continue with a small body gets 100 Continue and then its 200', async (t) => {
  const before = await readCounter(t.context.app.db);
  const head =
    'POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n';
  const { text } = await exchange(t.context.app.port, head + '{}', { waitMs: 3000 });
  t.true(text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200'), text.slice(0, 60));
  t.is(await readCounter(t.context.app.db), before + 1);
});

const parserErrors: [string, string | Buffer, number, RegExp][] = [
  [
    'a header line without a colon',
    'POST / HTTP/1.1\r\nHost: localhost\r\nBroken header\r\n\r\n',
    400,
    /^bad_request$/,
  ],
  ['a space before the colon', 'POST / HTTP/1.1\r\nHost : localhost\r\n\r\n', 400, /^bad_request$/],
  [
    'both Content-Length and Transfer-Encoding',
    'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    400,
    /^bad_request$/,
  ],
  [
    'a bad chunk size',
    'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    400,
    /^bad_request$/,
  ],
  ['an invalid method', 'P@ST / HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, /^bad_request$/],
  [
    'headers over 16 KiB',
    `POST / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    431,
    /^headers_too_large$/,
  ],
  [
    'Expect: other',
    'POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n',
    417,
    /^expectation_failed$/,
  ],
];
const clientErrors = async (t: ExecutionContext<Context>, status: number) => {
  const metric = await t.context.app.metrics.registry.getSingleMetric('http_client_errors_total')?.get();
  return metric?.values.find((v) => v.labels.status === String(status))?.value ?? 0;
};

for (const [title, bytes, status, code] of parserErrors) {
  test.serial(`${title} → ${status} in the JSON error shape, logged, counted, counter unchanged`, async (t) => {
    const mark = t.context.lines.length;
    const countedBefore = await clientErrors(t, status);
    await refused(t, bytes, status, code);
    t.is(await clientErrors(t, status), countedBefore + 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const logged = t.context.lines.slice(mark).filter((line) => line.message === 'client error');
    t.is(logged.length, 1, JSON.stringify(t.context.lines.slice(mark)));
    t.is((logged[0]?.httpRequest as { status?: number } | undefined)?.status, status);
  });
}

test.serial('a client that stops mid-headers gets 408 in the JSON error shape, counter unchanged', async (t) => {
  await refused(t, 'POST / HTTP/1.1\r\nHost: localhost\r\n', 408, /^request_timeout$/, { waitMs: 4000 });
});

test.serial(
  'a flood of malformed requests is logged at a bounded rate, and later lines count those left out',
  async (t) => {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const mark = t.context.lines.length;
    const clientErrors = () => t.context.lines.slice(mark).filter((line) => line.message === 'client error');
    const started = Date.now();
    await Promise.all(Array.from({ length: 60 }, () => exchange(t.context.app.port, 'BAD\r\n\r\n', { waitMs: 2000 })));
    const seconds = (Date.now() - started) / 1000;
    const duringFlood = clientErrors().length;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await exchange(t.context.app.port, 'BAD\r\n\r\n', { waitMs: 2000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = clientErrors();
    // A burst of 10 lines, then 10 per second.
    t.true(duringFlood <= 10 + Math.ceil(seconds * 10) + 1, `logged ${duringFlood} of 60 in ${seconds} s`);
    t.true(duringFlood < 60);
    t.is(
      lines.reduce((sum, line) => sum + 1 + (line.suppressed as number), 0),
      61,
      'every refusal is either logged or counted on a later line',
    );
  },
);

const lenient: [string, string, number, RegExp][] = [
  [
    'two Host headers',
    'POST / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nContent-Length: 0\r\n\r\n',
    400,
    /^bad_request$/,
  ],
  ['HTTP/1.1 without Host', 'POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n', 400, /^bad_request$/],
  ['an invalid Host value', 'POST / HTTP/1.1\r\nHost: a b/c\r\nContent-Length: 0\r\n\r\n', 400, /^bad_request$/],
  ['POST //', 'POST // HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n', 404, /^not_found$/],
  ['GET /HEALTHZ', 'GET /HEALTHZ HTTP/1.1\r\nHost: localhost\r\n\r\n', 404, /^not_found$/],
  ['GET /healthz/', 'GET /healthz/ HTTP/1.1\r\nHost: localhost\r\n\r\n', 404, /^not_found$/],
  ['GET /Readyz', 'GET /Readyz HTTP/1.1\r\nHost: localhost\r\n\r\n', 404, /^not_found$/],
  [
    'invalid JSON labelled text/json',
    'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/json\r\nContent-Length: 5\r\n\r\n{"a":',
    400,
    /^invalid_json$/,
  ],
];
for (const [title, bytes, status, code] of lenient) {
  test.serial(`strict parsing and routing: ${title} → ${status}, counter unchanged`, async (t) => {
    await refused(t, bytes, status, code);
  });
}

test.serial('strict parsing still accepts HTTP/1.0 without Host, and Host with a port', async (t) => {
  const before = await readCounter(t.context.app.db);
  const old = await exchange(t.context.app.port, 'POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n', { waitMs: 3000 });
  const ported = await exchange(
    t.context.app.port,
    'POST / HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    { waitMs: 3000 },
  );
  t.deepEqual(
    [old, ported].map(({ text }) => parseResponses(text)[0]?.status),
    [200, 200],
  );
  t.is(await readCounter(t.context.app.db), before + 2);
});
