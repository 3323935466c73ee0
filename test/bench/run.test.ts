// `npm run bench` end to end, small and short: the correctness check decides
// the exit status (a counter that repeats a value, or a database that did not
// grow by the 2xx count, makes the run exit 1; a correct one exits 0), and a
// run against the local service writes its summary, report and charts. Speed
// is not asserted: these runs prove the machinery, not the figures.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { READINESS_CHECK } from '../../terraform/serving-policy.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function bench(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'run.ts'), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A stand-in service: answers POST / with the counter `next()` gives. */
async function fakeService(next: () => Promise<number>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      void next().then((counter) => {
        response.writeHead(200, { 'content-type': 'application/json', 'counter-consistency': 'exact' });
        response.end(JSON.stringify({ counter, message: 'Hello world' }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const tiny = ['--steps', '20', '--max-rate', '20', '--duration', '1', '--warmup', '0', '--repetitions', '1'];

let postgres: TestPostgres;
test.before(async () => {
  postgres = await startPostgres();
});
test.after.always(async () => {
  await postgres?.destroy();
});

async function counterDatabase(): Promise<{ url: string; pool: pg.Pool }> {
  const url = await postgres.freshDatabase();
  await postgres.sql(url, 'CREATE TABLE counter (id int PRIMARY KEY, value bigint NOT NULL)');
  await postgres.sql(url, 'INSERT INTO counter VALUES (1, 100)');
  return { url, pool: new pg.Pool({ connectionString: url, max: 4 }) };
}

test.serial('bench: a counter that hands out a value twice makes the run exit 1', async (t) => {
  t.timeout(200_000);
  let n = 0;
  const service = await fakeService(() => Promise.resolve((n += 1) % 7 === 0 ? 1 : n));
  t.teardown(service.close);
  const out = mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const run = await bench(['--target', service.url, ...tiny, '--out', out], 150_000);
  t.is(run.code, 1, run.stderr);
  t.regex(run.stderr, /CORRECTNESS FAILED .*values handed out more than once/);
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as {
    correctness: { ok: boolean }[];
  };
  t.false(summary.correctness[0]?.ok);
});

test.serial('bench: a counter whose database did not grow by the 2xx count makes the run exit 1', async (t) => {
  t.timeout(200_000);
  const { url, pool } = await counterDatabase();
  t.teardown(() => pool.end());
  let n = 100;
  // Unique values, but every tenth answer is not written to the database.
  const service = await fakeService(async () => {
    n += 1;
    if (n % 10 === 0) return n;
    await pool.query('UPDATE counter SET value = $1 WHERE id = 1', [n]);
    return n;
  });
  t.teardown(service.close);
  const run = await bench(['--target', service.url, '--database-url', url, ...tiny, '--out', tempDir(t)], 60_000);
  t.is(run.code, 1, run.stderr);
  t.regex(run.stderr, /CORRECTNESS FAILED .*database \+\d+ but 20 2xx answers/);
});

test.serial('bench: a correct database-backed counter passes the same check and exits 0', async (t) => {
  t.timeout(200_000);
  const { url, pool } = await counterDatabase();
  t.teardown(() => pool.end());
  const service = await fakeService(async () => {
    const rows = await pool.query<{ value: string }>(
      'UPDATE counter SET value = value + 1 WHERE id = 1 RETURNING value',
    );
    return Number(rows.rows[0]?.value);
  });
  t.teardown(service.close);
  const run = await bench(['--target', service.url, '--database-url', url, ...tiny, '--out', tempDir(t)], 60_000);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /ok: 20 2xx answers, exact values unique, database \+20/);
});

test.serial(
  'bench: a short run against the local service and two baselines writes summary, report and charts',
  async (t) => {
    t.timeout(300_000);
    const out = mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    const run = await bench(
      [
        '--series',
        'coalescing,constant,floor,naive-commit-delay',
        '--steps',
        '20,40',
        '--max-rate',
        '40',
        '--duration',
        '1',
        '--warmup',
        '0.5',
        '--repetitions',
        '1',
        '--refine',
        '0',
        '--cold-start-rate',
        '100',
        '--cold-start-duration',
        '1',
        '--cold-start-repetitions',
        '2',
        '--objective-p99-ms',
        '60000',
        '--objective-errors',
        '1',
        '--out',
        out,
      ],
      280_000,
    );
    t.is(run.code, 0, run.stderr);
    for (const file of ['summary.json', 'report.md', 'raw.json', 'latency.svg', 'throughput.svg', 'cold-start.svg'])
      t.true(existsSync(path.join(out, file)), file);
    t.regex(readFileSync(path.join(out, 'latency.svg'), 'utf8'), /^<svg /);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as {
      machine: { commit: string; node: string };
      steps: { series: string; rate: number }[];
      correctness: { name: string; ok: boolean; answers2xx: number; databaseIncrease: number }[];
      parameters: { commitMs: { local: number; modeled: number } };
      coldStart: { from: string; readyToRotationMs: number; latencyMs: { count: number; p99: number } };
      coldStartRepetitions: { readyToRotationMs: number; p99: number }[];
    };
    t.is(summary.machine.node, process.version);
    t.deepEqual(
      summary.steps.map((s) => `${s.series}@${s.rate}`),
      [
        'coalescing@20',
        'coalescing@40',
        'constant@20',
        'constant@40',
        'floor@20',
        'floor@40',
        'naive-commit-delay@20',
        'naive-commit-delay@40',
      ],
    );
    t.deepEqual(
      summary.correctness.map((c) => [c.name, c.ok]),
      [
        ['coalescing', true],
        ['floor', true],
        ['naive-commit-delay', true],
        ['cold start 1', true],
        ['cold start 2', true],
      ],
    );
    // 30 + 60 requests per series, every one answered 2xx and counted once;
    // the floor has no database, its 90 values are checked for repeats only.
    const byName = new Map(summary.correctness.map((c) => [c.name, c]));
    for (const name of ['coalescing', 'naive-commit-delay']) {
      t.is(byName.get(name)?.answers2xx, 90, name);
      t.is(byName.get(name)?.databaseIncrease, 90, name);
    }
    t.is(byName.get('floor')?.answers2xx, 90);
    // The modeled commit is at least the 2 ms default.
    t.true(summary.parameters.commitMs.modeled >= 2, JSON.stringify(summary.parameters.commitMs));
    t.regex(readFileSync(path.join(out, 'report.md'), 'utf8'), /\| coalescing \| 40 \|/);
    // The cold start begins its load when the load balancer's readiness check
    // would put the instance in rotation: healthyThreshold 200s, an interval apart.
    const rule = READINESS_CHECK.checkIntervalSec * 1000 * (READINESS_CHECK.healthyThreshold - 1);
    t.is(summary.coldStart.from, 'rotation');
    t.is(summary.coldStartRepetitions.length, 2);
    for (const c of summary.coldStartRepetitions) {
      t.true(c.readyToRotationMs >= rule, String(c.readyToRotationMs));
      t.true(c.readyToRotationMs < rule + 3000, String(c.readyToRotationMs));
    }
    t.true(summary.coldStartRepetitions.some((c) => c.p99 === summary.coldStart.latencyMs.p99));
    t.is(summary.coldStart.latencyMs.count, 100);
    const report = readFileSync(path.join(out, 'report.md'), 'utf8');
    t.regex(report, /in rotation/);
    t.regex(report, /2 fresh starts/);
  },
);
