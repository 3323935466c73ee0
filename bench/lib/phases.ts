// The two phases of a benchmark run beside the rate steps: the cold start (a
// freshly started service under load from the moment /readyz first answers
// 200, as a new instance joins a load balancer after a roll or a scale-out)
// and the soak (a long run at a fixed rate with the workers' memory sampled,
// to see whether it stays flat).

import { setTimeout as sleep } from 'node:timers/promises';
import { CounterLedger, type Correctness } from './correctness.js';
import { readCounter } from './counter-db.js';
import { startFleet, untilSettled, type Fleet } from './fleet.js';
import { runOpenLoop, type LatencySummary, type OpenLoopResult } from './open-loop.js';
import { median } from './plan.js';
import { childrenRssMiB } from './procs.js';
import type { MemoryPoint, TimelinePoint } from './charts.js';

export interface ColdStart {
  readonly rate: number;
  readonly durationSec: number;
  /** From starting pm2 to the first 200 from /readyz. */
  readonly spawnToReadyMs: number;
  readonly latencyMs: LatencySummary;
  readonly errors: number;
  readonly byErrorClass: Record<string, number>;
  /** p99 and max over each second since ready. */
  readonly perSecond: { second: number; p99: number; max: number; errors: number }[];
  readonly timeline: TimelinePoint[];
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0
    ? 0
    : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number);
}

export async function coldStart(options: {
  env: Record<string, string>;
  workers: number;
  databaseUrl: string;
  rate: number;
  durationSec: number;
  signal: AbortSignal;
}): Promise<{ summary: ColdStart; result: OpenLoopResult; correctness: Correctness }> {
  const before = await readCounter(options.databaseUrl);
  const ledger = new CounterLedger();
  const spawnedAt = Date.now();
  const fleet = await startFleet(options.env, options.workers, { waitReady: false });
  try {
    const until = Date.now() + 60_000;
    for (;;) {
      const status = await fetch(`${fleet.url}readyz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > until || options.signal.aborted) throw new Error('the fresh service did not become ready');
      await sleep(10);
    }
    const readyAt = Date.now();
    const buckets: number[][] = [];
    const result = await runOpenLoop({
      url: fleet.url,
      rate: options.rate,
      durationSec: options.durationSec,
      signal: options.signal,
      onSample: (s) => {
        ledger.add(s);
        (buckets[Math.max(0, Math.floor((s.intendedAt - readyAt) / 100))] ??= []).push(s.latencyMs);
      },
    });
    if (ledger.provisionalAnswers > 0) await untilSettled(fleet, 60_000);
    const after = await readCounter(options.databaseUrl);
    const timeline: TimelinePoint[] = buckets.flatMap((values, i) => {
      const sorted = [...values].sort((a, b) => a - b);
      const second = i / 10;
      return [
        { second, statistic: 'p50', ms: percentile(sorted, 50) },
        { second, statistic: 'p99', ms: percentile(sorted, 99) },
        { second, statistic: 'max', ms: sorted.at(-1) ?? 0 },
      ];
    });
    return {
      summary: {
        rate: options.rate,
        durationSec: options.durationSec,
        spawnToReadyMs: readyAt - spawnedAt,
        latencyMs: result.latencyMs,
        errors: result.errors,
        byErrorClass: result.byErrorClass,
        perSecond: result.perSecond.map((s) => ({ second: s.second, p99: s.p99, max: s.max, errors: s.errors })),
        timeline,
      },
      result,
      correctness: ledger.check({ before, after }),
    };
  } finally {
    await fleet.stop();
  }
}

export interface Soak {
  readonly rate: number;
  readonly durationSec: number;
  readonly latencyMs: LatencySummary;
  readonly errors: number;
  /** RSS per worker, sampled every 10 s. */
  readonly rss: MemoryPoint[];
  /** Median RSS per worker over the first and the last minute. */
  readonly rssFirstMinuteMiB: number[];
  readonly rssLastMinuteMiB: number[];
  /** The worst per-second p99 in each minute. */
  readonly worstSecondP99PerMinute: number[];
}

export async function soak(options: {
  url: string;
  fleet: Fleet;
  rate: number;
  durationSec: number;
  ledger: CounterLedger;
  signal: AbortSignal;
}): Promise<{ summary: Soak; result: OpenLoopResult }> {
  const pid = options.fleet.child.pid as number;
  const rss: MemoryPoint[] = [];
  const started = Date.now();
  const sample = () =>
    childrenRssMiB(pid).forEach((rssMiB, i) =>
      rss.push({ second: Math.round((Date.now() - started) / 1000), worker: `worker ${i + 1}`, rssMiB }),
    );
  sample();
  const timer = setInterval(sample, 10_000);
  let result: OpenLoopResult;
  try {
    result = await runOpenLoop({
      url: options.url,
      rate: options.rate,
      durationSec: options.durationSec,
      signal: options.signal,
      onSample: (s) => options.ledger.add(s),
    });
  } finally {
    clearInterval(timer);
  }
  sample();
  const workers = [...new Set(rss.map((p) => p.worker))];
  const window = (from: number, to: number) =>
    workers.map((w) =>
      median(rss.filter((p) => p.worker === w && p.second >= from && p.second <= to).map((p) => p.rssMiB)),
    );
  const end = Math.max(...rss.map((p) => p.second));
  const minutes = Math.ceil(result.perSecond.length / 60);
  return {
    summary: {
      rate: options.rate,
      durationSec: options.durationSec,
      latencyMs: result.latencyMs,
      errors: result.errors,
      rss,
      rssFirstMinuteMiB: window(0, 60),
      rssLastMinuteMiB: window(end - 60, end),
      worstSecondP99PerMinute: Array.from({ length: minutes }, (_, m) =>
        Math.max(...result.perSecond.slice(m * 60, m * 60 + 60).map((s) => s.p99)),
      ),
    },
    result,
  };
}
