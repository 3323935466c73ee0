// `npm run bench`: open-loop latency from 1 req/s to saturation, for the
// service as `npm start` runs it (one VM's worth: pm2 cluster, real
// PostgreSQL) and, in the same run, for the baselines: the constant counter
// (no database: the ceiling), the naive one-UPDATE-per-request allocator,
// and both allocators again with a modeled Cloud SQL HA commit latency. Or
// against any URL (`--target https://…`), for a run from a separate VM
// against the real load balancer, or from inside the twin's namespace.
// Each step runs every target that still meets the objective, interleaved
// and repeated, so drift in the machine's load hits them alike. Then a cold
// start (a fresh service under load from the moment the load balancer's
// readiness check would put it in rotation, or with --cold-start-from
// first-ok from its first ready /readyz), and with
// --soak a long run at 1,000 req/s for memory. Every value received is
// checked: the run exits 1 if a value repeats or the database's increase is
// not the number of 2xx answers. SIGINT stops the steps early and still
// writes the report of what was measured (marked interrupted).
// Method and results: docs/benchmarks.md.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { renderSvg, coldStartChart, latencyChart, memoryChart, throughputChart } from './lib/charts.js';
import { CounterLedger } from './lib/correctness.js';
import { installCommitDelay, measureCommitMs, readCounter } from './lib/counter-db.js';
import {
  build,
  machine,
  root,
  startDatabase,
  startFleet,
  startFloor,
  untilSettled,
  type Database,
  type Fleet,
} from './lib/fleet.js';
import { runOpenLoop, type OpenLoopResult } from './lib/open-loop.js';
import { DEFAULT_STEPS, ladder, midpoint, summarizeStep, type Objective, type RunRecord } from './lib/plan.js';
import { childrenRssMiB, cpuSecondsOf, postmasterPid } from './lib/procs.js';
import { markdownReport, type Summary, type SeriesSummary, type ColdStart, type Soak } from './lib/report.js';
import { coldStart, soak } from './lib/phases.js';
import { READINESS_CHECK } from '../terraform/serving-policy.js';

const LOCAL_SERIES = [
  'coalescing',
  'constant',
  'floor',
  'naive',
  'naive-commit-delay',
  'coalescing-commit-delay',
] as const;
type LocalSeries = (typeof LOCAL_SERIES)[number];

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    series: { type: 'string' },
    steps: { type: 'string' },
    'max-rate': { type: 'string', default: '64000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    repetitions: { type: 'string', default: '3' },
    refine: { type: 'string', default: '1' },
    'objective-p99-ms': { type: 'string', default: '50' },
    'objective-errors': { type: 'string', default: '0.0001' },
    'commit-delay-ms': { type: 'string', default: '2' },
    'cold-start-rate': { type: 'string', default: '1000' },
    'cold-start-duration': { type: 'string', default: '10' },
    'no-cold-start': { type: 'boolean', default: false },
    'cold-start-from': { type: 'string', default: 'rotation' },
    'cold-start-repetitions': { type: 'string', default: '3' },
    soak: { type: 'string' },
    'soak-rate': { type: 'string', default: '1000' },
    workers: { type: 'string', default: String(os.availableParallelism()) },
    connections: { type: 'string' },
    timeout: { type: 'string', default: '10000' },
    insecure: { type: 'boolean', default: false },
    'database-url': { type: 'string' },
    out: { type: 'string' },
    publish: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
  strict: true,
});

function num(name: keyof typeof args, min = 0): number {
  const raw = args[name];
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(n) || n < min)
    usage(`--${name} must be a number >= ${min} (got ${String(raw)})`);
  return n;
}

const targets = args.target ?? ['local'];
if (targets.includes('twin'))
  usage(
    'the twin is reached from inside its network namespace: ip netns exec <client ns> npm run bench -- --target https://<lb address>/ --insecure',
  );
