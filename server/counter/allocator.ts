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
// With a budget, a batch the database does not answer within it is reported
// (`onStall`) together with the requests queued behind it, and the allocator
// forgets them all: it only reports, its owner (degraded.ts) decides what the
// requests get and settles the batch. Control runs one way: the owner calls
// the allocator (`next`, `enqueue`, `keepSpare`, `lastCommitted`), never the
// reverse.

import type { Queryable } from '../db.js';
import type { Logger } from '../log.js';
import { batchId } from './batch-id.js';
import { BatchCancelledError, commitBatch, fenceBatch, type Range } from './ledger.js';
import { backoff, sleep, within } from '../timing.js';
import {
  noMetrics,
  UnavailableError,
  type Allocation,
  type Counter,
  type CounterMetrics,
  type Deadline,
} from './types.js';
import { deadlineAfter, deadlineError, Waiter } from './waiter.js';

export interface Batch {
  readonly id: string;
  readonly n: number;
}

/**
 * A batch that the database did not answer within the budget, given up with
 * the requests queued behind it. Whoever receives it owns all of it: it must
 * answer every waiter by its deadline (the allocator no longer sweeps them)
 * and settle the batch, whose statement may still commit all `batch.n` under
 * its id, including the increments of waiters already answered 503.
 */
export interface Stall {
  readonly batch: Batch;
  readonly waiters: readonly Waiter[];
  /** The batch's statement in flight. */
  readonly pending: Promise<Range>;
  readonly queued: readonly Waiter[];
}

