// The two baselines the benchmark compares the coalescing allocator with:
// `naive`, one `UPDATE ... + 1` statement per request (every request queues
// on the counter row's lock and pays a commit of its own), and `constant`,
// no database at all (the ceiling set by HTTP, helmet and logging alone).
// Selected by COUNTER_ALLOCATOR; never the production default.

import type { Queryable } from '../db.js';
import { incrementOnce } from './ledger.js';
import { UnavailableError, type Allocation, type Counter } from './types.js';
import { deadlineAfter, Waiter } from './waiter.js';

export function naiveCounter(db: Queryable, deadlineMs: number): Counter {
  return {
    // The request's deadline, as everywhere: a 503 when it passes; a value that comes later is lost.
    next: (signal) =>
      Waiter.promise(signal ?? deadlineAfter(deadlineMs), (waiter) => {
        waiter.watch();
        incrementOnce(db).then(
          (value) => void waiter.resolve({ value, consistency: 'exact' }),
          (error: unknown) => waiter.reject(new UnavailableError('database error', 1, { cause: error })),
        );
      }),
    close: () => Promise.resolve(),
  };
}

export function constantCounter(): Counter {
  const answer: Allocation = Object.freeze({ value: 1, consistency: 'exact' });
  return { next: () => Promise.resolve(answer), close: () => Promise.resolve() };
}
