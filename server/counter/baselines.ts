// The two baselines the benchmark compares the coalescing allocator with:
// `naive`, one `UPDATE ... + 1` statement per request (every request queues
// on the counter row's lock and pays a commit of its own), and `constant`,
// no database at all (the ceiling set by HTTP, helmet and logging alone).
// Selected by COUNTER_ALLOCATOR; never the production default.

import type { Queryable } from '../db.js';
import { incrementOnce } from './ledger.js';
import { UnavailableError, type Allocation, type Counter } from './types.js';

export function naiveCounter(db: Queryable): Counter {
  return {
    // No request deadline once the statement is on its way: a value committed
    // after a 503 would be counted and never handed out. Waiting for a pool
    // connection is bounded by DB_CONNECT_TIMEOUT_MS (an error, nothing sent),
    // the statement by DB_QUERY_TIMEOUT_MS. Like every naive counter, it has no
    // ledger: a connection lost during COMMIT is a 503 whose increment may
    // have committed (the coalescing allocator's batch ledger closes that gap).
    next: () =>
      incrementOnce(db).then(
        (value) => ({ value, consistency: 'exact' as const }),
        (error: unknown) => {
          throw new UnavailableError('database error', 1, { cause: error });
        },
      ),
    close: () => Promise.resolve(),
  };
}

export function constantCounter(): Counter {
  const answer: Allocation = Object.freeze({ value: 1, consistency: 'exact' });
  return { next: () => Promise.resolve(answer), close: () => Promise.resolve() };
}
