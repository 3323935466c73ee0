// The local HTTPS listener offers only forward-secret AEAD suites: TLS 1.3,
// or TLS 1.2 with ECDHE and GCM/ChaCha20. Production TLS ends at the load
// balancer; `npm start` should not teach bad habits either.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import { createServer, listen } from '../../../server/http/servers.js';
import { createWarmUp } from '../../../server/http/warm-up.js';
import { captureLog } from '../../helpers/app.js';

const test = anyTest as TestFn<{
  server: http.Server;
  port: number;
  dir: string;
  tls: { certFile: string; keyFile: string };
}>;

test.before(async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'counter-api-tls-'));
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, algorithm: 'sha256' });
  writeFileSync(path.join(dir, 'key.pem'), pems.private);
  writeFileSync(path.join(dir, 'cert.pem'), pems.cert);
  const spec = {
    port: 0,
    host: '127.0.0.1',
    tls: { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') },
  };
  const server = createServer((_req, res) => res.end('ok'), spec, {
    keepAliveTimeoutMs: 5000,
    headersTimeoutMs: 2000,
    requestTimeoutMs: 2000,
  });
  t.context = { server, port: await listen(server, spec), dir, tls: spec.tls };
});

test.after.always((t) => {
  t.context.server?.closeAllConnections();
  t.context.server?.close();
  if (t.context.dir !== undefined) rmSync(t.context.dir, { recursive: true, force: true });
});

/** Attempts a handshake; resolves to the negotiated protocol and cipher, or the error code. */
function handshake(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...options }, () => {
      resolve(`${socket.getProtocol()} ${socket.getCipher().name}`);
      socket.destroy();
    });
    socket.once('error', (error: Error & { code?: string }) => resolve(`refused ${error.code ?? error.message}`));
  });
}

const tls12 = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;

const refused: [string, tls.ConnectionOptions][] = [
  ['RSA key exchange with AES-CBC and SHA-1 (AES128-SHA)', { ...tls12, ciphers: 'AES128-SHA' }],
  ['RSA key exchange with AES-GCM (no forward secrecy)', { ...tls12, ciphers: 'AES128-GCM-SHA256:AES256-GCM-SHA384' }],
  ['ECDHE with AES-CBC and SHA-1', { ...tls12, ciphers: 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA' }],
  ['ECDHE with AES-CBC and SHA-2', { ...tls12, ciphers: 'ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384' }],
  ['DHE with AES-GCM', { ...tls12, ciphers: 'DHE-RSA-AES128-GCM-SHA256' }],
  ['TLS 1.1', { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }],
];
for (const [title, options] of refused) {
  test(`HTTPS refuses ${title}`, async (t) => {
    t.regex(await handshake(t.context.port, options), /^refused/);
  });
}

test('HTTPS offers TLS 1.3, and TLS 1.2 with ECDHE and an AEAD cipher', async (t) => {
  t.regex(await handshake(t.context.port, {}), /^TLSv1\.3 TLS_AES_/);
  t.is(
    await handshake(t.context.port, { ...tls12, ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }),
    'TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256',
  );
  t.is(
    await handshake(t.context.port, { ...tls12, ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' }),
    'TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305',
  );
  t.regex(await handshake(t.context.port, tls12), /^TLSv1\.2 ECDHE-RSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
});

test('the warm-up drives the HTTPS path too when the listener has a certificate', async (t) => {
  // A stand-in pool: this test is about the TLS path, not the database.
  const query = <R>() => Promise.resolve<R[]>([]);
  const db = { session: <T>(fn: (s: { query: typeof query }) => Promise<T>) => fn({ query }) };
  const { log, lines } = captureLog();
  const timeouts = { keepAliveTimeoutMs: 5000, headersTimeoutMs: 2000, requestTimeoutMs: 2000 };
  const report = await createWarmUp({ budgetMs: 500, db, poolSize: 2, log, timeouts }).run(t.context.tls);
  t.true(report.secureRequests > 0);
  t.is(report.poolConnections, 2);
  t.deepEqual(
    lines.filter((line) => line.severity !== 'INFO'),
    [],
  );
});
