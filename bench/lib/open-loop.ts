// An open-loop load generator: requests leave on a fixed clock (request i is
// due at start + i / rate), never after the previous response, and latency is
// measured from that intended send time. A closed loop (autocannon, wrk)
// waits for an answer before sending the next request, so a stall of the
// service also stalls the generator and the requests that should have been
// sent meanwhile are never measured ("coordinated omission"); here they are
// sent late or queue in the client, and their wait counts.
// The client is undici's Pool: a fixed set of keep-alive connections, one
// request at a time on each, as a load balancer holds them. The generator
// reports how far it fell behind its own schedule and its own CPU, so it
// cannot be the hidden bottleneck.

import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { Pool, type Dispatcher } from 'undici';

export interface OpenLoopOptions {
  /** http://127.0.0.1:8080/ or https://10.89.0.1/ */
  url: string;
  /** Fixed arrival rate, requests per second. */
  rate: number;
  durationSec: number;
  /** Keep-alive pool size; by default sized from the rate. */
  connections?: number;
  /**
   * Default 10000. A request still queued in the generator this long after its
   * intended time is given up unsent; a sent one gets the transport's header
   * and body timeouts of the same length.
   */
  timeoutMs?: number;
  /** Accept a self-signed certificate. */
  insecureTls?: boolean;
  /** The first seconds are sent and reported to onSample, but left out of the figures. Default 0. */
  warmupSec?: number;
  onSample?: (s: Sample) => void;
  signal?: AbortSignal;
}

export interface Sample {
  /** ms since epoch: the scheduled send time. */
  intendedAt: number;
  /** Completion time - intendedAt (coordinated omission corrected). */
  latencyMs: number;
  /** HTTP status, 0 when no response. */
  status: number;
  /** 'timeout', 'reset', 'refused', 'aborted', 'http_5xx', 'http_4xx', 'http_other', 'bad_body', 'other'. */
  errorClass?: string;
  /** body.counter on 2xx. */
  counter?: number;
  /** Counter-Consistency header. */
  consistency?: string;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface SecondSummary {
  /** Seconds since the first intended send (by intended time). */
  second: number;
  requests: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
}

export interface OpenLoopResult {
  url: string;
  rate: number;
  durationSec: number;
  warmupSec: number;
  connections: number;
  timeoutMs: number;
  startedAt: string;
  /**
   * Requests scheduled, sent, and answered (any status) over the whole run,
   * warm-up included. scheduled - sent were given up in the generator's queue
   * (timeout or abort) and never reached the service.
   */
  scheduled: number;
  sent: number;
  completed: number;
  /** From here on: the measured window (intended send time after the warm-up). */
  measured: number;
  ok: number;
  errors: number;
  errorRate: number;
  byStatus: Record<string, number>;
  byErrorClass: Record<string, number>;
  /** Latency from intended send time of every measured request, errors included (a timeout counts as its wait). */
  latencyMs: LatencySummary;
  /** Latency of the measured 2xx answers only. */
  okLatencyMs: LatencySummary;
  /** Answers (any status) per second, first send to last answer: at overload this is the service's capacity. */
  achievedRate: number;
  /** Sends per second actually issued. */
  sendRate: number;
  generator: {
    /** How far behind schedule the generator's clock put a request in its queue (timer granularity is ~1 ms). */
    maxLagMs: number;
    meanLagMs: number;
    /** Requests queued more than 5 ms behind schedule. */
    lateSends: number;
    /** CPU of this process over the run, percent of one core. */
    cpuPercent: number;
    /** At most this many requests on the wire at once (bounded by the connections)... */
    maxInFlight: number;
    /** ...and this many due but waiting for a free connection (queueing delay counts as latency). */
    maxQueued: number;
  };
  perSecond: SecondSummary[];
  aborted: boolean;
}

const MAX_TRACKABLE_US = 3_600_000_000;

function newHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
  });
}

