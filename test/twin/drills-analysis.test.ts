// The drill harness's arithmetic on hand-made samples: phases, percentiles,
// recovery and exactness times, the counter check and goal verdicts. No
// twin needed; runs with the unit tests.

import test from 'ava';
import { duplicateExactValues, measure, percentile } from '../../twin/drills/analysis.js';
import { evaluateGoals, min2xxFraction, noIncrementLostOrDoubled, exactAgainWithin } from '../../twin/drills/goals.js';
import { renderMarkdown } from '../../twin/drills/report.js';
import { inFlightBound, rowsUntilOutOfRotation } from '../../twin/lb.js';
import type { Sample } from '../../twin/drills/sample.js';

const T0 = 1_700_000_000_000;
const ok = (at: number, counter: number, latencyMs = 5): Sample => ({
  intendedAt: T0 + at,
  latencyMs,
  status: 200,
  counter,
  consistency: 'exact',
});

test('percentile: nearest rank over a sorted array', (t) => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  t.is(percentile(sorted, 50), 50);
  t.is(percentile(sorted, 99), 99);
  t.is(percentile(sorted, 100), 100);
  t.true(Number.isNaN(percentile([], 50)));
});

test('measure: the warm-up is its own phase, left out of before, kept in the total and the counter check', (t) => {
  // A fresh generator's first second (slow), then a steady second before the fault.
  const samples: Sample[] = [ok(0, 1, 300), ok(500, 2, 200), ok(1500, 3, 5), ok(2500, 4, 6), ok(3000, 5, 4)];
  const m = measure(
    samples,
    5,
    { warmupEndsAt: T0 + 1000, faultStartedAt: T0 + 2000, faultEndedAt: T0 + 2000 },
    { before: 0, after: 5, databaseIncrease: 5, settleMs: 0 },
  );
  t.is(m.warmup.requests, 2);
  t.is(m.warmup.maxMs, 300);
  t.is(m.before.requests, 1);
  t.is(m.before.maxMs, 5);
  t.is(m.total.requests, 5);
  t.is(m.counter?.ok2xx, 5);
  t.is(m.counter?.lost, 0);
  const markdown = renderMarkdown({
    drill: 'x',
    description: 'x',
    startedAt: new Date(T0).toISOString(),
    machine: {},
    parameters: {},
    window: { faultAtMs: 2000, faultDurationMs: 0 },
    measures: m,
    facts: {},
    goals: [],
    pass: true,
  });
  t.regex(markdown, /^\| warm-up \| 2 \|/m);
  // Without a warm-up, everything before the fault is `before`, as it was.
  const plain = measure(samples, 5, { faultStartedAt: T0 + 2000, faultEndedAt: T0 + 2000 }, undefined);
  t.is(plain.warmup.requests, 0);
  t.is(plain.before.requests, 3);
});

test('duplicateExactValues: counts repeats among exact answers only', (t) => {
  const samples: Sample[] = [ok(0, 1), ok(1, 2), ok(2, 2), { ...ok(3, 1), consistency: 'provisional' }];
  t.is(duplicateExactValues(samples), 1);
});

test('measure: phases split at the fault, recovery and exactness from the last bad answer', (t) => {
  const samples: Sample[] = [
    ok(0, 1),
    ok(100, 2),
    { intendedAt: T0 + 1000, latencyMs: 1500, status: 0, errorClass: 'timeout' },
    { ...ok(1200, 7, 2000), consistency: 'provisional' },
    ok(4000, 3),
    ok(5000, 4),
  ];
  const m = measure(
    samples,
    6,
    { faultStartedAt: T0 + 1000, faultEndedAt: T0 + 1100 },
    {
      before: 10,
      after: 14,
      databaseIncrease: 4,
      settleMs: 0,
    },
  );
  t.is(m.before.requests, 2);
  t.is(m.recoverMs, 1500);
  t.is(m.exactAgainMs, 2200);
  t.is(m.during.requests, 2);
  t.deepEqual(m.during.errors, { timeout: 1 });
  t.is(m.after.requests, 2);
  t.is(m.total.ok2xx, 5);
  t.is(m.counter?.lost, 1);
  t.is(m.counter?.extra, 0);
  const goals = evaluateGoals([min2xxFraction(0.9999), noIncrementLostOrDoubled(), exactAgainWithin(2000)], m, {});
  t.deepEqual(
    goals.map((g) => [g.id, g.pass]),
    [
      ['availability', false],
      ['counter-exact', false],
      ['exact-again', false],
    ],
  );
});

