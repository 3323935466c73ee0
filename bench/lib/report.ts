// The benchmark's summary (the JSON committed beside the docs for every
// published run) and the Markdown report rendered from it, so that every
// figure in the report can be traced to the summary it came from.

import type { Correctness } from './correctness.js';
import type { ColdStart, Soak } from './phases.js';
import type { Objective, StepSummary } from './plan.js';

export type { ColdStart, Soak };

export interface ColdStartBrief {
  readonly spawnToReadyMs: number;
  readonly readyToRotationMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
  readonly firstSecondP99: number;
}

export interface SeriesSummary {
  readonly name: string;
  readonly description: string;
  /** The highest offered rate at which the objective was met (null: not even the first). */
  readonly maxRateMeetingObjective: number | null;
  readonly firstRateMissingObjective: number | null;
  /** The most answers per second seen in any run (at overload: the target's capacity). */
  readonly saturationRate: number;
  /**
   * Some run answered under 98 % of its offered rate, so saturationRate is the
   * target's capacity; false: it carried every rate offered, and
   * saturationRate is only a lower bound.
   */
  readonly saturated: boolean;
  readonly correctness: string;
}

export interface Summary {
  readonly kind: 'open-loop';
  readonly machine: Record<string, unknown>;
  readonly wallSeconds: number;
  /** Stopped early by SIGINT: the steps after it were not run. */
  readonly interrupted: boolean;
  readonly parameters: Record<string, unknown> & { objective: Objective };
  readonly series: SeriesSummary[];
  readonly steps: StepSummary[];
  /** The cold start with the median p99 of the repetitions, in detail. */
  readonly coldStart: ColdStart | null;
  /** Every cold start's figures, in the order run. */
  readonly coldStartRepetitions: ColdStartBrief[];
  readonly soak: Soak | null;
  readonly correctness: (Correctness & { name: string })[];
}

const fmt = (n: number, digits = 1) =>
  n >= 100 || Number.isInteger(n)
    ? Math.round(n).toLocaleString('en-US')
    : n.toFixed(n >= 10 ? Math.min(digits, 1) : digits);
const pct = (f: number) => `${(f * 100).toFixed(f === 0 ? 0 : 3)} %`;

function ratio(summary: Summary, a: string, b: string): string | undefined {
  const x = summary.series.find((s) => s.name === a);
  const y = summary.series.find((s) => s.name === b);
  // A target that carried every rate offered has no measured capacity to compare.
  if (x?.saturated !== true || y?.saturated !== true || y.saturationRate === 0) return undefined;
  return `${(x.saturationRate / y.saturationRate).toFixed(2)}×`;
}