function summarize(h: hdr.Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/**
 * A default pool: one connection per 10 req/s (4 to 512), enough for ~100 ms
 * of latency at the rate before requests queue in the generator. A load
 * balancer opens connections as concurrency needs them; too small a pool
 * would make the generator the bottleneck on a busy machine.
 */
export function defaultConnections(rate: number): number {
  return Math.min(512, Math.max(4, Math.ceil(rate / 10)));
}

/** Maps a transport error (undici, Node, DOMException) to a short class. */
export function errorClassOf(error: unknown): string {
  const e = error as { name?: string; code?: string; cause?: { code?: string; name?: string } } | undefined;
  const names = [e?.name, e?.cause?.name];
  const codes = [e?.code, e?.cause?.code];
  if (names.includes('TimeoutError') || codes.some((c) => c !== undefined && /TIMEOUT/.test(c))) return 'timeout';
  if (codes.includes('ECONNREFUSED')) return 'refused';
  if (codes.some((c) => c === 'ECONNRESET' || c === 'EPIPE' || c === 'UND_ERR_SOCKET' || c === 'UND_ERR_CLOSED'))
    return 'reset';
  if (names.includes('AbortError') || codes.includes('UND_ERR_ABORTED')) return 'aborted';
  return 'other';
}

function classify(status: number, counter: number | undefined): string | undefined {
  if (status >= 200 && status < 300) return counter === undefined ? 'bad_body' : undefined;
  if (status >= 500) return 'http_5xx';
  if (status >= 400) return 'http_4xx';
  return 'http_other';
}

function parseCounter(text: string): number | undefined {
  try {
    const body = JSON.parse(text) as { counter?: unknown };
    return typeof body.counter === 'number' && Number.isSafeInteger(body.counter) ? body.counter : undefined;
  } catch {
    return undefined;
  }
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const { rate, durationSec } = options;
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number (got ${rate})`);
  if (!(durationSec > 0)) throw new RangeError(`durationSec must be positive (got ${durationSec})`);
  const url = new URL(options.url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const warmupSec = options.warmupSec ?? 0;
  const connections = options.connections ?? defaultConnections(rate);
  const pool = new Pool(url.origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: url.protocol === 'https:' ? { rejectUnauthorized: options.insecureTls !== true } : undefined,
  });
  const path = `${url.pathname}${url.search}`;

  const all = newHistogram();
  const okOnly = newHistogram();
  const byStatus: Record<string, number> = {};
  const byErrorClass: Record<string, number> = {};
  const seconds: { latencies: number[]; errors: number }[] = [];
  const total = Math.max(1, Math.floor(rate * durationSec));
  const interval = 1000 / rate;
  const epochOffset = performance.timeOrigin;
  // Requests that are due but wait for a free connection, oldest first: the
  // generator's own queue, so that a request that waited past its timeout is
  // given up before it is sent (it never reaches the service), and one that
  // was sent always gets its answer or the transport's timeout.
  let queue: number[] = [];
  let head = 0;
  let scheduled = 0;
  let sent = 0;
  let settled = 0;
  let completed = 0;
  let measured = 0;
  let ok = 0;
  let errors = 0;
  let active = 0;
  let maxInFlight = 0;
  let maxQueued = 0;
  let lagSum = 0;
  let maxLag = 0;
  let lateSends = 0;
  let lastSendAt = 0;
  let lastAnswerAt = 0;
  let aborted = false;
  let schedulingDone = false;
  let internalError: unknown;
  let drained: () => void = () => undefined;
  const allDrained = new Promise<void>((resolve) => (drained = resolve));

  const cpuBefore = process.cpuUsage();
  const start = performance.now() + 5;
  const startedAt = new Date(epochOffset + start).toISOString();

  const record = (intended: number, status: number, errorClass: string | undefined, extra: Partial<Sample>) => {
    const now = performance.now();
    const latencyMs = now - intended;
    settled += 1;
    if (status > 0) {
      completed += 1;
      lastAnswerAt = Math.max(lastAnswerAt, now);
    }
    const sinceStart = (intended - start) / 1000;
    if (sinceStart >= warmupSec) {
      measured += 1;
      const us = Math.min(MAX_TRACKABLE_US, Math.max(1, Math.round(latencyMs * 1000)));
      all.recordValue(us);
      if (status > 0) bump(byStatus, String(status));
      if (errorClass === undefined) {
        ok += 1;
        okOnly.recordValue(us);
      } else {
        errors += 1;
        bump(byErrorClass, errorClass);
      }
    }
    const slot = (seconds[Math.floor(sinceStart)] ??= { latencies: [], errors: 0 });
    slot.latencies.push(latencyMs);
    if (errorClass !== undefined) slot.errors += 1;
    if (schedulingDone && settled === scheduled) drained();
    try {
      options.onSample?.({
        intendedAt: Math.round((epochOffset + intended) * 1000) / 1000,
        latencyMs: Math.round(latencyMs * 1000) / 1000,
        status,
        ...(errorClass === undefined ? {} : { errorClass }),
        ...extra,
      });
    } catch (error) {
      internalError ??= error;
    }
  };

  const answered = async (intended: number, response: Dispatcher.ResponseData) => {
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      record(intended, 0, errorClassOf(error), {});
      return;
    }
    const status = response.statusCode;
    const counter = status >= 200 && status < 300 ? parseCounter(text) : undefined;
    const header = response.headers['counter-consistency'];
    const consistency = Array.isArray(header) ? header.join(',') : header;
    record(intended, status, classify(status, counter), {
      ...(counter === undefined ? {} : { counter }),
      ...(consistency === undefined ? {} : { consistency }),
    });
  };

  const dispatch = (intended: number) => {
    sent += 1;
    active += 1;
    maxInFlight = Math.max(maxInFlight, active);
    lastSendAt = performance.now();
    pool
      .request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      .then(
        (response) => answered(intended, response),
        (error: unknown) => record(intended, 0, errorClassOf(error), {}),
      )
      .catch((error: unknown) => (internalError ??= error))
      .finally(() => {
        active -= 1;
        pump();
      });
  };

  /** Gives up queued requests past their timeout, then sends while connections are free. */
  const pump = () => {
    const now = performance.now();
    while (head < queue.length && now - (queue[head] as number) >= timeoutMs) {
      record(queue[head] as number, 0, 'timeout', {});
      head += 1;
    }
    while (active < connections && head < queue.length) {
      dispatch(queue[head] as number);
      head += 1;
    }
    if (head > 4096 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
  };

  const enqueue = (intended: number) => {
    scheduled += 1;
    const lag = performance.now() - intended;
    lagSum += lag;
    maxLag = Math.max(maxLag, lag);
    if (lag > 5) lateSends += 1;
    queue.push(intended);
    maxQueued = Math.max(maxQueued, queue.length - head);
  };

  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      if (options.signal?.aborted === true) {
        aborted = true;
        resolve();
        return;
      }
      const now = performance.now();
      while (next < total && start + next * interval <= now) {
        enqueue(start + next * interval);
        next += 1;
      }
      pump();
      if (next >= total) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  if (aborted) {
    while (head < queue.length) {
      record(queue[head] as number, 0, 'aborted', {});
      head += 1;
    }
  }
  schedulingDone = true;
  if (settled === scheduled) drained();
  // Queued requests expire on this clock; sent ones end by the transport's
  // timeouts. The guard covers a pool that never settles a request.
  const expiry = setInterval(pump, 50);
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([allDrained, new Promise<void>((resolve) => (guard = setTimeout(resolve, 2 * timeoutMs + 5000)))]);
  clearInterval(expiry);
  clearTimeout(guard);
  await pool.destroy();
  if (internalError !== undefined) throw new Error('the sample callback failed', { cause: internalError });

  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = Math.max(1, performance.now() - start);
  const perSecond: SecondSummary[] = seconds.map((slot, second) => {
    const sorted = [...(slot?.latencies ?? [])].sort((a, b) => a - b);
    const round = (v: number) => Math.round(v * 1000) / 1000;
    return {
      second,
      requests: sorted.length,
      errors: slot?.errors ?? 0,
      p50: round(percentile(sorted, 50)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted.at(-1) ?? 0),
    };
  });
  return {
    url: options.url,
    rate,
    durationSec,
    warmupSec,
    connections,
    timeoutMs,
    startedAt,
    scheduled,
    sent,
    completed,
    measured,
    ok,
    errors,
    errorRate: measured === 0 ? 0 : errors / measured,
    byStatus,
    byErrorClass,
    latencyMs: summarize(all),
    okLatencyMs: summarize(okOnly),
    achievedRate: Math.round((completed / Math.max(1, lastAnswerAt - start)) * 1000 * 10) / 10,
    sendRate: sent < 2 ? sent : Math.round(((sent - 1) / Math.max(1, lastSendAt - start)) * 1000 * 10) / 10,
    generator: {
      maxLagMs: Math.round(maxLag * 1000) / 1000,
      meanLagMs: sent === 0 ? 0 : Math.round((lagSum / sent) * 1000) / 1000,
      lateSends,
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
      maxInFlight,
      maxQueued,
    },
    perSecond,
    aborted,
  };
}
