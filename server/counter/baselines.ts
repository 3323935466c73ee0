// The two baselines the benchmark compares the coalescing allocator with:
// `naive`, one `UPDATE ... + 1` statement per request (every request queues
// on the counter row's lock and pays a commit of its own), and `constant`,
// no database at all (the ceiling set by HTTP, helmet and logging alone).
// Selected by COUNTER_ALLOCATOR; never the production default.

import type { Queryable } from '../db.js';
import { incrementOnce } from './ledger.js';
import { UnavailableError, type Allocation, type Counter } from './types.js';

export function naiveCounter(db: Queryable, deadlineMs: number): Counter {
  return {
    next: async () => {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new UnavailableError('no counter value within the request deadline')),
          deadlineMs,
        );
      });
      try {
        const value = await Promise.race([incrementOnce(db), expired]);
        return { value, consistency: 'exact' };
      } catch (error) {
        if (error instanceof UnavailableError) throw error;
        throw new UnavailableError(`database error: ${String(error)}`);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => Promise.resolve(),
  };
}

export function constantCounter(): Counter {
  const answer: Allocation = Object.freeze({ value: 1, consistency: 'exact' });
  return { next: () => Promise.resolve(answer), close: () => Promise.resolve() };
}