export function markdownReport(summary: Summary, charts: readonly string[]): string {
  const { machine, parameters: p } = summary;
  const o = p.objective;
  const lines: string[] = [];
  lines.push(`# Benchmark run ${String(machine.date)}`, '');
  if (summary.interrupted) lines.push('**Interrupted**: the run was stopped before its last steps.', '');
  lines.push(
    `Commit \`${String(machine.commit)}\`, Node ${String(machine.node)}, ${String(machine.cores)} cores (${String(machine.cpu)}), ` +
      `load average ${String(machine.loadAverage1m)} at the start and ${JSON.stringify(machine.loadAverageAtEnd)} (1/5/15 min) at the end, ` +
      `${summary.wallSeconds} s. Objective: p99 ≤ ${o.p99Ms} ms from intended send time and errors ≤ ${pct(o.errorRate)}. ` +
      `Each step: ${String(p.warmupSec)} s warm-up (discarded) + ${String(p.durationSec)} s measured, ${String(p.repetitions)} repetitions ` +
      `(medians), targets interleaved. Every figure below is in summary.json.`,
    '',
  );
  lines.push(
    '| target | highest rate meeting the objective | first rate missing it | saturation (answers/s) | correctness |',
  );
  lines.push('| --- | --- | --- | --- | --- |');
  for (const s of summary.series)
    lines.push(
      `| ${s.name} | ${s.maxRateMeetingObjective === null ? 'none' : fmt(s.maxRateMeetingObjective)} | ${s.firstRateMissingObjective === null ? '—' : fmt(s.firstRateMissingObjective)} | ${s.saturated ? fmt(s.saturationRate) : `≥ ${fmt(s.saturationRate)} (not reached)`} | ${s.correctness} |`,
    );
  const ratios = [
    ['coalescing', 'constant'],
    ['constant', 'floor'],
    ['coalescing', 'naive'],
    ['coalescing-commit-delay', 'naive-commit-delay'],
    ['coalescing-commit-delay', 'coalescing'],
  ]
    .map(([a, b]) => [a, b, ratio(summary, a as string, b as string)])
    .filter(([, , r]) => r !== undefined)
    .map(([a, b, r]) => `${a} / ${b} = ${r}`);
  if (ratios.length > 0) lines.push('', `Saturation ratios: ${ratios.join('; ')}.`);
  lines.push('', '## Steps', '');
  lines.push(
    '| target | offered req/s | answers/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | objective | RSS per worker MiB | CPU % app / db / generator | CPU µs per request app / db | generator lag max ms |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of summary.steps) {
    const errors =
      s.errors === 0
        ? '0'
        : `${s.errors} (${pct(s.errorRate)}: ${Object.entries(s.byErrorClass)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')})`;
    lines.push(
      `| ${s.series} | ${fmt(s.rate)} | ${fmt(s.achievedRate)} | ${fmt(s.p50, 2)} | ${fmt(s.p90, 2)} | ${fmt(s.p99, 2)} | ${fmt(s.p999, 2)} | ${fmt(s.max, 2)} | ${errors} | ${s.meetsObjective ? 'met' : '**missed**'}${s.generatorLimited ? ' (generator behind)' : ''} | ${s.rssMiB.map((v) => fmt(v, 0)).join(', ')} | ${s.cpuPercent.app} / ${s.cpuPercent.db} / ${s.cpuPercent.generator} | ${s.cpuMicrosPerRequest.app} / ${s.cpuMicrosPerRequest.db} | ${fmt(s.generatorMaxLagMs, 1)} |`,
    );
  }
  const cold = summary.coldStart;
  if (cold !== null) {
    lines.push('', '## Cold start', '');
    lines.push(
      `A fresh service (pm2 and ${String(p.workers)} workers) on the migrated database: ${cold.spawnToReadyMs} ms from start to the first 200 from /readyz; ` +
        (cold.from === 'rotation'
          ? `load began ${cold.readyToRotationMs} ms later, when the load balancer's readiness check would put it in rotation (terraform/serving-policy.ts); `
          : 'load began at that first 200 (--cold-start-from first-ok: harsher than the load balancer, which waits for its healthy threshold); ') +
        `${cold.rate} req/s for ${cold.durationSec} s on new connections, no warm-up discarded.`,
      '',
    );
    if (summary.coldStartRepetitions.length > 1) {
      lines.push(
        `${summary.coldStartRepetitions.length} fresh starts, each its own sample; the per-second table below is the start with the median p99.`,
        '',
        '| start | start → first 200 ms | first 200 → load ms | p50 ms | p99 ms | max ms | p99 second 1 ms | errors |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
      );
      summary.coldStartRepetitions.forEach((c, i) =>
        lines.push(
          `| ${i + 1} | ${c.spawnToReadyMs} | ${c.readyToRotationMs} | ${fmt(c.p50, 2)} | ${fmt(c.p99, 2)} | ${fmt(c.max, 2)} | ${fmt(c.firstSecondP99, 2)} | ${c.errors} |`,
        ),
      );
      lines.push('');
    }
    lines.push('| window | p50 ms | p99 ms | p99.9 ms | max ms | errors |', '| --- | --- | --- | --- | --- | --- |');
    const l = cold.latencyMs;
    lines.push(
      `| whole run | ${fmt(l.p50, 2)} | ${fmt(l.p99, 2)} | ${fmt(l.p999, 2)} | ${fmt(l.max, 2)} | ${cold.errors} |`,
    );
    for (const s of cold.perSecond)
      lines.push(`| second ${s.second + 1} | | ${fmt(s.p99, 2)} | | ${fmt(s.max, 2)} | ${s.errors} |`);
  }
  const soak = summary.soak;
  if (soak !== null) {
    lines.push('', '## Soak', '');
    lines.push(
      `${soak.rate} req/s for ${soak.durationSec} s: p50 ${fmt(soak.latencyMs.p50, 2)} ms, p99 ${fmt(soak.latencyMs.p99, 2)} ms, max ${fmt(soak.latencyMs.max, 2)} ms, ${soak.errors} errors. ` +
        `RSS per worker (median) over the first minute ${soak.rssFirstMinuteMiB.join(', ')} MiB, over the last minute ${soak.rssLastMinuteMiB.join(', ')} MiB. ` +
        `Worst per-second p99 in each minute: ${soak.worstSecondP99PerMinute.map((v) => fmt(v, 1)).join(', ')} ms.`,
    );
  }
  lines.push('', '## Correctness', '');
  for (const c of summary.correctness) lines.push(`- ${c.name}: ${c.summary}`);
  if (charts.length > 0) {
    lines.push('', '## Charts', '');
    for (const c of charts) lines.push(`![${c}](${c})`, '');
  }
  return `${lines.join('\n')}\n`;
}
