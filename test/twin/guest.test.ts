// The twin's stand-in for the guest environment's metadata script runner:
// a metadata server that is not reachable yet (a VM's network coming up) is
// waited for, not read as "no startup script"; a 404 is "no script"; a
// server that never answers fails the unit loudly. Found by a test:twin run
// where one instance of three booted without its configuration and never
// became healthy.

import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs/promises';
import test from 'ava';
import { freePort } from '../../server/local/postgres.js';
import { RUNNER } from '../../twin/guest.js';

interface Run {
  readonly code: number | null;
  readonly output: string;
}

async function runner(metadataUrl: string, waitS: number, kind = 'startup'): Promise<Run> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'twin-runner-'));
  const file = path.join(dir, 'runner.sh');
  await fs.writeFile(file, RUNNER, { mode: 0o755 });
  try {
    return await new Promise<Run>((resolve) => {
      const child = spawn('bash', [file, kind], {
        env: { ...process.env, TWIN_METADATA_URL: metadataUrl, TWIN_METADATA_WAIT_S: String(waitS) },
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const kill = setTimeout(() => child.kill('SIGKILL'), (waitS + 20) * 1000);
      child.on('close', (code) => {
        clearTimeout(kill);
        resolve({ code, output });
      });
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function metadataServer(scripts: Record<string, string>): http.Server {
  return http.createServer((req, res) => {
    const name = req.url?.split('/').pop() ?? '';
    const body = scripts[name];
    if (req.headers['metadata-flavor'] !== 'Google') res.writeHead(403).end();
    else if (body === undefined) res.writeHead(404).end('not found');
    else res.writeHead(200, { 'Content-Type': 'text/plain' }).end(body);
  });
}

test('a metadata server that comes up late is waited for, and the script runs', async (t) => {
  const port = await freePort();
  const server = metadataServer({ 'startup-script': 'echo "startup ran"\n' });
  const late = setTimeout(() => server.listen(port, '127.0.0.1'), 2500);
  try {
    const run = await runner(`http://127.0.0.1:${port}/attrs`, 30);
    t.is(run.code, 0, run.output);
    t.regex(run.output, /startup ran/);
    t.regex(run.output, /startup script finished with exit status 0/);
  } finally {
    clearTimeout(late);
    server.close();
  }
});

test('no script in metadata (404) is not an error', async (t) => {
  const server = metadataServer({});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const run = await runner(`http://127.0.0.1:${port}/attrs`, 30, 'shutdown');
    t.is(run.code, 0, run.output);
    t.regex(run.output, /no shutdown-script in metadata/);
  } finally {
    server.close();
  }
});

test('a metadata server that never answers fails the unit within the bound', async (t) => {
  const port = await freePort();
  const started = Date.now();
  const run = await runner(`http://127.0.0.1:${port}/attrs`, 3);
  t.not(run.code, 0, run.output);
  t.regex(run.output, /metadata server did not answer/);
  t.true(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
});
