// The database-outage drill, measured: the service (pm2, cluster mode, the
// production defaults: DB_BUDGET_MS 1000, PROBE_INTERVAL_MS 500) under a
// steady open-loop load; the database is stopped for --outage seconds and
// started again. Reports the fraction of 2xx answers (overall and during the
// outage), how long until every worker is exact again with an empty journal,
// whether the database then counts exactly the 2xx answers, and closed-loop
// throughput in degraded mode next to normal mode. The report's parameters
// are the settings the workers actually ran with: the service's own config
// loader applied to the exact environment the workers were given.
// Exits 1 when the database does not end exactly at the 2xx count.
// Usage: npm run bench:outage -- [--outage 10] [--rate 500] [--kill]
//          [--db-budget-ms N] [--probe-interval-ms N] [--request-deadline-ms N]

import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { loadConfig } from '../server/config.js';
import { readCounter } from './lib/counter-db.js';
import {
  build,
  machine,
  root,
  startDatabase,
  startFleet,
  workerGauges,
  type Fleet,
  type WorkerGauges,
} from './lib/fleet.js';

const { values: args } = parseArgs({
  options: {
    outage: { type: 'string', default: '10' },
    rate: { type: 'string', default: '500' },
    before: { type: 'string', default: '5' },
    after: { type: 'string', default: '10' },
    workers: { type: 'string', default: String(os.availableParallelism()) },
    kill: { type: 'boolean', default: false },
    'db-budget-ms': { type: 'string' },
    'probe-interval-ms': { type: 'string' },
    'request-deadline-ms': { type: 'string' },
    /** Where to write the report; bench/results/outage-<time>.json by default. */
    out: { type: 'string' },
    /** Also write the report to docs/bench/<name>/<file> (a committed, citable copy). */
    publish: { type: 'string' },
  },
  strict: true,
});
const outageS = Number(args.outage);
const rate = Number(args.rate);
const beforeS = Number(args.before);
const afterS = Number(args.after);
/** autocannon passes raw header names, in the server's case. */
function consistencyOf(headers: IncomingHttpHeaders | undefined): string {
  const entry = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'counter-consistency');
  return String(entry?.[1] ?? '');
}

const sum = (gauges: WorkerGauges[], key: 'spares' | 'undelivered') => gauges.reduce((a, g) => a + g[key], 0);

/** One POST / on a connection of its own (so the cluster spreads them over the workers). */
function postOnce(url: string): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent: false }, (res) => {
      res.resume();
      res.once('end', resolve);
    });
    req.once('error', () => resolve());
    req.end();
  });
}

/**
 * A closed loop stopped by time leaves requests in flight whose clients are
 * gone; their committed values are held as spares and handed to the next
 * requests without raising the database. Hands them out before the measured
 * window opens, so the window's accounting starts from none.
 */
async function drainSpares(fleet: Fleet): Promise<number> {
  const held = sum(await workerGauges(fleet), 'spares');
  for (let round = 0, left = held; round < 100; round += 1) {
    if (left === 0) return held;
    for (let i = 0; i < 20; i += 1) await postOnce(fleet.url);
    left = sum(await workerGauges(fleet), 'spares');
  }
  throw new Error('the workers still hold spare values after 2,000 requests');
}

async function untilExact(fleet: Fleet, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const gauges = await workerGauges(fleet);
    if (gauges.every((g) => g.degraded === 0 && g.pending === 0)) return Date.now() - started;
    await sleep(50);
  }
  return Number.NaN;
}

async function closedLoop(fleet: Fleet, seconds: number): Promise<{ rps: number; ok: number; other: number }> {
  let ok = 0;
  let other = 0;
  const result = await autocannon({
    url: fleet.url,
    method: 'POST',
    connections: 50,
    duration: seconds,
    requests: [{ method: 'POST', onResponse: (status: number) => void (status === 200 ? (ok += 1) : (other += 1)) }],
  });
  return { rps: Math.round(result.requests.total / result.duration), ok, other };
}

