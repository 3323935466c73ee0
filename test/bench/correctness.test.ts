// The benchmark's correctness check on its own: what makes a run fail
// (a repeated exact value, a database increase that is not the 2xx count)
// and the two allowances the service's contract gives (provisional values
// may repeat; a sent request without an answer may or may not be counted).

import test from 'ava';
import { CounterLedger } from '../../bench/lib/correctness.js';
import { ladder, midpoint } from '../../bench/lib/plan.js';

function ledgerOf(values: number[]): CounterLedger {
  const ledger = new CounterLedger();
  for (const counter of values) ledger.add({ status: 200, counter, consistency: 'exact' });
  return ledger;
}

test('correctness: unique values matching the database increase pass', (t) => {
  const check = ledgerOf([11, 13, 12]).check({ before: 10, after: 13 });
  t.true(check.ok, check.summary);
  t.is(check.answers2xx, 3);
});

test('correctness: a repeated exact value fails, with or without the database', (t) => {
  const withDb = ledgerOf([11, 12, 12]).check({ before: 10, after: 13 });
  t.false(withDb.ok);
  t.is(withDb.duplicates, 1);
  t.regex(withDb.summary, /FAILED: 1 values handed out more than once \(first: 12\)/);
  t.false(ledgerOf([5, 5]).check().ok);
});

test('correctness: a database increase other than the 2xx count fails, both ways', (t) => {
  t.regex(
    ledgerOf([11, 12]).check({ before: 10, after: 13 }).summary,
    /FAILED: database \+3 but 2 2xx answers and 0 sent requests without an answer/,
  );
  t.false(ledgerOf([11, 12, 13]).check({ before: 10, after: 12 }).ok);
});

test('correctness: a 2xx without a counter fails', (t) => {
  const ledger = ledgerOf([1]);
  ledger.add({ status: 200 });
  t.regex(ledger.check().summary, /1 2xx answers without a counter/);
});

test('correctness: provisional values may repeat but count as increments', (t) => {
  const ledger = ledgerOf([11, 12]);
  ledger.add({ status: 200, counter: 12, consistency: 'provisional' });
  t.true(ledger.check({ before: 10, after: 13 }).ok);
  t.false(ledger.check({ before: 10, after: 12 }).ok);
});

test('correctness: a sent request without an answer allows one uncounted increment, an unsent one none', (t) => {
  const ledger = ledgerOf([11, 12]);
  ledger.add({ status: 0 });
  ledger.add({ status: 0, notSent: true });
  ledger.add({ status: 503 });
  t.true(ledger.check({ before: 10, after: 12 }).ok);
  t.true(ledger.check({ before: 10, after: 13 }).ok);
  t.false(ledger.check({ before: 10, after: 14 }).ok);
});

test('plan: the ladder doubles after the given steps up to the maximum, and midpoints round to two digits', (t) => {
  t.deepEqual(
    ladder([1, 10, 100, 250, 500, 1000, 2000, 4000], 20_000),
    [1, 10, 100, 250, 500, 1000, 2000, 4000, 8000, 16000],
  );
  t.deepEqual(ladder([20, 40], 40), [20, 40]);
  t.is(midpoint(4000, 8000), 6000);
  t.is(midpoint(250, 500), 380);
  t.is(midpoint(1, 2), undefined);
});
