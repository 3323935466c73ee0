// The benchmark's charts, rendered to SVG on the server by Vega-Lite and
// Vega (no browser, no canvas): latency percentiles against offered rate for
// every target and baseline on one chart, achieved against offered
// throughput, the cold-start timeline and, after a soak, memory over time.

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const FLOOR_MS = 0.1;
const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 640, height: 360 } as const;

export interface LatencyPoint {
  series: string;
  rate: number;
  percentile: 'p50' | 'p99' | 'p99.9';
  ms: number;
}

export function latencyChart(points: LatencyPoint[], objectiveP99Ms: number): TopLevelSpec {
  return {
    ...base,
    title: {
      text: 'Latency from intended send time vs offered rate',
      subtitle: `rule: objective p99 ≤ ${objectiveP99Ms} ms`,
    },
    layer: [
      {
        data: { values: points.map((p) => ({ ...p, ms: Math.max(FLOOR_MS, p.ms) })) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'rate', type: 'quantitative', scale: { type: 'log' }, title: 'offered rate (req/s)' },
          y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'latency (ms, log)' },
          color: { field: 'series', type: 'nominal', title: 'target' },
          strokeDash: { field: 'percentile', type: 'nominal', sort: ['p50', 'p99', 'p99.9'] },
          shape: { field: 'percentile', type: 'nominal', sort: ['p50', 'p99', 'p99.9'] },
        },
      },
      {
        data: { values: [{ ms: objectiveP99Ms }] },
        mark: { type: 'rule', color: 'firebrick', strokeDash: [2, 2] },
        encoding: { y: { field: 'ms', type: 'quantitative' } },
      },
    ],
  };
}

export interface ThroughputPoint {
  series: string;
  rate: number;
  achieved: number;
}

export function throughputChart(points: ThroughputPoint[]): TopLevelSpec {
  const rates = points.map((p) => p.rate);
  const ideal = [Math.min(...rates), Math.max(...rates)].map((r) => ({ rate: r, achieved: r }));
  return {
    ...base,
    title: {
      text: 'Answers per second vs offered rate',
      subtitle: 'grey: achieved = offered; below it the target is saturated',
    },
    layer: [
      {
        data: { values: ideal },
        mark: { type: 'line', color: 'lightgray' },
        encoding: {
          x: { field: 'rate', type: 'quantitative', scale: { type: 'log' } },
          y: { field: 'achieved', type: 'quantitative', scale: { type: 'log' } },
        },
      },
      {
        data: { values: points.map((p) => ({ ...p, achieved: Math.max(FLOOR_MS, p.achieved) })) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'rate', type: 'quantitative', scale: { type: 'log' }, title: 'offered rate (req/s)' },
          y: { field: 'achieved', type: 'quantitative', scale: { type: 'log' }, title: 'answers per second (log)' },
          color: { field: 'series', type: 'nominal', title: 'target' },
        },
      },
    ],
  };
}

export interface TimelinePoint {
  second: number;
  statistic: string;
  ms: number;
}

export function coldStartChart(points: TimelinePoint[], rate: number, from: 'rotation' | 'first-ok'): TopLevelSpec {
  return {
    ...base,
    title: {
      text: `Cold start: latency per 100 ms at ${rate} req/s`,
      subtitle:
        from === 'rotation'
          ? "time 0 = a freshly started service in rotation by the load balancer's readiness rule"
          : 'time 0 = the first 200 from /readyz of a freshly started service',
    },
    data: { values: points.map((p) => ({ ...p, ms: Math.max(FLOOR_MS, p.ms) })) },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: {
        field: 'second',
        type: 'quantitative',
        title: from === 'rotation' ? 'seconds in rotation' : 'seconds since ready',
      },
      y: {
        field: 'ms',
        type: 'quantitative',
        scale: { type: 'log' },
        title: 'latency from intended send time (ms, log)',
      },
      color: { field: 'statistic', type: 'nominal', sort: ['p50', 'p99', 'max'] },
    },
  };
}

export interface MemoryPoint {
  second: number;
  worker: string;
  rssMiB: number;
}

export function memoryChart(points: MemoryPoint[], title: string): TopLevelSpec {
  return {
    ...base,
    title,
    data: { values: points },
    mark: { type: 'line' },
    encoding: {
      x: { field: 'second', type: 'quantitative', title: 'seconds' },
      y: { field: 'rssMiB', type: 'quantitative', title: 'RSS (MiB)', scale: { zero: true } },
      color: { field: 'worker', type: 'nominal' },
    },
  };
}
