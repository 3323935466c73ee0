// The open-loop generator as a command, for drills and runs from another
// machine (or from inside a network namespace with `ip netns exec`): sends
// POST requests at a fixed rate, writes every sample as one NDJSON line to
// --samples and prints the summary as JSON on stdout.
// Usage: node --import tsx bench/open-loop.ts --url URL --rate R --duration S
//          [--connections N] [--timeout MS] [--warmup S] [--insecure] [--samples FILE.ndjson]
// Exit status: 0 when it ran (whatever the service answered), 2 on bad arguments, 1 otherwise.

import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { runOpenLoop, type Sample } from './lib/open-loop.js';

function fail(message: string, code: number): never {
  process.stderr.write(`open-loop: ${message}\n`);
  process.exit(code);
}

function positive(name: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    fail(`--${name} must be a positive ${integer ? 'integer' : 'number'} (got ${value})`, 2);
  return n;
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      url: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      timeout: { type: 'string' },
      warmup: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      samples: { type: 'string' },
    },
    strict: true,
  }).values;
} catch (error) {
  fail((error as Error).message, 2);
}
const args = parsed;
if (args.url === undefined || !/^https?:\/\//.test(args.url)) fail('--url http(s)://host[:port]/path is required', 2);
const rate = positive('rate', args.rate) ?? fail('--rate is required', 2);
const duration = positive('duration', args.duration) ?? fail('--duration is required', 2);
const connections = positive('connections', args.connections, true);
const timeoutMs = positive('timeout', args.timeout, true);
const warmup = args.warmup === undefined ? undefined : Number(args.warmup);
if (warmup !== undefined && !(warmup >= 0 && warmup < duration)) fail('--warmup must be in [0, duration)', 2);

let out: WriteStream | undefined;
if (args.samples !== undefined) {
  out = createWriteStream(args.samples);
  await once(out, 'open');
}
const controller = new AbortController();
const stop = () => controller.abort();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

try {
  const result = await runOpenLoop({
    url: args.url,
    rate,
    durationSec: duration,
    connections,
    timeoutMs,
    warmupSec: warmup,
    insecureTls: args.insecure,
    signal: controller.signal,
    onSample: out === undefined ? undefined : (s: Sample) => void out.write(`${JSON.stringify(s)}\n`),
  });
  if (out !== undefined) {
    out.end();
    await once(out, 'finish');
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} catch (error) {
  fail(error instanceof Error ? (error.stack ?? error.message) : String(error), 1);
}