build();
const database = await startDatabase();
const url = await database.createDatabase('outage');
const overrides: Record<string, string> = {
  ...(args['db-budget-ms'] === undefined ? {} : { DB_BUDGET_MS: args['db-budget-ms'] }),
  ...(args['probe-interval-ms'] === undefined ? {} : { PROBE_INTERVAL_MS: args['probe-interval-ms'] }),
  ...(args['request-deadline-ms'] === undefined ? {} : { REQUEST_DEADLINE_MS: args['request-deadline-ms'] }),
};
const fleetEnv = { DATABASE_URL: url, ...overrides };
// What the workers load from that environment (fails here, before the run, on a bad value).
const effective = loadConfig({ ...fleetEnv, JOURNAL_DIR: '/unused' });
const fleet = await startFleet(fleetEnv, Number(args.workers));
try {
  const normal = await closedLoop(fleet, 5);
  await sleep(2000);

  // Steady open-loop load across the outage. A fixed number of requests at a
  // fixed rate, so every answer is received and counted.
  const sparesBeforeWindow = await drainSpares(fleet);
  const undeliveredAtStart = sum(await workerGauges(fleet), 'undelivered');
  const start = await readCounter(url);
  const events: { at: number; status: number; consistency: string }[] = [];
  const t0 = Date.now();
  const loadDone = autocannon({
    url: fleet.url,
    method: 'POST',
    connections: 50,
    overallRate: rate,
    amount: rate * (beforeS + outageS + afterS),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        onResponse: (status: number, _body: string, _context: object, headers: IncomingHttpHeaders | undefined) =>
          void events.push({ at: Date.now() - t0, status, consistency: consistencyOf(headers) }),
      },
    ],
  });
  await sleep(beforeS * 1000);
  const downAt = Date.now() - t0;
  await (args.kill ? database.cluster.crash() : database.cluster.stop());
  await sleep(outageS * 1000);
  await database.cluster.start();
  const upAt = Date.now() - t0;
  const exactAfterMs = await untilExact(fleet, 60_000);
  const steady = await loadDone;
  const settleMs = await untilExact(fleet, 60_000);
  const end = await readCounter(url);
  const atEnd = await workerGauges(fleet);
  // Every value the database gained in the window went to a 2xx the run
  // received, to a request whose response was not delivered, or is held as a
  // spare for the next request.
  const sparesAtEnd = sum(atEnd, 'spares');
  const undeliveredInWindow = sum(atEnd, 'undelivered') - undeliveredAtStart;

  const during = events.filter((e) => e.at >= downAt && e.at <= upAt);
  const ok = events.filter((e) => e.status === 200).length;
  const deliberate = events.filter((e) => e.status === 503).length;
  const provisional = events.filter((e) => e.consistency === 'provisional').length;

  // Closed-loop throughput with the database down (degraded), then converge.
  await database.cluster.stop();
  await sleep(1500);
  const degraded = await closedLoop(fleet, 5);
  await database.cluster.start();
  const degradedConvergeMs = await untilExact(fleet, 60_000);

  const report = {
    kind: 'outage',
    machine: machine(),
    parameters: {
      outageSeconds: outageS,
      how: args.kill ? 'SIGKILL of every database process' : 'fast shutdown',
      rate,
      beforeSeconds: beforeS,
      afterSeconds: afterS,
      workers: Number(args.workers),
      load: { tool: 'autocannon overallRate (open loop, fixed count)', connections: 50, timeoutSeconds: 10 },
      environment: overrides,
      service: {
        allocator: effective.allocator,
        degradedMode: effective.degradedMode,
        requestDeadlineMs: effective.requestDeadlineMs,
        dbBudgetMs: effective.dbBudgetMs,
        probeIntervalMs: effective.probeIntervalMs,
        maxBatch: effective.maxBatch,
        dbPoolSize: effective.db.poolSize,
        dbQueryTimeoutMs: effective.db.queryTimeoutMs,
        journalReplayChunk: effective.journalReplayChunk,
      },
    },
    steady: {
      requests: events.length + steady.errors,
      ok,
      deliberate503: deliberate,
      transportErrors: steady.errors,
      provisional,
      fraction2xx: ok / Math.max(1, events.length + steady.errors),
      fraction2xxDuringOutage: during.filter((e) => e.status === 200).length / Math.max(1, during.length),
      exactAgainMsAfterDatabaseUp: exactAfterMs,
      databaseIncrement: end - start,
      /** Spares left by the closed-loop phase, handed out before the window opened. */
      sparesBeforeWindow,
      sparesAtEnd,
      undeliveredInWindow,
      exact: end - start === ok + sparesAtEnd + undeliveredInWindow && steady.errors === 0,
      settleMsAfterLoad: settleMs,
    },
    throughput: {
      normalRps: normal.rps,
      degradedRps: degraded.rps,
      ratio: degraded.rps / normal.rps,
      degraded2xx: degraded.ok,
      degradedOther: degraded.other,
      convergeMsAfterDegradedRun: degradedConvergeMs,
    },
  };
  const file =
    args.out === undefined
      ? path.join(root, 'bench', 'results', `outage-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
      : path.resolve(args.out);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
  console.log(`written to ${path.relative(root, file)}`);
  if (args.publish !== undefined) {
    const published = path.join(root, 'docs', 'bench', args.publish);
    mkdirSync(published, { recursive: true });
    const copy = path.join(published, `outage-${args.kill ? 'kill' : 'shutdown'}-${rate}.json`);
    writeFileSync(
      copy,
      `${JSON.stringify(report, null, 2)}
`,
    );
    console.log(`published to ${path.relative(root, copy)}`);
  }
  if (!report.steady.exact) {
    console.error(
      'CORRECTNESS FAILED: the database increase is not the 2xx answers plus the values undelivered or held as spares',
    );
    process.exitCode = 1;
  }
} finally {
  await fleet.stop();
  await database.destroy();
}
