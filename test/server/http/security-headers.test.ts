// The security headers, computed once from helmet at start-up, must be
// exactly what helmet itself sets on a response: same names, same values, the
// same header removed. Checked on real responses from two Express apps, one
// with helmet as a middleware and one with the captured list.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import express from 'express';
import helmet from 'helmet';
import { applySecurityHeaders, captureHelmet } from '../../../server/http/security-headers.js';

async function headersFrom(app: express.Express): Promise<Record<string, string>> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/`);
    await response.arrayBuffer();
    const headers: Record<string, string> = {};
    for (const [name, value] of response.headers) {
      if (!['date', 'connection', 'keep-alive', 'content-length', 'content-type', 'etag'].includes(name)) {
        headers[name] = value;
      }
    }
    return headers;
  } finally {
    server.close();
  }
}

function appWith(middleware: express.RequestHandler): express.Express {
  const app = express();
  app.use(middleware);
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  return app;
}

test('the captured headers equal what helmet sets per request, X-Powered-By included', async (t) => {
  const captured = captureHelmet();
  const fromHelmet = await headersFrom(appWith(helmet()));
  const fromCapture = await headersFrom(
    appWith((_req, res, next) => {
      applySecurityHeaders(captured, res);
      next();
    }),
  );
  t.deepEqual(fromCapture, fromHelmet);
  t.true(Object.keys(fromHelmet).length >= 12, `helmet set ${Object.keys(fromHelmet).length} headers`);
  t.is(fromHelmet['x-powered-by'], undefined);
  t.deepEqual(captured.removed, ['X-Powered-By']);
});

test('options reach the captured headers', (t) => {
  const captured = captureHelmet({ strictTransportSecurity: { maxAge: 63_072_000, preload: true } });
  t.deepEqual(
    captured.set.find(([name]) => name === 'Strict-Transport-Security'),
    ['Strict-Transport-Security', 'max-age=63072000; includeSubDomains; preload'],
  );
});

test('a per-request directive is refused rather than frozen into one value', (t) => {
  let calls = 0;
  const perRequest = () => {
    calls += 1;
    return `'nonce-${calls}'`;
  };
  // Helmet calls directive functions with (req, res); a frozen result would
  // give every response the first request's nonce.
  t.throws(() => captureHelmet({ contentSecurityPolicy: { directives: { scriptSrc: ["'self'", perRequest] } } }), {
    message: /per-request/,
  });
});
