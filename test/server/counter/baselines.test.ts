// The naive baseline must be as honest as the allocator it is compared with:
// a request whose UPDATE reached the database is never answered 503, or the
// benchmark's check (database increase = 2xx answers) fails for the baseline
// and the comparison is with a counter that loses values.

import test from 'ava';
import type { Queryable } from '../../../server/db.js';
import { naiveCounter } from '../../../server/counter/baselines.js';

/** A database whose UPDATE commits after `delayMs`, counting what it committed. */
function slowDatabase(delayMs: number): Queryable & { committed: () => number } {
  let value = 0;
  return {
    committed: () => value,
    query: async <R>() => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      value += 1;
      return [{ value }] as R[];
    },
  };
}

test('naive baseline: an UPDATE that commits after the request deadline still answers its value', async (t) => {
  const db = slowDatabase(120);
  const counter = naiveCounter(db);
  // A 30 ms deadline, as the HTTP layer would pass it.
  const deadline = AbortSignal.timeout(30);
  const results = await Promise.allSettled([counter.next(deadline), counter.next(deadline), counter.next(deadline)]);
  const answered = results.filter((r) => r.status === 'fulfilled').length;
  t.is(db.committed(), 3, 'every statement committed');
  t.is(answered, db.committed(), 'every committed value was answered, none 503');
  const values = results.map((r) => (r.status === 'fulfilled' ? r.value.value : undefined)).sort();
  t.deepEqual(values, [1, 2, 3]);
});

test('naive baseline: a failing UPDATE is a 503 (UnavailableError), and nothing is counted', async (t) => {
  const db: Queryable = { query: () => Promise.reject(new Error('connection refused')) };
  const counter = naiveCounter(db);
  const error = await t.throwsAsync(counter.next());
  t.is(error?.name, 'UnavailableError');
});
