// The coalescing allocator: application-level group commit. A worker keeps at
// most one batch statement in flight; requests that arrive meanwhile wait in a
// FIFO queue, and the next statement serves all of them at once, handing out
// first..last in arrival order. The batch size follows the load with no timer.
//
// A batch whose commit outcome is unknown is retried under the same id (see
// ledger.ts), so no value is ever handed out twice. If every request of a
// batch gave up first, the batch is fenced instead of retried; values that
// committed after their requests gave up are kept as spares and handed to the
// next requests, so committed values are never skipped while the worker runs.
// A fallback (degraded mode) can take over a batch the database does not
// answer within the budget.

import type { Queryable } from '../db.js';
import type { Logger } from '../log.js';
import { batchId } from './batch-id.js';
import { BatchCancelledError, commitBatch, fenceBatch, type Range } from './ledger.js';
import { noMetrics, UnavailableError, type Allocation, type Counter, type CounterMetrics } from './types.js';

interface Waiter {
  readonly resolve: (allocation: Allocation) => void;
  readonly reject: (error: Error) => void;
  readonly deadline: number;
  done: boolean;
}

export interface Batch {
  readonly id: string;
  readonly n: number;
}

/** Takes over a batch that the database did not commit within the budget. */
export interface Fallback {
  /** Makes the batch durable elsewhere and returns its first provisional value; throws if it cannot. */
  absorb(batch: Batch, pending: Promise<Range>): Promise<number>;
  /** Told about every range committed by this allocator. */
  committed(range: Range): void;
  /** Answers a request that was still queued when its batch was handed off. */
  divert(): Promise<Allocation>;
}

export interface AllocatorOptions {
  readonly db: Queryable;
  readonly log: Logger;
  readonly maxBatch: number;
  readonly deadlineMs: number;
  /** How long a batch may wait on the database before the fallback takes it. */
  readonly budgetMs?: number;
  readonly fallback?: Fallback;
  readonly metrics?: CounterMetrics;
  readonly retryDelayMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const BUDGET_EXCEEDED = Symbol('budget exceeded');

export class CoalescingAllocator implements Counter {
  private readonly queue: Waiter[] = [];
  /** Waiters of the batch in flight (its requests can still time out). */
  private current: Waiter[] = [];
  /** One timer for every deadline: a per-request setTimeout costs more than the counter itself. */
  private sweeper: NodeJS.Timeout | undefined;
  private readonly spares: Range[] = [];
  private inFlight: Promise<void> | undefined;
  private closed = false;
  private readonly metrics: CounterMetrics;

  constructor(private readonly options: AllocatorOptions) {
    this.metrics = options.metrics ?? noMetrics;
  }

  next(): Promise<Allocation> {
    if (this.closed) return Promise.reject(new UnavailableError('shutting down'));
    return new Promise<Allocation>((resolve, reject) => {
      this.queue.push({ resolve, reject, deadline: Date.now() + this.options.deadlineMs, done: false });
      this.sweeper ??= setInterval(() => this.sweep(), Math.max(10, Math.min(100, this.options.deadlineMs / 10)));
      this.pump();
    });
  }

  /** Number of requests waiting for a value (metrics, tests). */
  get waiting(): number {
    return this.queue.length;
  }