const urlTargets = targets.filter((t) => t !== 'local');
for (const t of urlTargets)
  if (!/^https?:\/\//.test(t)) usage(`--target must be local, twin or an http(s) URL (got ${t})`);
const localSeries = targets.includes('local') ? ((args.series?.split(',') ?? [...LOCAL_SERIES]) as LocalSeries[]) : [];
for (const s of localSeries)
  if (!LOCAL_SERIES.includes(s)) usage(`unknown series ${s}; known: ${LOCAL_SERIES.join(', ')}`);
const objective: Objective = { p99Ms: num('objective-p99-ms', 0.001), errorRate: num('objective-errors') };
const durationSec = num('duration', 0.1);
const warmupSec = num('warmup');
const repetitions = Math.round(num('repetitions', 1));
const refine = Math.round(num('refine'));
const commitDelayMs = num('commit-delay-ms', 0.001);
const workers = Math.round(num('workers', 1));
const timeoutMs = Math.round(num('timeout', 1));
const connections = args.connections === undefined ? undefined : Math.round(num('connections', 1));
const rates = ladder(args.steps?.split(',').map(Number) ?? DEFAULT_STEPS, num('max-rate', 1));
if (rates.some((r) => !(r > 0))) usage('--steps must be positive numbers');
const coldStartRate = num('cold-start-rate', 1);
const coldStartSec = num('cold-start-duration', 0.1);
const coldStartRepetitions = Math.round(num('cold-start-repetitions', 1));
const coldStartFrom = args['cold-start-from'];
if (coldStartFrom !== 'rotation' && coldStartFrom !== 'first-ok')
  usage(`--cold-start-from must be rotation or first-ok (got ${String(coldStartFrom)})`);
const soakSec = args.soak === undefined ? 0 : num('soak', 1);

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = path.resolve(args.out ?? path.join(root, 'bench', 'results', stamp));
mkdirSync(outDir, { recursive: true });

interface SeriesState {
  readonly name: string;
  readonly description: string;
  readonly url: string;
  readonly databaseUrl?: string;
  readonly fleet?: Fleet;
  readonly ledger: CounterLedger;
  before?: number;
  active: boolean;
  lastPass?: number;
  firstFail?: number;
  runs: RunRecord[];
}

const DESCRIPTIONS: Record<LocalSeries, string> = {
  coalescing: 'the service as `npm start` runs it: coalescing allocator, local PostgreSQL',
  constant: 'no database: the ceiling set by HTTP, helmet and logging',
  floor: 'plain node:http in cluster mode (no Express, helmet, logging, pm2 or database): what these cores give',
  naive: 'one UPDATE per request (pool of 20 per worker)',
  'naive-commit-delay': `naive, with a modeled Cloud SQL HA commit (+${commitDelayMs} ms per commit, row lock held)`,
  'coalescing-commit-delay': `coalescing, with a modeled Cloud SQL HA commit (+${commitDelayMs} ms per commit, row lock held)`,
};

function envOf(kind: LocalSeries, databaseUrl: string): Record<string, string> {
  const allocator = kind.replace('-commit-delay', '');
  return {
    DATABASE_URL: databaseUrl,
    COUNTER_ALLOCATOR: allocator,
    ...(allocator === 'naive' ? { DB_POOL_SIZE: '20' } : {}),
  };
}

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

const machineAtStart = machine();
const startedAt = Date.now();
let database: Database | undefined;
const series: SeriesState[] = [];
const commitMs: { local?: number; modeled?: number } = {};
let coldStartResult: ColdStart | undefined;
let soakResult: Soak | undefined;
const raw: { runs: RunRecord[]; coldStart?: OpenLoopResult; soak?: OpenLoopResult } = { runs: [] };
const bar = new SingleBar({
  format: 'bench {bar} {value}/{total} runs | {label}',
  stream: process.stderr,
  hideCursor: true,
});

async function measure(
  s: SeriesState,
  rate: number,
  repetition: number,
  dbPid: number | undefined,
): Promise<RunRecord> {
  const appBefore = cpuSecondsOf(s.fleet?.child.pid);
  // The database's CPU is charged to the series that use it (not to the floor, nor to a URL target).
  const usesDb = s.fleet !== undefined && s.databaseUrl !== undefined;
  const dbBefore = usesDb ? cpuSecondsOf(dbPid) : 0;
  const wallBefore = performance.now();
  const result = await runOpenLoop({
    url: s.url,
    rate,
    durationSec: warmupSec + durationSec,
    warmupSec,
    timeoutMs,
    connections,
    insecureTls: args.insecure,
    signal: controller.signal,
    onSample: (sample) => s.ledger.add(sample),
  });
  const wall = (performance.now() - wallBefore) / 1000;
  const app = cpuSecondsOf(s.fleet?.child.pid) - appBefore;
  const db = usesDb ? cpuSecondsOf(dbPid) - dbBefore : 0;
  const generator = (result.generator.cpuPercent / 100) * wall;
  const answered = Math.max(1, result.completed);
  const { perSecond: _perSecond, ...rest } = result;
  const record: RunRecord = {
    series: s.name,
    rate,
    repetition,
    result: rest,
    rssMiB: s.fleet === undefined ? [] : childrenRssMiB(s.fleet.child.pid as number),
    cpuPercent: {
      app: Math.round((app / wall) * 1000) / 10,
      db: Math.round((db / wall) * 1000) / 10,
      generator: result.generator.cpuPercent,
    },
    cpuMicrosPerRequest: {
      app: Math.round((app / answered) * 1e6),
      db: Math.round((db / answered) * 1e6),
      generator: Math.round((generator / answered) * 1e6),
    },
    loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
  s.runs.push(record);
  raw.runs.push(record);
  return record;
}

/** Runs one rate for the given series (interleaved, repeated) and returns who met the objective. */
async function step(
  active: SeriesState[],
  rate: number,
  dbPid: number | undefined,
): Promise<Map<SeriesState, boolean>> {
  const byRun = new Map<SeriesState, RunRecord[]>(active.map((s) => [s, []]));
  for (let repetition = 1; repetition <= repetitions; repetition += 1) {
    for (const s of active) {
      if (controller.signal.aborted) break;
      bar.update({ label: `${s.name} at ${rate} req/s (${repetition}/${repetitions})` });
      byRun.get(s)?.push(await measure(s, rate, repetition, dbPid));
      bar.increment();
    }
  }
  return new Map(
    active
      .filter((s) => (byRun.get(s)?.length ?? 0) > 0)
      .map((s) => [s, summarizeStep(byRun.get(s) ?? [], objective).meetsObjective]),
  );
}

let failed = false;
bar.start(1, 0, { label: 'starting' });
try {
  if (localSeries.length > 0) {
    if (!args['no-build']) build();
    database = await startDatabase();
    const db = database;
    // One after the other, each kept as soon as it runs, so a failure stops the ones already started.
    const started: { kind: LocalSeries; databaseUrl: string }[] = [];
    for (const kind of localSeries) {
      bar.update({ label: `starting ${kind}` });
      if (kind === 'floor') {
        const fleet = await startFloor(workers);
        series.push({
          name: kind,
          description: DESCRIPTIONS[kind],
          url: fleet.url,
          fleet,
          ledger: new CounterLedger(),
          active: true,
          runs: [],
        });
        continue;
      }
      const databaseUrl = await db.createDatabase(`bench_${kind.replace(/-/g, '_')}`);
      const fleet = await startFleet(envOf(kind, databaseUrl), workers);
      started.push({ kind, databaseUrl });
      series.push({
        name: kind,
        description: DESCRIPTIONS[kind],
        url: fleet.url,
        databaseUrl,
        fleet,
        ledger: new CounterLedger(),
        active: true,
        runs: [],
      });
    }
    const probe = started[0];
    if (probe !== undefined) commitMs.local = await measureCommitMs(probe.databaseUrl, 200);
    for (const { kind, databaseUrl } of started) {
      if (kind.endsWith('-commit-delay')) {
        await installCommitDelay(databaseUrl, commitDelayMs);
        commitMs.modeled ??= await measureCommitMs(databaseUrl, 100);
      }
    }
  }
  for (const url of urlTargets) {
    series.push({
      name: `url:${new URL(url).host}`,
      description: `${url} (${args['database-url'] === undefined ? 'no database access' : 'database checked'})`,
      url,
      databaseUrl: args['database-url'],
      ledger: new CounterLedger(),
      active: true,
      runs: [],
    });
  }
  for (const s of series) if (s.databaseUrl !== undefined) s.before = await readCounter(s.databaseUrl);
  const dbPid = database === undefined ? undefined : postmasterPid(path.join(database.base, 'pg'));

  bar.setTotal(rates.length * repetitions * series.length);
  for (const rate of rates) {
    if (controller.signal.aborted) break;
    const active = series.filter((s) => s.active);
    if (active.length === 0) break;
    for (const [s, pass] of await step(active, rate, dbPid)) {
      if (pass) s.lastPass = rate;
      else {
        s.active = false;
        s.firstFail = rate;
      }
    }
  }
  for (let round = 0; round < refine && !controller.signal.aborted; round += 1) {
    for (const s of series) {
      const mid = s.lastPass === undefined || s.firstFail === undefined ? undefined : midpoint(s.lastPass, s.firstFail);
      if (mid === undefined) continue;
      bar.setTotal(bar.getTotal() + repetitions);
      const pass = (await step([s], mid, dbPid)).get(s) === true;
      if (pass) s.lastPass = mid;
      else s.firstFail = mid;
    }
  }

  const coalescing = series.find((s) => s.name === 'coalescing');
  if (soakSec > 0 && coalescing?.fleet !== undefined && !controller.signal.aborted) {
    bar.update({ label: `soak: ${soakSec} s at ${num('soak-rate', 1)} req/s` });
    const soaked = await soak({
      url: coalescing.url,
      fleet: coalescing.fleet,
      rate: num('soak-rate', 1),
      durationSec: soakSec,
      ledger: coalescing.ledger,
      signal: controller.signal,
    });
    soakResult = soaked.summary;
    raw.soak = soaked.result;
  }

  // Correctness of the steps (and soak), then stop the fleets.
  const correctness = new Map<string, ReturnType<CounterLedger['check']>>();
  for (const s of series) {
    if (s.fleet !== undefined && s.ledger.provisionalAnswers > 0) await untilSettled(s.fleet, 60_000);
    const check =
      s.name === 'constant'
        ? undefined
        : s.ledger.check(
            s.databaseUrl === undefined || s.before === undefined
              ? undefined
              : { before: s.before, after: await readCounter(s.databaseUrl) },
          );
    if (check !== undefined) correctness.set(s.name, check);
  }
  await Promise.all(series.map((s) => s.fleet?.stop() ?? Promise.resolve()));

  const coldStarts: { summary: ColdStart; result: OpenLoopResult }[] = [];
  for (let i = 1; i <= coldStartRepetitions; i += 1) {
    if (args['no-cold-start'] || coalescing?.databaseUrl === undefined || controller.signal.aborted) break;
    bar.update({ label: `cold start ${i}/${coldStartRepetitions}: ${coldStartSec} s at ${coldStartRate} req/s` });
    const cold = await coldStart({
      env: envOf('coalescing', coalescing.databaseUrl),
      workers,
      databaseUrl: coalescing.databaseUrl,
      rate: coldStartRate,
      durationSec: coldStartSec,
      signal: controller.signal,
      // A new VM gets traffic once the load balancer's readiness check has
      // passed healthyThreshold times (terraform/serving-policy.ts).
      rotation:
        coldStartFrom === 'rotation'
          ? {
              intervalMs: READINESS_CHECK.checkIntervalSec * 1000,
              healthyThreshold: READINESS_CHECK.healthyThreshold,
            }
          : undefined,
    });
    coldStarts.push(cold);
    correctness.set(coldStartRepetitions === 1 ? 'cold start' : `cold start ${i}`, cold.correctness);
  }
  // One fresh start is one sample of a noisy event: the report shows each
  // start's figures and details the one with the median p99.
  const medianCold = [...coldStarts].sort((a, b) => a.summary.latencyMs.p99 - b.summary.latencyMs.p99)[
    Math.floor((coldStarts.length - 1) / 2)
  ];
  if (medianCold !== undefined) {
    coldStartResult = medianCold.summary;
    raw.coldStart = medianCold.result;
  }
  bar.update(bar.getTotal(), { label: 'done' });
  bar.stop();

  const summaries: SeriesSummary[] = series.map((s) => ({
    name: s.name,
    description: s.description,
    maxRateMeetingObjective: s.lastPass ?? null,
    firstRateMissingObjective: s.firstFail ?? null,
    saturationRate: Math.max(0, ...s.runs.map((r) => r.result.achievedRate)),
    saturated: s.runs.some((r) => r.result.achievedRate < 0.98 * r.rate),
    correctness: correctness.get(s.name)?.summary ?? 'not applicable (the constant counter always answers 1)',
  }));
  const steps = series.flatMap((s) => {
    const rates = [...new Set(s.runs.map((r) => r.rate))].sort((a, b) => a - b);
    return rates.map((rate) =>
      summarizeStep(
        s.runs.filter((r) => r.rate === rate),
        objective,
      ),
    );
  });
  const summary: Summary = {
    kind: 'open-loop',
    machine: { ...machineAtStart, loadAverageAtEnd: os.loadavg().map((v) => Math.round(v * 100) / 100) },
    wallSeconds: Math.round((Date.now() - startedAt) / 1000),
    interrupted: controller.signal.aborted,
    parameters: {
      targets,
      series: series.map((s) => s.name),
      rates,
      durationSec,
      warmupSec,
      repetitions,
      refine,
      objective,
      workers,
      connections: connections ?? 'one per 10 req/s (4 to 512)',
      timeoutMs,
      commitDelayMs,
      commitMs,
      coldStart: args['no-cold-start'] ? null : { rate: coldStartRate, durationSec: coldStartSec, from: coldStartFrom },
      soak: soakSec > 0 ? { rate: num('soak-rate', 1), durationSec: soakSec } : null,
      generator: 'bench/lib/open-loop.ts (undici Pool, pipelining 1, keep-alive; hdr-histogram-js)',
      service:
        'pm2-runtime cluster, server/ecosystem.config.cjs, production defaults (helmet on, every request logged)',
    },
    series: summaries,
    steps,
    coldStart: coldStartResult ?? null,
    coldStartRepetitions: coldStarts.map(({ summary: c }) => ({
      spawnToReadyMs: c.spawnToReadyMs,
      readyToRotationMs: c.readyToRotationMs,
      p50: c.latencyMs.p50,
      p99: c.latencyMs.p99,
      max: c.latencyMs.max,
      errors: c.errors,
      firstSecondP99: c.perSecond[0]?.p99 ?? 0,
    })),
    soak: soakResult ?? null,
    correctness: [...correctness].map(([name, c]) => ({ name, ...c })),
  };
  failed = summary.correctness.some((c) => !c.ok);

  const charts: Record<string, string> = {};
  charts['latency.svg'] = await renderSvg(
    latencyChart(
      steps.flatMap((s) => [
        { series: s.series, rate: s.rate, percentile: 'p50' as const, ms: s.p50 },
        { series: s.series, rate: s.rate, percentile: 'p99' as const, ms: s.p99 },
      ]),
      objective.p99Ms,
    ),
  );
  charts['throughput.svg'] = await renderSvg(
    throughputChart(steps.map((s) => ({ series: s.series, rate: s.rate, achieved: s.achievedRate }))),
  );
  if (coldStartResult !== undefined)
    charts['cold-start.svg'] = await renderSvg(
      coldStartChart(coldStartResult.timeline, coldStartResult.rate, coldStartResult.from),
    );
  if (soakResult !== undefined)
    charts['soak-memory.svg'] = await renderSvg(memoryChart(soakResult.rss, 'Soak: RSS per worker'));

  const files: Record<string, string> = {
    'summary.json': `${JSON.stringify(summary, null, 2)}\n`,
    'report.md': markdownReport(summary, Object.keys(charts)),
    ...charts,
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(outDir, name), content);
  writeFileSync(path.join(outDir, 'raw.json'), `${JSON.stringify(raw)}\n`);
  if (args.publish !== undefined) {
    const published = path.join(root, 'docs', 'bench', args.publish);
    mkdirSync(published, { recursive: true });
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(published, name), content);
    process.stderr.write(`published to ${path.relative(root, published)}\n`);
  }
  process.stdout.write(files['report.md'] ?? '');
  process.stderr.write(`written to ${outDir}\n`);
  for (const c of summary.correctness)
    if (!c.ok) process.stderr.write(`CORRECTNESS FAILED (${c.name}): ${c.summary}\n`);
} catch (error) {
  bar.stop();
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  failed = true;
} finally {
  await Promise.all(series.map((s) => s.fleet?.stop() ?? Promise.resolve()));
  await database?.destroy();
}
process.exit(failed ? 1 : 0);
