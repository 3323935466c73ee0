// What a benchmark run is made of, and how a step is judged: the ladder of
// offered rates (1, 10, 100, 250, 500, 1,000, 2,000, 4,000, then doubling),
// the objective a target must meet at a rate to be sent the next one, and
// the median-of-repetitions summary each step is reported with.

import type { OpenLoopResult } from './open-loop.js';

export const DEFAULT_STEPS = [1, 10, 100, 250, 500, 1000, 2000, 4000];

/** The given rates, then doubling after the last one up to maxRate. */
export function ladder(steps: readonly number[], maxRate: number): number[] {
  const rates = [...steps].filter((r) => r <= maxRate).sort((a, b) => a - b);
  let last = rates.at(-1) ?? 1;
  while (last * 2 <= maxRate) {
    last *= 2;
    rates.push(last);
  }
  return rates;
}

export interface Objective {
  readonly p99Ms: number;
  /** A fraction: 0.0001 is 0.01 %. */
  readonly errorRate: number;
}

export interface RunRecord {
  readonly series: string;
  readonly rate: number;
  readonly repetition: number;
  readonly result: Omit<OpenLoopResult, 'perSecond'>;
  /** RSS of each worker after the run, MiB (local targets). */
  readonly rssMiB: number[];
  /** CPU over the run, percent of one core: the service (pm2 and workers), PostgreSQL, the generator. */
  readonly cpuPercent: { readonly app: number; readonly db: number; readonly generator: number };
  /** CPU microseconds per answered request. */
  readonly cpuMicrosPerRequest: { readonly app: number; readonly db: number; readonly generator: number };
  readonly loadAverage1m: number;
}

export interface StepSummary {
  readonly series: string;
  readonly rate: number;
  readonly repetitions: number;
  /** Medians over the repetitions. */
  readonly achievedRate: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  /** The worst over the repetitions. */
  readonly max: number;
  /** Pooled over the repetitions. */
  readonly requests: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly byErrorClass: Record<string, number>;
  readonly meetsObjective: boolean;
  readonly rssMiB: number[];
  readonly cpuPercent: { readonly app: number; readonly db: number; readonly generator: number };
  readonly cpuMicrosPerRequest: { readonly app: number; readonly db: number; readonly generator: number };
  readonly generatorMaxLagMs: number;
  /** The generator fell behind its clock by more than half the objective: the step says little about the target. */
  readonly generatorLimited: boolean;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;

export function summarizeStep(runs: readonly RunRecord[], objective: Objective): StepSummary {
  const first = runs[0];
  if (first === undefined) throw new Error('a step needs at least one run');
  const requests = runs.reduce((n, r) => n + r.result.measured, 0);
  const errors = runs.reduce((n, r) => n + r.result.errors, 0);
  const byErrorClass: Record<string, number> = {};
  for (const r of runs)
    for (const [k, v] of Object.entries(r.result.byErrorClass)) byErrorClass[k] = (byErrorClass[k] ?? 0) + v;
  const m = (pick: (r: RunRecord) => number) => round(median(runs.map(pick)));
  const p99 = m((r) => r.result.latencyMs.p99);
  const errorRate = requests === 0 ? 0 : errors / requests;
  const generatorMaxLagMs = Math.max(...runs.map((r) => r.result.generator.maxLagMs));
  const last = runs.at(-1) as RunRecord;
  return {
    series: first.series,
    rate: first.rate,
    repetitions: runs.length,
    achievedRate: m((r) => r.result.achievedRate),
    p50: m((r) => r.result.latencyMs.p50),
    p90: m((r) => r.result.latencyMs.p90),
    p99,
    p999: m((r) => r.result.latencyMs.p999),
    max: Math.max(...runs.map((r) => r.result.latencyMs.max)),
    requests,
    errors,
    errorRate,
    byErrorClass,
    meetsObjective: p99 <= objective.p99Ms && errorRate <= objective.errorRate,
    rssMiB: last.rssMiB,
    cpuPercent: {
      app: m((r) => r.cpuPercent.app),
      db: m((r) => r.cpuPercent.db),
      generator: m((r) => r.cpuPercent.generator),
    },
    cpuMicrosPerRequest: {
      app: Math.round(median(runs.map((r) => r.cpuMicrosPerRequest.app))),
      db: Math.round(median(runs.map((r) => r.cpuMicrosPerRequest.db))),
      generator: Math.round(median(runs.map((r) => r.cpuMicrosPerRequest.generator))),
    },
    generatorMaxLagMs,
    generatorLimited: generatorMaxLagMs > objective.p99Ms / 2,
  };
}

/** The rate between a passing and a failing one to try next, rounded to 2 significant digits; undefined when none is left. */
export function midpoint(pass: number, fail: number): number | undefined {
  const mid = (pass + fail) / 2;
  const scale = 10 ** Math.max(0, Math.floor(Math.log10(mid)) - 1);
  const rounded = Math.round(mid / scale) * scale;
  return rounded > pass && rounded < fail ? rounded : undefined;
}
