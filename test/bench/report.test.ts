// The Markdown report: a target that answered every rate it was offered was
// not saturated, so its "saturation" is only a lower bound and no ratio is
// drawn from it (a run at one rate that every target carried printed
// "coalescing / constant = 1.00×").

import test from 'ava';
import { markdownReport, type SeriesSummary, type Summary } from '../../bench/lib/report.js';

function summary(series: SeriesSummary[]): Summary {
  return {
    kind: 'open-loop',
    machine: { date: '2026-11-29T00:00:00Z', commit: 'abc1234', node: 'v20', cores: 2, cpu: 'test' },
    wallSeconds: 1,
    interrupted: false,
    parameters: { objective: { p99Ms: 10, errorRate: 0.0001 }, warmupSec: 1, durationSec: 1, repetitions: 1 },
    series,
    steps: [],
    coldStart: null,
    coldStartRepetitions: [],
    soak: null,
    correctness: [],
  };
}

function series(name: string, saturationRate: number, saturated: boolean): SeriesSummary {
  return {
    name,
    description: name,
    maxRateMeetingObjective: null,
    firstRateMissingObjective: 1000,
    saturationRate,
    saturated,
    correctness: 'ok',
  };
}

test('report: a target that carried every offered rate shows its saturation as a lower bound, and no ratio', (t) => {
  const report = markdownReport(summary([series('coalescing', 1000, false), series('constant', 1000, false)]), []);
  t.regex(report, /\| coalescing \| none \| 1,000 \| ≥ 1,000 \(not reached\) \| ok \|/);
  t.notRegex(report, /Saturation ratios/);
});

test('report: ratios are drawn between saturated targets only', (t) => {
  const report = markdownReport(
    summary([series('coalescing', 3891, true), series('constant', 3998, true), series('floor', 8000, false)]),
    [],
  );
  t.regex(report, /\| coalescing \| none \| 1,000 \| 3,891 \| ok \|/);
  t.regex(report, /Saturation ratios: coalescing \/ constant = 0\.97×\./);
  t.notRegex(report, /constant \/ floor/);
});
