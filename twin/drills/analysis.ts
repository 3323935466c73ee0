// Turns a drill's samples into the figures its report and goals use:
// counts, error classes and latency percentiles before, during and after the
// fault, time until every answer is 2xx and exact again, and the counter
// check (no value handed out twice among exact answers; the database grew by
// exactly the number of 2xx answers once journals were replayed).

import { errorClassOf, is2xx, isExact, type Sample } from './sample.js';

export interface PhaseStats {
  readonly requests: number;
  readonly ok2xx: number;
  readonly provisional: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface CounterCheck {
  readonly before: number;
  readonly after: number;
  /** after - before, read through the database's stable address. */
  readonly databaseIncrease: number;
  readonly ok2xx: number;
  /** 2xx answers the database does not hold (increase below the 2xx count). */
  readonly lost: number;
  /** Increments the database holds beyond the 2xx count. */
  readonly extra: number;
  /** Values handed out more than once among exact answers. */
  readonly duplicateExactValues: number;
  /** From the end of the load until the database matched (or the wait gave up). */
  readonly settleMs: number;
}

export interface DrillMeasures {
  readonly planned: number;
  readonly total: PhaseStats;
  /** The load's first seconds (a fresh generator, new connections): left out of `before`, kept in `total`. */
  readonly warmup: PhaseStats;
  readonly before: PhaseStats;
  readonly during: PhaseStats;
  readonly after: PhaseStats;
  readonly fraction2xx: number;
  /** Fault start to the response of the last non-2xx answer (0 if none). */
  readonly recoverMs: number;
  /** Fault start to the response of the last answer that was not exact (0 if none). */
  readonly exactAgainMs: number;
  readonly counter: CounterCheck | undefined;
}

/** Nearest-rank percentile over a sorted array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Latencies cover every sample with a measured time, failed ones included. */
export function phaseStats(samples: readonly Sample[]): PhaseStats {
  const errors: Record<string, number> = {};
  for (const s of samples) {
    if (!is2xx(s)) errors[errorClassOf(s)] = (errors[errorClassOf(s)] ?? 0) + 1;
  }
  const latencies = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  return {
    requests: samples.length,
    ok2xx: samples.filter(is2xx).length,
    provisional: samples.filter((s) => is2xx(s) && !isExact(s)).length,
    errors,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies.at(-1) ?? Number.NaN),
  };
}

const round = (n: number): number => Math.round(n * 100) / 100;

/** Values that appear more than once among exact answers. */
export function duplicateExactValues(samples: readonly Sample[]): number {
  const seen = new Set<number>();
  let duplicates = 0;
  for (const s of samples) {
    if (!isExact(s) || s.counter === undefined) continue;
    if (seen.has(s.counter)) duplicates += 1;
    else seen.add(s.counter);
  }
  return duplicates;
}

function lastEndAfter(samples: readonly Sample[], from: number, bad: (s: Sample) => boolean): number {
  let last = 0;
  for (const s of samples) {
    if (s.intendedAt >= from && bad(s)) last = Math.max(last, s.intendedAt + s.latencyMs - from);
  }
  return last;
}

export interface Window {
  /** Samples intended before this are the warm-up phase, not `before`; none without it. */
  readonly warmupEndsAt?: number;
  readonly faultStartedAt: number;
  /** When the fault was over (healed, or the kill done); `during` lasts until recovery if later. */
  readonly faultEndedAt: number;
}

export function measure(
  samples: readonly Sample[],
  planned: number,
  window: Window,
  counter: Omit<CounterCheck, 'duplicateExactValues' | 'lost' | 'extra' | 'ok2xx'> | undefined,
): DrillMeasures {
  const recoverMs = lastEndAfter(samples, window.faultStartedAt, (s) => !is2xx(s));
  const exactAgainMs = lastEndAfter(samples, window.faultStartedAt, (s) => !isExact(s));
  const duringEnd = Math.max(window.faultEndedAt, window.faultStartedAt + exactAgainMs);
  const ok2xx = samples.filter(is2xx).length;
  const warmupEndsAt = Math.min(window.warmupEndsAt ?? Number.NEGATIVE_INFINITY, window.faultStartedAt);
  return {
    planned,
    total: phaseStats(samples),
    warmup: phaseStats(samples.filter((s) => s.intendedAt < warmupEndsAt)),
    before: phaseStats(samples.filter((s) => s.intendedAt >= warmupEndsAt && s.intendedAt < window.faultStartedAt)),
    during: phaseStats(samples.filter((s) => s.intendedAt >= window.faultStartedAt && s.intendedAt <= duringEnd)),
    after: phaseStats(samples.filter((s) => s.intendedAt > duringEnd)),
    // Requests never sent or never recorded count as failures.
    fraction2xx: ok2xx / Math.max(1, planned, samples.length),
    recoverMs,
    exactAgainMs,
    counter:
      counter === undefined
        ? undefined
        : {
            ...counter,
            ok2xx,
            lost: Math.max(0, ok2xx - counter.databaseIncrease),
            extra: Math.max(0, counter.databaseIncrease - ok2xx),
            duplicateExactValues: duplicateExactValues(samples),
          },
  };
}