test('measure: requests the generator never recorded count against availability', (t) => {
  const m = measure([ok(0, 1), ok(10, 2)], 4, { faultStartedAt: T0 + 5, faultEndedAt: T0 + 5 }, undefined);
  t.is(m.fraction2xx, 0.5);
  const [counter] = evaluateGoals([noIncrementLostOrDoubled()], m, {});
  t.false(counter?.pass);
});

test('renderMarkdown: names the verdict of every goal', (t) => {
  const m = measure(
    [ok(0, 1)],
    1,
    { faultStartedAt: T0, faultEndedAt: T0 },
    {
      before: 0,
      after: 1,
      databaseIncrease: 1,
      settleMs: 0,
    },
  );
  const goals = evaluateGoals([min2xxFraction(0.9999), noIncrementLostOrDoubled()], m, {});
  const text = renderMarkdown({
    drill: 'x',
    description: 'd',
    startedAt: 's',
    machine: {},
    parameters: {},
    window: { faultAtMs: 0, faultDurationMs: 0 },
    measures: m,
    facts: {},
    goals,
    pass: goals.every((g) => g.pass),
  });
  t.regex(text, /# Drill `x`: PASS/);
  t.is(text.match(/\| pass \|/g)?.length, 2);
});

test('inFlightBound: the sessions open before the kill plus those sent to the victim while it was killed', (t) => {
  const server = (name: string, sessions: number, total: number) => ({
    name,
    addr: '',
    status: 'UP',
    sessions,
    total,
    connects: 0,
    reuses: 0,
  });
  const before = [server('vm-a-1', 1, 500), server('vm-b-1', 2, 480)];
  // One request was dispatched to vm-a-1 after the read and before the kill
  // landed: reading the open sessions alone (1) misses it.
  const after = [server('vm-a-1', 0, 501), server('vm-b-1', 3, 490)];
  t.is(inFlightBound(['vm-a-1'], before, after), 2);
  t.is(inFlightBound(['vm-a-1', 'vm-b-1'], before, after), 2 + 12);
  // A victim already gone from the table after the kill: its open sessions still count.
  t.is(inFlightBound(['vm-a-1'], before, []), 1);
  t.is(inFlightBound(['vm-c-1'], before, after), 0);
});

test("rowsUntilOutOfRotation: reads until no victim is UP and keeps each victim's last, largest count", async (t) => {
  const row = (name: string, status: string, total: number) => ({
    name,
    addr: '',
    status,
    sessions: 0,
    total,
    connects: 0,
    reuses: 0,
  });
  const script = [
    [row('vm-a-1', 'UP', 500), row('vm-b-1', 'UP', 480)],
    // Requests still sent to the dead vm-a-1 until its checks fail.
    [row('vm-a-1', 'UP', 530), row('vm-b-1', 'UP', 495)],
    [row('vm-a-1', 'DOWN', 541), row('vm-b-1', 'UP', 510)],
    [row('vm-b-1', 'UP', 530)],
  ];
  let reads = 0;
  const read = () => Promise.resolve(script[Math.min(reads++, script.length - 1)] ?? []);
  const rows = await rowsUntilOutOfRotation(['vm-a-1'], 5_000, read, 1);
  t.is(reads, 3);
  t.deepEqual(rows, [row('vm-a-1', 'DOWN', 541)]);
  const before = [row('vm-a-1', 'UP', 500)].map((r) => ({ ...r, sessions: 2 }));
  t.is(inFlightBound(['vm-a-1'], before, rows), 2 + 41);

  // Deleted and re-added under its name (a recreated VM) between two reads: the old count stays.
  const recreated = [[row('vm-a-1', 'UP', 900)], [row('vm-a-1', 'DOWN', 0)]];
  let r2 = 0;
  const rows2 = await rowsUntilOutOfRotation(['vm-a-1'], 5_000, () => Promise.resolve(recreated[r2++] ?? []), 1);
  t.deepEqual(rows2, [row('vm-a-1', 'UP', 900)]);

  // Bounded: a victim that stays UP ends the reads at the timeout.
  const started = Date.now();
  const stuck = await rowsUntilOutOfRotation(['vm-a-1'], 200, () => Promise.resolve([row('vm-a-1', 'UP', 7)]), 20);
  t.true(Date.now() - started < 2_000);
  t.deepEqual(stuck, [row('vm-a-1', 'UP', 7)]);
});
