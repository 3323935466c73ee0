// `npm run bench:outage` end to end, short: the service with two workers, a
// closed-loop phase (whose last requests are cut off when it ends), then open-loop
// load across a database outage. The run must exit 0: the database rose by
// exactly the values the run received, plus what the service reports as
// handed out to clients that had gone.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('bench:outage: a short outage run accounts for every value and exits 0', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-outage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'outage.json');
  const run = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(root, 'bench', 'outage.ts'),
        '--before',
        '1',
        '--outage',
        '2',
        '--after',
        '2',
        '--rate',
        '200',
        '--workers',
        '2',
        '--out',
        out,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), 240_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
  t.is(run.code, 0, run.output.slice(-2000));
  const report = JSON.parse(readFileSync(out, 'utf8')) as {
    steady: {
      requests: number;
      ok: number;
      exact: boolean;
      databaseIncrement: number;
      sparesAtEnd: number;
      undeliveredInWindow: number;
    };
  };
  t.is(report.steady.requests, 1000);
  t.is(report.steady.ok, 1000, 'every request of the outage run answered 2xx');
  t.true(report.steady.exact, JSON.stringify(report.steady));
  // No client of the measured window leaves early, so the database rose by exactly its 2xx answers.
  t.is(report.steady.sparesAtEnd, 0);
  t.is(report.steady.undeliveredInWindow, 0);
  t.is(report.steady.databaseIncrement, 1000);
});
