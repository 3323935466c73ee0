// The twin's load balancer (twin/lb.ts) on loopback: the HAProxy
// configuration the twin generates, a backend added, drained and deleted
// through the runtime API exactly as the MIG controller does, in front of a
// keep-alive HTTP server that records which of its connections carried
// requests. Needs the Debian haproxy and openssl (npm run test:twin).

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { Agent, request } from 'undici';
import { freePort } from '../../../server/local/postgres.js';
import { READINESS_CHECK } from '../../../terraform/serving-policy.js';
import { addBackend, deleteBackend, haproxyConfig, listServers, readEdge } from '../../../twin/lb.js';

const run = promisify(execFile);

interface Backend {
  readonly port: number;
  /** Connections that carried at least one POST, and the POSTs on each. */
  readonly postsPerConnection: Map<Socket, number>;
  close(): Promise<void>;
}

async function startBackend(): Promise<Backend> {
  const postsPerConnection = new Map<Socket, number>();
  const server = http.createServer((req, res) => {
    if (req.method === 'POST') postsPerConnection.set(req.socket, (postsPerConnection.get(req.socket) ?? 0) + 1);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url === READINESS_CHECK.path ? '{"ready":true}' : '{"counter":1}');
    });
  });
  server.keepAliveTimeout = 620_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    postsPerConnection,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('the load balancer reuses its connections to a backend added at run time, and still drains and deletes it', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'twin-lb-'));
  const socket = path.join(dir, 'haproxy.sock');
  const pidFile = path.join(dir, 'haproxy.pid');
  const backend = await startBackend();
  const agent = new Agent({ connections: 1, connect: { rejectUnauthorized: false } });
  t.teardown(async () => {
    await agent.close();
    const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (pid > 0) process.kill(pid, 'SIGTERM');
    await backend.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const key = path.join(dir, 'lb.key');
  const crt = path.join(dir, 'lb.crt');
  await run('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-subj', '/CN=lb.test', '-days', '1', '-keyout', key, '-out', crt],
  ]);
  const certPem = path.join(dir, 'lb.bundle.pem');
  await fs.writeFile(certPem, (await fs.readFile(crt, 'utf8')) + (await fs.readFile(key, 'utf8')));
  const httpsPort = await freePort();
  const config = path.join(dir, 'haproxy.cfg');
  await fs.writeFile(
    config,
    haproxyConfig({
      edge: await readEdge(),
      certPem,
      socket,
      pidFile,
      bindIp: '127.0.0.1',
      httpPort: await freePort(),
      httpsPort,
    }),
  );
  await run('haproxy', ['-c', '-q', '-f', config]);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('haproxy', ['-D', '-f', config], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`haproxy exited ${code}`))));
  });

  // As the MIG does: added DOWN, UP after `rise` passing readiness checks.
  await addBackend('vm-t-1', '127.0.0.1', backend.port, socket);
  const upBy = Date.now() + (READINESS_CHECK.checkIntervalSec * (READINESS_CHECK.healthyThreshold + 1) + 5) * 1000;
  while ((await listServers(socket)).find((s) => s.name === 'vm-t-1')?.status !== 'UP' && Date.now() < upBy) {
    await sleep(250);
  }
  t.is((await listServers(socket)).find((s) => s.name === 'vm-t-1')?.status, 'UP');

  const requests = 20;
  for (let i = 0; i < requests; i++) {
    const res = await request(`https://127.0.0.1:${httpsPort}/`, { method: 'POST', body: '{}', dispatcher: agent });
    await res.body.text();
    t.is(res.statusCode, 200);
  }
  const posts = [...backend.postsPerConnection.values()];
  t.is(
    posts.reduce((a, b) => a + b, 0),
    requests,
  );
  // One client connection's requests travel over one backend connection, as
  // through Google's front ends (before the fix: 20 connections of 1 request).
  t.is(posts.length, 1, `POSTs per backend connection: ${posts.join(', ')}`);
  const server = (await listServers(socket)).find((s) => s.name === 'vm-t-1');
  t.is(server?.connects, 1);
  t.is(server?.reuses, requests - 1);

  // An idle pooled connection must not keep the server from being deleted.
  await deleteBackend('vm-t-1', socket);
  t.is(
    (await listServers(socket)).find((s) => s.name === 'vm-t-1'),
    undefined,
  );
});