export interface AllocatorOptions {
  readonly db: Queryable;
  readonly log: Logger;
  readonly maxBatch: number;
  readonly deadlineMs: number;
  /** How long a batch may wait on the database before it is given up to `onStall`. */
  readonly budgetMs?: number;
  /** Receives each stalled batch; without it, a batch is retried for as long as its requests wait. */
  readonly onStall?: (stall: Stall) => void;
  readonly metrics?: CounterMetrics;
  readonly retryDelayMs?: number;
}

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
  private highest = 0;
  private readonly metrics: CounterMetrics;

  constructor(private readonly options: AllocatorOptions) {
    this.metrics = options.metrics ?? noMetrics;
  }

  next(signal?: Deadline): Promise<Allocation> {
    if (this.closed) return Promise.reject(new UnavailableError('shutting down'));
    const deadline = signal ?? deadlineAfter(this.options.deadlineMs);
    if (deadline.aborted) return Promise.reject(deadlineError());
    return Waiter.promise(deadline, (waiter) => this.enqueue(waiter));
  }

  /** Queues a request that already waits elsewhere (held during a replay), keeping its deadline. */
  enqueue(waiter: Waiter): void {
    if (waiter.done) return;
    if (this.closed) return waiter.reject(new UnavailableError('shutting down'));
    this.queue.push(waiter);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(10, Math.min(50, this.options.deadlineMs / 20)));
    this.pump();
  }

  /** Number of requests waiting for a value (metrics, tests). */
  get waiting(): number {
    return this.queue.length;
  }

  /** The highest value this allocator has seen committed (0 before the first commit). */
  get lastCommitted(): number {
    return this.highest;
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

  /** Answers 503 to every waiter past its deadline; stops when nobody waits. */
  private sweep(): void {
    let kept = 0;
    for (const w of this.queue) if (!w.expireIfDue() && !w.done) this.queue[kept++] = w;
    this.queue.length = kept;
    for (const w of this.current) w.expireIfDue();
    if (this.queue.length === 0 && this.current.every((w) => w.done)) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private pump(): void {
    this.serveSpares();
    if (this.inFlight !== undefined) return;
    const waiters = this.queue.splice(0, this.options.maxBatch).filter((w) => !w.expireIfDue() && !w.done);
    this.metrics.queueDepth(this.queue.length);
    if (waiters.length === 0) return;
    this.current = waiters;
    const batch: Batch = { id: batchId(), n: waiters.length };
    this.metrics.batchSize(batch.n);
    this.inFlight = this.run(batch, waiters)
      .catch((err: unknown) => this.options.log.error({ err, batch: batch.id }, 'batch failed unexpectedly'))
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
      if (waiter === undefined || range === undefined || waiter.expireIfDue() || waiter.done) continue;
      waiter.resolve({ value: range.first, consistency: 'exact' });
      if (range.first === range.last) this.spares.shift();
      else this.spares[0] = { first: range.first + 1, last: range.last };
    }
  }

  private async run(batch: Batch, waiters: Waiter[]): Promise<void> {
    const { db, onStall } = this.options;
    const budgetMs =
      onStall === undefined ? Number.POSITIVE_INFINITY : (this.options.budgetMs ?? Number.POSITIVE_INFINITY);
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
          for (const w of waiters) w.reject(new UnavailableError('batch cancelled'));
          return;
        }
        const delay = this.backoff(attempt);
        if (onStall !== undefined && Date.now() + delay - started >= budgetMs) {
          return this.giveUp(batch, waiters, pending, onStall, error);
        }
        this.metrics.batchOutcome('retried');
        this.options.log.warn(
          { err: error, batch: batch.id, attempt },
          'batch outcome unknown, retrying with the same id',
        );
        await sleep(delay);
      }
    }
  }

  private async withinBudget(pending: Promise<Range>, budgetMs: number): Promise<Range | typeof BUDGET_EXCEEDED> {
    if (budgetMs === Number.POSITIVE_INFINITY) return pending;
    if (budgetMs <= 0) return BUDGET_EXCEEDED;
    return within(pending, budgetMs, BUDGET_EXCEEDED);
  }

  /** Reports the batch, and the requests queued behind it (they would only meet the same database), and forgets them. */
  private giveUp(
    batch: Batch,
    waiters: Waiter[],
    pending: Promise<Range>,
    onStall: (s: Stall) => void,
    cause: unknown,
  ) {
    pending.catch(() => undefined);
    this.options.log.warn({ err: cause, batch: batch.id }, 'batch unanswered within the budget: handing it off');
    this.metrics.batchOutcome('handed_off');
    onStall({ batch, waiters, pending, queued: this.queue.splice(0) });
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
            { err: error, batch: batch.id, n: batch.n },
            'shutdown with an unsettled batch: outcome unknown',
          );
          this.metrics.unhanded?.(batch.n, 'lost');
          return;
        }
        this.options.log.warn({ err: error, batch: batch.id, attempt }, 'fencing an abandoned batch failed, retrying');
        await sleep(this.backoff(attempt));
      }
    }
  }

  /** Exponential backoff between attempts on a batch, capped at a second. */
  private backoff(attempt: number): number {
    return backoff(attempt, this.options.retryDelayMs ?? 20, 1000);
  }

  private deliver(waiters: Waiter[], range: Range): void {
    this.metrics.batchOutcome('committed');
    this.highest = Math.max(this.highest, range.last);
    let value = range.first;
    const orphaned: Range[] = [];
    for (const waiter of waiters) {
      // A deadline that passed while the statement ran is a 503, even if the sweeper has not seen it yet.
      waiter.expireIfDue();
      if (!waiter.resolve({ value, consistency: 'exact' })) orphaned.push({ first: value, last: value });
      value += 1;
    }
    for (const r of orphaned) this.keepSpare(r);
  }

  /** Committed values whose requests were answered 503 (here or by the owner of a stalled batch): handed to the next requests. */
  keepSpare(range: Range): void {
    this.highest = Math.max(this.highest, range.last);
    this.metrics.batchOutcome('orphaned');
    this.metrics.unhanded?.(range.last - range.first + 1, 'spare');
    this.spares.push(range);
    this.spares.sort((a, b) => a.first - b.first);
    this.options.log.warn(
      { first: range.first, last: range.last },
      'committed values outlived their requests; kept as spares',
    );
  }
}
