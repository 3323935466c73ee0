// Writes a drill's report twice: JSON for tools and Markdown for people, side
// by side in twin/results/ (gitignored; published summaries are committed
// beside the docs that cite them).

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DrillMeasures, PhaseStats } from './analysis.js';
import type { GoalResult } from './goals.js';

interface ReportBody {
  readonly drill: string;
  readonly description: string;
  readonly startedAt: string;
  readonly machine: Record<string, unknown>;
  readonly parameters: Record<string, unknown>;
  readonly window: { faultAtMs: number; faultDurationMs: number };
  readonly measures: DrillMeasures;
  readonly facts: Record<string, unknown>;
  readonly goals: readonly GoalResult[];
  readonly pass: boolean;
}

export function writeReport(dir: string, base: string, report: ReportBody): { json: string; markdown: string } {
  const json = path.join(dir, `${base}.json`);
  const markdown = path.join(dir, `${base}.md`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(markdown, renderMarkdown(report));
  return { json, markdown };
}

const errorsText = (p: PhaseStats): string =>
  Object.entries(p.errors)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '-';

export function renderMarkdown(r: ReportBody): string {
  const m = r.measures;
  const row = (name: string, p: PhaseStats) =>
    `| ${name} | ${p.requests} | ${p.ok2xx} | ${p.provisional} | ${errorsText(p)} | ${p.p50Ms} | ${p.p99Ms} | ${p.maxMs} |`;
  const c = m.counter;
  const lines = [
    `# Drill \`${r.drill}\`: ${r.pass ? 'PASS' : 'FAIL'}`,
    '',
    r.description,
    '',
    `Started ${r.startedAt}; ${Object.entries(r.parameters)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ')}.`,
    `Machine: ${Object.entries(r.machine)
      .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join('/') : String(v)}`)
      .join(', ')}.`,
    `Fault at ${(r.window.faultAtMs / 1000).toFixed(2)} s, lasting ${(r.window.faultDurationMs / 1000).toFixed(2)} s; ` +
      '"during" runs from the fault until every answer is exact again (or the fault ends, if later).',
    '',
    '## Goals',
    '',
    '| goal | verdict | measured |',
    '| --- | --- | --- |',
    ...r.goals.map((g) => `| ${g.description} | ${g.pass ? 'pass' : '**FAIL**'} | ${g.actual} |`),
    '',
    '## Requests',
    '',
    `Planned ${m.planned}; 2xx ${(m.fraction2xx * 100).toFixed(3)} % of planned. Latency from the intended send time, ms.`,
    '',
    '| phase | requests | 2xx | provisional | errors | p50 | p99 | max |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...(m.warmup.requests > 0 ? [row('warm-up', m.warmup)] : []),
    row('before', m.before),
    row('during', m.during),
    row('after', m.after),
    row('total', m.total),
    ...(m.warmup.requests > 0
      ? [
          '',
          "Warm-up: the load's first seconds (`warmupS`: a fresh generator, new connections), left out of `before` so that it is a baseline; counted in the total, the goals on all requests and the counter check.",
        ]
      : []),
    '',
    `Recovered (last non-2xx answer) ${(m.recoverMs / 1000).toFixed(2)} s after the fault; ` +
      `exact again (last provisional or failed answer) ${(m.exactAgainMs / 1000).toFixed(2)} s after the fault.`,
    '',
    '## Counter',
    '',
    c === undefined
      ? 'Not checked.'
      : `Database ${c.before} -> ${c.after} (+${c.databaseIncrease}) for ${c.ok2xx} 2xx answers: ` +
        `lost ${c.lost}, extra ${c.extra}; duplicate values among exact answers ${c.duplicateExactValues}; ` +
        `matched ${(c.settleMs / 1000).toFixed(2)} s after the load ended.`,
    '',
  ];
  if (Object.keys(r.facts).length > 0) {
    lines.push('## Facts', '', ...Object.entries(r.facts).map(([k, v]) => `- ${k}: ${String(v)}`), '');
  }
  return lines.join('\n');
}
