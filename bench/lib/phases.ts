// The two phases of a benchmark run beside the rate steps: the cold start (a
// freshly started service under load from the moment a load balancer would
// put it in rotation, as a new instance joins after a roll or a scale-out,
// or, harsher than any load balancer, from the first 200 from /readyz)
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
  /** When load began: in rotation by the load balancer's readiness rule, or at the first 200. */
  readonly from: 'rotation' | 'first-ok';
  /** From starting pm2 to the first 200 from /readyz. */
  readonly spawnToReadyMs: number;
  /**
   * From the first 200 to the moment load began: the load balancer's
   * readiness check putting the instance in rotation (healthyThreshold
   * consecutive 200s, checkIntervalSec apart), or 0 when load began at the
   * first 200.
   */
  readonly readyToRotationMs: number;
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
  /** The load balancer's readiness check; without it, load begins at the first 200. */
  rotation?: { readonly intervalMs: number; readonly healthyThreshold: number };
}): Promise<{ summary: ColdStart; result: OpenLoopResult; correctness: Correctness }> {
  const before = await readCounter(options.databaseUrl);
  const ledger = new CounterLedger();
  const spawnedAt = Date.now();
  const fleet = await startFleet(options.env, options.workers, { waitReady: false });
  try {
    const until = Date.now() + 60_000;
    const ready = () =>
      fetch(`${fleet.url}readyz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status === 200,
        () => false,
      );
    while (!(await ready())) {
      if (Date.now() > until || options.signal.aborted) throw new Error('the fresh service did not become ready');
      await sleep(10);
    }
    const firstOkAt = Date.now();
    // As the load balancer does: healthyThreshold consecutive 200s, one check
    // per interval, the first of them the 200 just seen (the earliest the
    // instance can be in rotation).
    for (let inRow = 1; options.rotation !== undefined && inRow < options.rotation.healthyThreshold;) {
      await sleep(options.rotation.intervalMs, undefined, { signal: options.signal });
      inRow = (await ready()) ? inRow + 1 : 0;
      if (Date.now() > until) throw new Error('the fresh service did not stay ready');
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
        from: options.rotation === undefined ? 'first-ok' : 'rotation',
        spawnToReadyMs: firstOkAt - spawnedAt,
        readyToRotationMs: readyAt - firstOkAt,
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