  /** Committed values not yet handed out (metrics, tests). */
  get spareCount(): number {
    return this.spares.reduce((sum, r) => sum + r.last - r.first + 1, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.inFlight !== undefined) await this.inFlight;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Hands out every waiting request that a batch or a spare can serve. */
  /** Answers 503 to every waiter past its deadline; stops when nobody waits. */
  private sweep(): void {
    const now = Date.now();
    const expired = (w: Waiter) => !w.done && w.deadline <= now;
    const timeout = () => new UnavailableError('no counter value within the request deadline');
    // The queue is in arrival order, so expired waiters are at its head.
    while (this.queue.length > 0 && (this.queue[0] as Waiter).deadline <= now)
      this.settle(this.queue.shift() as Waiter, undefined, timeout());
    for (const w of this.current) if (expired(w)) this.settle(w, undefined, timeout());
    if (this.queue.length === 0 && this.current.every((w) => w.done)) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private pump(): void {
    this.serveSpares();
    if (this.inFlight !== undefined) return;
    const waiters = this.queue.splice(0, this.options.maxBatch).filter((w) => !w.done);
    this.metrics.queueDepth(this.queue.length);
    if (waiters.length === 0) return;
    this.current = waiters;
    const batch: Batch = { id: batchId(), n: waiters.length };
    this.metrics.batchSize(batch.n);
    this.inFlight = this.run(batch, waiters)
      .catch((error: unknown) =>
        this.options.log.error({ error: String(error), batch: batch.id }, 'batch failed unexpectedly'),
      )
      .finally(() => {
        this.inFlight = undefined;
        this.current = [];
        this.pump();
      });
  }

  private serveSpares(): void {
    while (this.spares.length > 0 && this.queue.length > 0) {
      const waiter = this.queue.shift();
      const range = this.spares[0];
      if (waiter === undefined || range === undefined || waiter.done) continue;
      this.settle(waiter, { value: range.first, consistency: 'exact' });
      if (range.first === range.last) this.spares.shift();
      else this.spares[0] = { first: range.first + 1, last: range.last };
    }
  }

  private async run(batch: Batch, waiters: Waiter[]): Promise<void> {
    const { db, fallback } = this.options;
    const budgetMs =
      fallback === undefined ? Number.POSITIVE_INFINITY : (this.options.budgetMs ?? Number.POSITIVE_INFINITY);
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      if (waiters.every((w) => w.done)) return this.fence(batch);
      const pending = commitBatch(db, batch.id, batch.n);
      try {
        const range = await this.withinBudget(pending, budgetMs - (Date.now() - started));
        if (range === BUDGET_EXCEEDED) throw new UnavailableError(`database did not answer within ${budgetMs} ms`);
        this.deliver(waiters, range);
        return;
      } catch (error) {
        if (error instanceof BatchCancelledError) {
          for (const w of waiters) this.settle(w, undefined, new UnavailableError('batch cancelled'));
          return;
        }
        const delay = this.backoff(attempt);
        if (fallback !== undefined && Date.now() + delay - started >= budgetMs) {
          if (await this.handOff(batch, waiters, pending, fallback, error)) return;
        } else {
          this.metrics.batchOutcome('retried');
          this.options.log.warn(
            { error: String(error), batch: batch.id, attempt },
            'batch outcome unknown, retrying with the same id',
          );
        }
        await sleep(delay);
      }
    }
  }

  private async withinBudget(pending: Promise<Range>, budgetMs: number): Promise<Range | typeof BUDGET_EXCEEDED> {
    if (budgetMs === Number.POSITIVE_INFINITY) return pending;
    if (budgetMs <= 0) return BUDGET_EXCEEDED;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<typeof BUDGET_EXCEEDED>((resolve) => {
      timer = setTimeout(() => resolve(BUDGET_EXCEEDED), budgetMs);
    });
    try {
      return await Promise.race([pending, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lets the fallback answer the batch; false if it could not (the batch then stays ours). */
  private async handOff(
    batch: Batch,
    waiters: Waiter[],
    pending: Promise<Range>,
    fallback: Fallback,
    cause: unknown,
  ): Promise<boolean> {
    pending.catch(() => undefined);
    try {
      const first = await fallback.absorb(batch, pending);
      waiters.forEach((w, i) => this.settle(w, { value: first + i, consistency: 'provisional' }));
      this.metrics.batchOutcome('handed_off');
      // Requests still queued would only meet the same database: hand them on too.
      this.requeue(fallback);
      return true;
    } catch (error) {
      this.options.log.error(
        { error: String(error), cause: String(cause), batch: batch.id },
        'fallback refused the batch',
      );
      for (const w of waiters)
        this.settle(w, undefined, new UnavailableError('database unavailable and journal unwritable', 2));
      return false;
    }
  }

  private requeue(fallback: Fallback): void {
    for (const waiter of this.queue.splice(0)) {
      if (waiter.done) continue;
      waiter.done = true;
      fallback.divert().then(waiter.resolve, waiter.reject);
    }
  }

  /** Every waiter of an unanswered batch left: make sure it never commits, or keep what it did commit. */
  private async fence(batch: Batch): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const outcome = await fenceBatch(this.options.db, batch.id);
        if (outcome.committed) this.keepSpare(outcome.range);
        this.metrics.batchOutcome('fenced');
        return;
      } catch (error) {
        if (this.closed) {
          // Shutting down with the database unreachable: its requests were
          // all answered 503; if it committed after all, its values are lost.
          this.options.log.error(
            { error: String(error), batch: batch.id, n: batch.n },
            'shutdown with an unsettled batch: outcome unknown',
          );
          return;
        }
        this.options.log.warn(
          { error: String(error), batch: batch.id, attempt },
          'fencing an abandoned batch failed, retrying',
        );
        await sleep(this.backoff(attempt));
      }
    }
  }

  /** Exponential backoff between attempts on a batch, capped at a second. */
  private backoff(attempt: number): number {
    return Math.min(1000, (this.options.retryDelayMs ?? 20) * 2 ** attempt);
  }

  private deliver(waiters: Waiter[], range: Range): void {
    this.metrics.batchOutcome('committed');
    this.options.fallback?.committed(range);
    let value = range.first;
    const orphaned: Range[] = [];
    for (const waiter of waiters) {
      if (waiter.done) orphaned.push({ first: value, last: value });
      else this.settle(waiter, { value, consistency: 'exact' });
      value += 1;
    }
    for (const r of orphaned) this.keepSpare(r);
  }

  private keepSpare(range: Range): void {
    this.metrics.batchOutcome('orphaned');
    this.spares.push(range);
    this.spares.sort((a, b) => a.first - b.first);
    this.options.log.warn(
      { first: range.first, last: range.last },
      'committed values outlived their requests; kept as spares',
    );
  }

  private settle(waiter: Waiter, allocation: Allocation | undefined, error?: Error): void {
    if (waiter.done) return;
    waiter.done = true;
    if (allocation !== undefined) waiter.resolve(allocation);
    else waiter.reject(error ?? new UnavailableError('unavailable'));
  }
}
