// Saturation throughput of POST / (closed loop, autocannon -m POST -c 50) for
// three counters in one run, on the same machine, database and app:
//   constant   — no database at all: the ceiling set by HTTP, helmet, logging;
//   coalescing — the production allocator (one statement per batch);
//   naive      — one UPDATE ... + 1 per request.
// Every run also checks correctness: the counters received are unique and
// contiguous and the database counts exactly the 2xx answers.
// Kinds are interleaved over several rounds (constant, coalescing, naive,
// constant, …) so that drift in the machine's load hits them all alike; the
// summary is the median round of each.
// Usage: npm run bench -- [--duration 10] [--connections 50] [--workers N] [--rounds 3]

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { build, cpuSeconds, machine, root, startDatabase, startFleet } from './lib/fleet.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    workers: { type: 'string', default: String(os.availableParallelism()) },
    only: { type: 'string' },
    rounds: { type: 'string', default: '3' },
  },
});
const duration = Number(args.duration);
const connections = Number(args.connections);
const workers = Number(args.workers);
const kinds = (args.only?.split(',') ?? ['constant', 'coalescing', 'naive']) as ('constant' | 'coalescing' | 'naive')[];

interface Row {
  counter: string;
  requestsPerSecond: number;
  latencyP50ms: number;
  latencyP99ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  cpuMicrosPerRequest: { app: number; db: number; load: number; total: number };
  correctness: string;
}

async function measure(kind: string, databaseUrl: string): Promise<Row> {
  const fleet = await startFleet(
    { DATABASE_URL: databaseUrl, COUNTER_ALLOCATOR: kind, DB_POOL_SIZE: kind === 'naive' ? '20' : '4' },
    workers,
  );
  try {
    // Warm up for a while, then size the measured run from the warm-up rate.
    // The measured run sends a fixed number of requests (not a duration), so
    // every answer is received and checked: a duration run drops responses
    // in flight at the cut-off, and those would look like missing values.
    const warm = await autocannon({ url: fleet.url, method: 'POST', connections, duration: Number(args.warmup) });
    await new Promise((r) => setTimeout(r, 1000));
    const amount = Math.max(connections * 20, Math.round(warm.requests.average * duration));
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const before =
      kind === 'constant'
        ? 0
        : Number((await client.query<{ value: string }>('SELECT value FROM counter')).rows[0]?.value);
    const counters: number[] = [];
    const cpuBefore = cpuSeconds();
    const result = await autocannon({
      url: fleet.url,
      method: 'POST',
      connections,
      amount,
      requests: [
        {
          method: 'POST',
          onResponse: (status: number, body: string) =>
            void (status === 200 && counters.push((JSON.parse(body) as { counter: number }).counter)),
        },
      ],
    });
    const cpuAfter = cpuSeconds();
    const per = (k: 'app' | 'db' | 'load') => Math.round(((cpuAfter[k] - cpuBefore[k]) / result.requests.total) * 1e6);
    const cpu = { app: per('app'), db: per('db'), load: per('load'), total: per('app') + per('db') + per('load') };
    let correctness = 'not applicable';
    if (kind !== 'constant') {
      const after = Number((await client.query<{ value: string }>('SELECT value FROM counter')).rows[0]?.value);
      counters.sort((a, b) => a - b);
      const contiguous = counters.every((v, i) => v === before + 1 + i);
      correctness =
        contiguous && after - before === counters.length
          ? `ok: ${counters.length} values, unique and contiguous, database +${after - before}`
          : `FAILED: database +${after - before}, ${counters.length} answers, contiguous=${contiguous}`;
    }
    await client.end();
    return {
      counter: kind,
      requestsPerSecond: Math.round(result.requests.total / (result.duration || 1)),
      latencyP50ms: result.latency.p50,
      latencyP99ms: result.latency.p99,
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      cpuMicrosPerRequest: cpu,
      correctness,
    };
  } finally {
    await fleet.stop();
  }
}

build();
const database = await startDatabase();
const rounds: Row[][] = [];
try {
  for (let round = 1; round <= Number(args.rounds); round += 1) {
    const rows: Row[] = [];
    for (const kind of kinds) {
      rows.push(await measure(kind, await database.createDatabase(`bench_${kind}`)));
      console.error(`round ${round} ${kind}: ${rows.at(-1)?.requestsPerSecond} req/s`);
    }
    rounds.push(rows);
  }
} finally {
  await database.destroy();
}
const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const median = (kind: string): Row => {
  const runs = rounds
    .map((rows) => rows.find((r) => r.counter === kind) as Row)
    .sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  return runs[Math.floor(runs.length / 2)] as Row;
};
const rows = kinds.map(median);
const report = {
  kind: 'throughput',
  machine: machine(),
  rounds,
  parameters: {
    rounds: Number(args.rounds),
    tool: 'autocannon (closed loop)',
    method: 'POST',
    connections,
    targetSeconds: duration,
    warmupSeconds: Number(args.warmup),
    workers,
    logging: 'on (every request)',
    helmet: 'on',
  },
  rows,
};
const dir = path.join(root, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `throughput-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
const coalescing = rows.find((r) => r.counter === 'coalescing')?.requestsPerSecond;
console.log(
  `| counter | req/s (median) | vs coalescing | p50 ms | p99 ms | CPU µs/request: app + db + load = total (median) | non-2xx | errors | correctness |\n|---|---|---|---|---|---|---|---|---|`,
);
for (const r of rows) {
  const ratio = coalescing === undefined ? '' : `${(r.requestsPerSecond / coalescing).toFixed(2)}×`;
  const cpu = (k: 'app' | 'db' | 'load' | 'total') =>
    medianOf(rounds.map((rs) => rs.find((x) => x.counter === r.counter)?.cpuMicrosPerRequest[k] ?? 0));
  console.log(
    `| ${r.counter} | ${r.requestsPerSecond} | ${ratio} | ${r.latencyP50ms} | ${r.latencyP99ms} | ${cpu('app')} + ${cpu('db')} + ${cpu('load')} = ${cpu('total')} | ${r.non2xx} | ${r.errors} | ${r.correctness} |`,
  );
}
for (const kind of kinds)
  console.log(
    `${kind}: ${rounds.map((rs) => rs.find((r) => r.counter === kind)?.requestsPerSecond).join(', ')} req/s over ${rounds.length} rounds`,
  );
const failed = rounds.flat().filter((r) => r.correctness.startsWith('FAILED'));
if (failed.length > 0) console.log(`CORRECTNESS FAILED in ${failed.length} runs`);
console.log(`\n${JSON.stringify(report.machine)}\nwritten to ${path.relative(root, file)}`);
