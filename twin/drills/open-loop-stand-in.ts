// A minimal open-loop generator with the same command line and sample shape
// as bench/open-loop.ts, used by the drill harness only while that generator
// is not on this branch (REPLACE with bench/open-loop.ts once merged; the
// harness prefers it automatically when the file exists). Requests are
// scheduled at a fixed arrival rate and latency is measured from the intended
// send time, so a stalled server shows up as latency, not as fewer requests.
// Samples are streamed as NDJSON while the run goes on.
// Usage: node --import tsx twin/drills/open-loop-stand-in.ts --url URL --rate R
//        --duration S [--insecure] --samples FILE.ndjson [--timeout-ms 10000]

import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import type { Sample } from './sample.js';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    rate: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
    insecure: { type: 'boolean', default: false },
    samples: { type: 'string' },
    'timeout-ms': { type: 'string', default: '10000' },
    connections: { type: 'string', default: '256' },
  },
});
const rate = Number(args.rate);
const durationS = Number(args.duration);
const timeoutMs = Number(args['timeout-ms']);
if (args.url === undefined || args.samples === undefined || !(rate > 0) || !(durationS > 0) || !(timeoutMs > 0)) {
  console.error('usage: --url URL --rate R --duration S --samples FILE [--insecure] [--timeout-ms MS]');
  process.exit(2);
}
const url = args.url;
const out = createWriteStream(args.samples);
const agent = new Agent({
  connections: Number(args.connections),
  pipelining: 1,
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs,
  connect: { rejectUnauthorized: !args.insecure, timeout: timeoutMs },
});

function classify(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return 'timeout';
  }
  return typeof code === 'string' ? code : 'error';
}

async function one(intendedAt: number): Promise<void> {
  let sample: Sample;
  try {
    const res = await request(url, { method: 'POST', dispatcher: agent, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.body.text();
    const latencyMs = Date.now() - intendedAt;
    const consistency = res.headers['counter-consistency'];
    let counter: number | undefined;
    try {
      const parsed = JSON.parse(text) as { counter?: unknown };
      counter = typeof parsed.counter === 'number' ? parsed.counter : undefined;
    } catch {
      counter = undefined;
    }
    sample = {
      intendedAt,
      latencyMs,
      status: res.statusCode,
      ...(counter === undefined ? {} : { counter }),
      ...(typeof consistency === 'string' ? { consistency } : {}),
    };
  } catch (err) {
    sample = { intendedAt, latencyMs: Date.now() - intendedAt, status: 0, errorClass: classify(err) };
  }
  out.write(`${JSON.stringify(sample)}\n`);
}

const total = Math.round(rate * durationS);
const intervalMs = 1000 / rate;
const t0 = Date.now() + 50;
const inFlight = new Set<Promise<void>>();
let sent = 0;
// Bounded: the loop ends after `total` requests, at most duration + 1 s late.
while (sent < total && Date.now() < t0 + (durationS + 1) * 1000 + timeoutMs) {
  const now = Date.now();
  while (sent < total && t0 + sent * intervalMs <= now) {
    const p = one(Math.round(t0 + sent * intervalMs));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    sent += 1;
  }
  const next = t0 + sent * intervalMs;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(10, next - Date.now()))));
}
await Promise.allSettled([...inFlight]);
await new Promise<void>((resolve) => out.end(resolve));
await agent.close();
