// What a request's log line says about where it came from and what it was:
// X-Forwarded-For believed only from trusted proxies and only when it is an
// IP; our own request id with the client's kept apart; the load balancer's
// trace linked; client-controlled strings truncated.

import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { clientAddress, GOOGLE_FRONT_ENDS } from '../../../server/http/client-address.js';
import { traceFields } from '../../../server/http/trace-context.js';
import { loadConfig } from '../../../server/config.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { captureLog, startTestApp, type TestApp } from '../../helpers/app.js';
import { exchange } from './raw-socket.js';

interface Context {
  pg: TestPostgres;
  /** Default trust: Google's front ends only. */
  app: TestApp;
  /** Local use: loopback configured as the trusted proxy, with a project for traces. */
  local: TestApp;
  lines: Record<string, unknown>[];
}
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  const pg = await startPostgres();
  const { log, lines } = captureLog();
  const url = await pg.freshDatabase();
  const app = await startTestApp(url, {}, undefined, { log });
  const local = await startTestApp(
    url,
    { TRUSTED_PROXY_RANGES: '127.0.0.0/8,::1/128', GOOGLE_CLOUD_PROJECT: 'my-project' },
    undefined,
    { log },
  );
  t.context = { pg, app, local, lines };
});

test.after.always(async (t) => {
  await t.context.app?.close();
  await t.context.local?.close();
  await t.context.pg?.destroy();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Sends one request and returns its request log line. */
async function logged(t: ExecutionContext<Context>, app: TestApp, head: string): Promise<Record<string, unknown>> {
  const mark = t.context.lines.length;
  const { text } = await exchange(app.port, `${head}Connection: close\r\n\r\n`, { waitMs: 3000 });
  const id = /X-Request-Id: (\S+)/i.exec(text)?.[1];
  await new Promise((resolve) => setTimeout(resolve, 30));
  const line = t.context.lines.slice(mark).find((l) => l.requestId === id && l.message === 'request');
  t.truthy(line, `no log line for ${id}: ${text.slice(0, 80)}`);
  return line ?? {};
}

const remoteIp = (line: Record<string, unknown>) => (line.httpRequest as { remoteIp?: string }).remoteIp;

test.serial('X-Forwarded-For from an untrusted peer (loopback by default) is ignored', async (t) => {
  const line = await logged(t, t.context.app, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\n');
  t.is(remoteIp(line), '127.0.0.1');
});

test.serial('from a trusted proxy, the client is the entry the proxy appended, and must be an IP', async (t) => {
  const chain = await logged(
    t,
    t.context.local,
    'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.7, 34.1.2.3\r\n',
  );
  const garbage = await logged(
    t,
    t.context.local,
    'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: <script>, 34.1.2.3\r\n',
  );
  const single = await logged(t, t.context.local, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: evil\r\n');
  t.is(remoteIp(chain), '203.0.113.7');
  t.is(remoteIp(garbage), '127.0.0.1');
  t.is(remoteIp(single), '127.0.0.1');
});

test.serial('the log carries our request id, the client X-Request-Id apart, and the trace', async (t) => {
  const head =
    'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n' +
    'X-Cloud-Trace-Context: 105445AA7843BC8BF206B12000100000/1234567890123;o=1\r\n';
  const line = await logged(t, t.context.local, head);
  const again = await logged(t, t.context.local, head);
  t.regex(line.requestId as string, UUID);
  t.not(line.requestId, again.requestId);
  t.is(line.clientRequestId, 'abc-123');
  t.is(line['logging.googleapis.com/trace'], 'projects/my-project/traces/105445aa7843bc8bf206b12000100000');
  t.is(line['logging.googleapis.com/spanId'], (1234567890123).toString(16).padStart(16, '0'));
  t.is(line['logging.googleapis.com/trace_sampled'], true);
  const noProject = await logged(t, t.context.app, head);
  t.is(noProject['logging.googleapis.com/trace'], undefined);
});

test.serial('an unsafe client X-Request-Id is not logged', async (t) => {
  const line = await logged(
    t,
    t.context.app,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${'a'.repeat(200)}\r\n`,
  );
  t.is(line.clientRequestId, undefined);
  t.regex(line.requestId as string, UUID);
});

test.serial('a 15 KB User-Agent and a 15 KB URL are truncated in the log line', async (t) => {
  const agent = await logged(
    t,
    t.context.app,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: ${'u'.repeat(15_000)}\r\n`,
  );
  const url = await logged(t, t.context.app, `GET /${'p'.repeat(15_000)} HTTP/1.1\r\nHost: x\r\n`);
  const userAgent = (agent.httpRequest as { userAgent: string }).userAgent;
  const requestUrl = (url.httpRequest as { requestUrl: string }).requestUrl;
  t.true(userAgent.length <= 300, `${userAgent.length}`);
  t.true(userAgent.endsWith('…(15000 chars)'));
  t.true(requestUrl.length <= 1100, `${requestUrl.length}`);
  t.true(requestUrl.endsWith('…(15001 chars)'));
  t.true(JSON.stringify(url).length < 4000, 'the whole line is bounded');
});

test('clientAddress: only trusted peers, the configured hop, IPv4-mapped peers, IPv6', (t) => {
  const google = clientAddress({ trustedProxyRanges: GOOGLE_FRONT_ENDS, forwardedForHops: 2 });
  t.is(google('35.191.3.4', '9.9.9.9, 198.51.100.1, 34.120.0.1'), '198.51.100.1');
  t.is(google('::ffff:130.211.0.9', '2001:db8::1, 34.120.0.1'), '2001:db8::1');
  t.is(google('130.211.4.1', '198.51.100.1, 34.120.0.1'), '130.211.4.1', '130.211.4.0 is outside /22');
  t.is(google('10.0.0.1', '198.51.100.1, 34.120.0.1'), '10.0.0.1');
  t.is(google('35.191.3.4', undefined), '35.191.3.4');
  t.is(google('35.191.3.4', '1.2.3.4.5, 34.120.0.1'), '35.191.3.4');
  const haproxy = clientAddress({ trustedProxyRanges: ['127.0.0.0/8'], forwardedForHops: 1 });
  t.is(haproxy('127.0.0.1', 'spoofed, 192.0.2.5'), '192.0.2.5');
});

test('traceFields: malformed headers and an all-zero trace id add nothing', (t) => {
  t.deepEqual(traceFields('nothex/1;o=1', 'p'), {});
  t.deepEqual(traceFields('00000000000000000000000000000000/1;o=1', 'p'), {});
  t.deepEqual(traceFields('105445aa7843bc8bf206b12000100000', 'p'), {
    'logging.googleapis.com/trace': 'projects/p/traces/105445aa7843bc8bf206b12000100000',
  });
  t.deepEqual(traceFields('105445aa7843bc8bf206b12000100000/99999999999999999999;o=0', 'p'), {
    'logging.googleapis.com/trace': 'projects/p/traces/105445aa7843bc8bf206b12000100000',
    'logging.googleapis.com/trace_sampled': false,
  });
});

test('config: TRUSTED_PROXY_RANGES defaults to Google front ends, takes CIDR lists or none, and rejects the rest', (t) => {
  const base = { DATABASE_URL: 'postgres://x@localhost/db' };
  t.deepEqual(loadConfig(base).trustedProxyRanges, ['35.191.0.0/16', '130.211.0.0/22']);
  t.deepEqual(loadConfig({ ...base, TRUSTED_PROXY_RANGES: 'none' }).trustedProxyRanges, []);
  t.deepEqual(loadConfig({ ...base, TRUSTED_PROXY_RANGES: '127.0.0.0/8, ::1/128' }).trustedProxyRanges, [
    '127.0.0.0/8',
    '::1/128',
  ]);
  for (const bad of ['127.0.0.1', '10.0.0.0/33', 'loopback', '::1/129']) {
    t.throws(() => loadConfig({ ...base, TRUSTED_PROXY_RANGES: bad }), { message: /TRUSTED_PROXY_RANGES/ });
  }
});
