// The open-loop generator against a server in another process: requests
// leave on the clock, latency counts from the intended send time, so one
// stall of the server shows in the tail; a closed loop over the same stall
// shows it as a single slow request and hides it. Also how outcomes are
// classified and that a request queued past its timeout is never sent.

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Pool } from 'undici';
import { runOpenLoop, type Sample } from '../../bench/lib/open-loop.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(path.join(here, 'helpers', 'stall-server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, url: `http://127.0.0.1:${message.port}/` };
}

function stall(
  child: ChildProcess,
  stallAt: number,
  stallMs: number,
): Promise<{ stalledFrom: number; stalledTo: number }> {
  child.send({ stallAt, stallMs });
  return once(child, 'message').then(([m]) => m as { stalledFrom: number; stalledTo: number });
}

const STALL_MS = 600;

test('open loop: requests are scheduled on the clock, and a server stall shows in p99 from intended send time', async (t) => {
  const { child, url } = await startServer();
  t.teardown(() => child.kill());
  const samples: Sample[] = [];
  const begin = Date.now();
  const stalled = stall(child, begin + 1500, STALL_MS);
  const result = await runOpenLoop({
    url,
    rate: 200,
    durationSec: 3,
    connections: 8,
    onSample: (s) => samples.push(s),
  });
  const { stalledFrom, stalledTo } = await stalled;

  t.is(result.scheduled, 600);
  t.is(result.sent, 600);
  t.is(result.ok, 600);
  t.is(samples.length, 600);
  // The schedule is exact: intended times 5 ms apart, whatever the answers did.
  const intended = samples.map((s) => s.intendedAt).sort((a, b) => a - b);
  const gaps = intended.slice(1).map((v, i) => v - (intended[i] as number));
  t.true(
    gaps.every((g) => Math.abs(g - 5) < 0.01),
    `gaps between intended times: ${Math.min(...gaps)}..${Math.max(...gaps)}`,
  );
  // Every counter was received once.
  t.is(new Set(samples.map((s) => s.counter)).size, 600);
  // About STALL_MS * 200 / 1000 = 120 requests were due during the stall
  // (20 % of the run), each waiting until its end: the corrected p99 shows it.
  const due = samples.filter((s) => s.intendedAt >= stalledFrom && s.intendedAt < stalledTo - 50);
  t.true(due.length >= 80, `${due.length} requests due during the stall`);
  t.true(
    due.every((s) => s.latencyMs >= stalledTo - s.intendedAt - 5),
    'each waited until the stall ended',
  );
  t.true(result.latencyMs.p99 >= 0.8 * STALL_MS, `open-loop p99 ${result.latencyMs.p99} ms`);
  t.true(result.latencyMs.p90 >= 0.2 * STALL_MS, `open-loop p90 ${result.latencyMs.p90} ms`);
});

test('closed loop over the same stall: one slow request among many, so its p99 hides what the open loop shows', async (t) => {
  const { child, url } = await startServer();
  t.teardown(() => child.kill());
  const pool = new Pool(new URL(url).origin, { connections: 1 });
  t.teardown(() => pool.destroy());
  for (let i = 0; i < 20; i += 1) await (await pool.request({ path: '/', method: 'POST', body: '{}' })).body.text();
  const latencies: number[] = [];
  let stallOver = false;
  const stalled = stall(child, Date.now() + 500, STALL_MS).then((m) => {
    stallOver = true;
    return m;
  });
  // Sequential requests on one connection until the stall is over and at
  // least 300 were measured (bounded in time).
  const bound = Date.now() + 30_000;
  while ((!stallOver || latencies.length < 300) && Date.now() < bound) {
    const sent = performance.now();
    const response = await pool.request({ path: '/', method: 'POST', body: '{}' });
    await response.body.text();
    latencies.push(performance.now() - sent);
  }
  await stalled;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.ceil(0.99 * latencies.length) - 1] as number;
  const slow = latencies.filter((l) => l >= 0.8 * STALL_MS).length;
  t.true(latencies.length >= 300, `${latencies.length} closed-loop requests`);
  // The stall is there, but as one slow request: the loop waited instead of sending.
  t.true(slow >= 1 && slow < latencies.length / 100, `${slow} closed-loop requests slower than ${0.8 * STALL_MS} ms`);
  t.true(p99 < 0.8 * STALL_MS, `closed-loop p99 ${p99} ms`);
});

test('open loop: outcomes are classified (5xx, 2xx without a counter, refused) and counted', async (t) => {
  const { child, url } = await startServer();
  t.teardown(() => child.kill());
  const fiveHundred = await runOpenLoop({ url: `${url}500`, rate: 50, durationSec: 0.2 });
  t.deepEqual(fiveHundred.byErrorClass, { http_5xx: 10 });
  t.deepEqual(fiveHundred.byStatus, { 500: 10 });
  t.is(fiveHundred.errorRate, 1);
  const bad = await runOpenLoop({ url: `${url}bad`, rate: 50, durationSec: 0.2 });
  t.deepEqual(bad.byErrorClass, { bad_body: 10 });
  child.kill();
  await once(child, 'exit');
  const refused = await runOpenLoop({ url, rate: 50, durationSec: 0.2, timeoutMs: 2000 });
  t.deepEqual(refused.byErrorClass, { refused: 10 });
  t.is(refused.completed, 0);
});

test('open loop: a request that waits in the generator past its timeout is given up unsent, and the run is bounded', async (t) => {
  const { child, url } = await startServer();
  t.teardown(() => child.kill());
  const samples: Sample[] = [];
  const started = Date.now();
  const result = await runOpenLoop({
    url: `${url}hang`,
    rate: 40,
    durationSec: 0.5,
    connections: 2,
    timeoutMs: 500,
    onSample: (s) => samples.push(s),
  });
  t.is(result.scheduled, 20);
  // Two requests take the two connections and hang. A connection freed when
  // one of them times out may take a queued request that is still within its
  // own deadline (correct: it is sent), so the exact count depends on the
  // scheduler; what may not happen is a queued request sent after it expired.
  const unsent = samples.filter((s) => s.notSent === true).length;
  t.true(result.sent >= 2 && result.sent < result.scheduled, `sent ${result.sent} of ${result.scheduled}`);
  t.is(unsent, result.scheduled - result.sent, 'every request not sent is reported as expired unsent');
  t.true(unsent >= result.scheduled / 2, 'most requests expired in the queue');
  t.deepEqual(result.byErrorClass, { timeout: 20 });
  t.true(samples.every((s) => s.status === 0 && s.errorClass === 'timeout' && s.latencyMs >= 495));
  t.true(Date.now() - started < 5000);
});
