// `pm2 reload` under load drops no request: the production process file
// (server/ecosystem.config.cjs, cluster mode, wait_ready) runs the compiled
// service; a reload replaces every worker one by one while a steady stream
// of POSTs continues. Every request must get a 200, and the database must
// count exactly the answers.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { freePort } from '../../server/local/postgres.js';
import { contiguityProblem, load, successValues } from '../helpers/load.js';
import { startPostgres } from '../helpers/postgres.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const pm2Bin = path.join(root, 'node_modules', '.bin', 'pm2');

function pm2(env: NodeJS.ProcessEnv, ...args: string[]): string {
  const result = spawnSync(pm2Bin, args, { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`pm2 ${args.join(' ')} failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** Runs pm2 without blocking this process's event loop (the load generator shares it). */
function pm2Async(env: NodeJS.ProcessEnv, ...args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(pm2Bin, args, { cwd: root, env, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function workerPids(env: NodeJS.ProcessEnv): number[] {
  const list = JSON.parse(pm2(env, 'jlist')) as { pid: number; pm2_env: { status: string } }[];
  return list
    .filter((p) => p.pm2_env.status === 'online')
    .map((p) => p.pid)
    .sort();
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

/**
 * Below AVA's own timeout (120 s of silence, which kills the test process
 * before any teardown runs): this one fails the test and runs the teardowns,
 * so the pm2 daemon is killed even when the test hangs.
 */
const TEST_TIMEOUT_MS = 100_000;

test('pm2 reload of every worker under steady load: no failed request, exact count', async (t) => {
  t.timeout(TEST_TIMEOUT_MS, 'pm2 reload test timed out');
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  t.is(build.status, 0, build.stdout + build.stderr);
  const pg = await startPostgres();
  const databaseUrl = await pg.freshDatabase();
  const port = await freePort();
  const home = mkdtempSync(path.join(os.tmpdir(), 'counter-api-pm2-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    PM2_HOME: home,
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    WEB_CONCURRENCY: '2',
    JOURNAL_DIR: path.join(home, 'journal'),
    LOG_LEVEL: 'warn',
  };
  // Should the test process be stopped anyway (AVA's timeout, an interrupt), still kill the daemon.
  const killDaemon = () => {
    spawnSync(pm2Bin, ['kill'], { env, timeout: 30_000 });
    rmSync(home, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killDaemon();
    process.kill(process.pid, signal);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  t.teardown(async () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    killDaemon();
    await pg.destroy();
  });
  pm2(env, 'start', path.join(root, 'server', 'ecosystem.config.cjs'));
  await waitReady(`http://127.0.0.1:${port}/readyz`, 30_000);
  const before = workerPids(env);

  let finished = false;
  const running = load({
    url: `http://127.0.0.1:${port}/`,
    total: 200_000,
    concurrency: 30,
    timeoutMs: 10_000,
    stop: () => finished,
  });
  await new Promise((r) => setTimeout(r, 1500));
  t.is(await pm2Async(env, 'reload', 'counter-api'), 0);
  await new Promise((r) => setTimeout(r, 1500));
  finished = true;
  const outcomes = await running;
  const after = workerPids(env);

  const values = successValues(outcomes);
  const [row] = await pg.sql<{ value: string }>(databaseUrl, 'SELECT value FROM counter');
  t.is(before.length, 2);
  t.is(after.length, 2);
  t.deepEqual(
    after.filter((pid) => before.includes(pid)),
    [],
    'every worker was replaced',
  );
  t.deepEqual(outcomes.filter((o) => o.status !== 200).slice(0, 5), [], 'no request failed during the reload');
  t.is(Number(row?.value), values.length);
  t.is(contiguityProblem(values), undefined);
  t.log(`${outcomes.length} requests across the reload, all 200`);
});
