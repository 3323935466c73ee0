// `npm run infra:soak -- [--minutes 15] [--max-error-ratio 0.001]`: the patch
// pipeline's soak. Every minute for the given time it reads the load
// balancer's request count of the last 5 minutes from Cloud Monitoring, split
// by response class, and fails as soon as the 5xx share exceeds the limit, or
// when there is no traffic to judge by (the uptime check alone sends some:
// no data means the signal is missing, and a soak without a signal fails).
// Credentials come from gcloud (the build's service account in Cloud Build).

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from './config.js';
import { names } from './naming.js';

export interface SoakArgs {
  readonly minutes: number;
  readonly maxErrorRatio: number;
}

export function parseSoakArgs(argv: readonly string[]): SoakArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: { minutes: { type: 'string', default: '15' }, 'max-error-ratio': { type: 'string', default: '0.001' } },
    strict: true,
  });
  const minutes = Number(values.minutes);
  const maxErrorRatio = Number(values['max-error-ratio']);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 180)
    throw new Error(`--minutes must be a whole number from 1 to 180 (got ${values.minutes})`);
  if (!(maxErrorRatio >= 0 && maxErrorRatio < 1))
    throw new Error(`--max-error-ratio must be at least 0 and below 1 (got ${values['max-error-ratio']})`);
  return { minutes, maxErrorRatio };
}

interface Point {
  readonly value?: { readonly int64Value?: string; readonly doubleValue?: number };
}
interface Series {
  readonly metric?: { readonly labels?: Readonly<Record<string, string>> };
  readonly points?: readonly Point[];
}

/** Requests and 5xx answers in a Monitoring timeSeries.list answer grouped by response_code_class. */
export function countRequests(answer: { readonly timeSeries?: readonly Series[] }): {
  requests: number;
  errors: number;
} {
  let requests = 0;
  let errors = 0;
  for (const series of answer.timeSeries ?? []) {
    const n = (series.points ?? []).reduce(
      (sum, p) => sum + Number(p.value?.int64Value ?? p.value?.doubleValue ?? 0),
      0,
    );
    requests += n;
    if (series.metric?.labels?.['response_code_class'] === '500') errors += n;
  }
  return { requests, errors };
}

/** A failure message, or undefined when the window passes. */
export function judge(counts: { requests: number; errors: number }, maxErrorRatio: number): string | undefined {
  if (counts.requests === 0) return 'no requests reached the load balancer in the last 5 minutes: no signal to soak on';
  const ratio = counts.errors / counts.requests;
  if (ratio > maxErrorRatio)
    return `5xx ratio ${ratio.toFixed(5)} (${counts.errors} of ${counts.requests}) exceeds ${maxErrorRatio}`;
  return undefined;
}

function accessToken(): string {
  const r = spawnSync('gcloud', ['auth', 'print-access-token'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcloud auth print-access-token failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function lastFiveMinutes(project: string, urlMap: string): Promise<{ requests: number; errors: number }> {
  const end = new Date();
  const start = new Date(end.getTime() - 5 * 60_000);
  const query = new URLSearchParams({
    filter: `metric.type="loadbalancing.googleapis.com/https/request_count" AND resource.label.url_map_name="${urlMap}"`,
    'interval.startTime': start.toISOString(),
    'interval.endTime': end.toISOString(),
    'aggregation.alignmentPeriod': '300s',
    'aggregation.perSeriesAligner': 'ALIGN_DELTA',
    'aggregation.crossSeriesReducer': 'REDUCE_SUM',
    'aggregation.groupByFields': 'metric.label.response_code_class',
  });
  const url = `https://monitoring.googleapis.com/v3/projects/${project}/timeSeries?${query.toString()}`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken()}` } });
  if (!res.ok) throw new Error(`Monitoring answered ${res.status}: ${await res.text()}`);
  return countRequests((await res.json()) as { timeSeries?: Series[] });
}

async function main(): Promise<void> {
  const args = parseSoakArgs(process.argv.slice(2));
  const config = loadConfig();
  const urlMap = names(config).urlMap;
  for (let minute = 1; minute <= args.minutes; minute += 1) {
    await new Promise((resolve) => setTimeout(resolve, 60_000));
    const counts = await lastFiveMinutes(config.project, urlMap);
    const failure = judge(counts, args.maxErrorRatio);
    if (failure !== undefined) throw new Error(`soak failed at minute ${minute}: ${failure}`);
    console.log(`soak minute ${minute}/${args.minutes}: ${counts.errors} 5xx of ${counts.requests} requests`);
  }
  console.log(`soak passed: ${args.minutes} minutes at or below ${args.maxErrorRatio} 5xx`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
