// A small load generator for tests: sends a fixed number of POSTs with a
// fixed concurrency over keep-alive connections and records every outcome
// (status, counter value, consistency header, or the transport error). Each
// request has a timeout, so a run is bounded in count and in time.

import http from 'node:http';

export interface Outcome {
  readonly status: number | undefined;
  readonly counter: number | undefined;
  readonly consistency: string | undefined;
  readonly retryAfter: string | undefined;
  readonly error: string | undefined;
  /** From sending the request to the end of its answer (or its failure), in ms. */
  readonly ms: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly total: number;
  readonly concurrency: number;
  readonly timeoutMs?: number;
  /** Stop early when this returns true (checked between requests). */
  readonly stop?: () => boolean;
  /** Pause between a connection's requests, to spread a run over time. */
  readonly pauseMs?: number;
}

export function post(url: string, agent: http.Agent, timeoutMs: number, body = ''): Promise<Outcome> {
  const started = performance.now();
  return new Promise<Omit<Outcome, 'ms'>>((resolve) => {
    const request = http.request(
      url,
      { method: 'POST', agent, timeout: timeoutMs, headers: { 'content-length': Buffer.byteLength(body) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          let counter: number | undefined;
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { counter?: unknown };
            if (typeof parsed.counter === 'number') counter = parsed.counter;
          } catch {
            // Not JSON: leave counter undefined.
          }
          const header = (name: string) => {
            const value = response.headers[name];
            return Array.isArray(value) ? value[0] : value;
          };
          resolve({
            status: response.statusCode,
            counter,
            consistency: header('counter-consistency'),
            retryAfter: header('retry-after'),
            error: undefined,
          });
        });
        response.on('error', (error) =>
          resolve({
            status: undefined,
            counter: undefined,
            consistency: undefined,
            retryAfter: undefined,
            error: error.message,
          }),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) =>
      resolve({
        status: undefined,
        counter: undefined,
        consistency: undefined,
        retryAfter: undefined,
        error: error.message,
      }),
    );
    request.end(body);
  }).then((outcome) => ({ ...outcome, ms: performance.now() - started }));
}

export async function load(options: LoadOptions): Promise<Outcome[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const outcomes: Outcome[] = [];
  let issued = 0;
  const lane = async () => {
    while (issued < options.total && options.stop?.() !== true) {
      issued += 1;
      outcomes.push(await post(options.url, agent, options.timeoutMs ?? 10_000));
      if (options.pauseMs !== undefined) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, lane));
  agent.destroy();
  return outcomes;
}

/** Sorted counter values of the 2xx outcomes. */
export function successValues(outcomes: readonly Outcome[], consistency?: string): number[] {
  return outcomes
    .filter(
      (o) =>
        o.status !== undefined &&
        o.status >= 200 &&
        o.status < 300 &&
        (consistency === undefined || o.consistency === consistency),
    )
    .map((o) => o.counter as number)
    .sort((a, b) => a - b);
}

/** Describes why `values` is not exactly start+1 … start+values.length (undefined if it is). */
export function contiguityProblem(values: readonly number[], start = 0): string | undefined {
  for (let i = 0; i < values.length; i += 1) {
    if (values[i] !== start + i + 1)
      return `position ${i}: expected ${start + i + 1}, got ${String(values[i])} (of ${values.length} values)`;
  }
  return undefined;
}
