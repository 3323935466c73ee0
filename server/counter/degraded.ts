// Degraded mode: the counter that stays up when the database does not.
//
// Normal mode is the coalescing allocator: exact, contiguous, linearizable.
// When a batch gets no answer within DB_BUDGET_MS (errors or silence), this
// counter takes the batch over (circuit breaker open): it writes the batch's
// id and size to the local journal, fsyncs, and answers with provisional
// values (last committed value seen + this worker's pending increments).
// Later requests skip the database and go straight to the journal, coalesced
// into one entry per fsync. A background probe watches the database; once it
// answers, the journal is replayed oldest first through the batch ledger (the
// same ids, so each entry is applied exactly once even if a replay is cut
// short and repeated), and when nothing is pending new requests are exact
// again. In the end the database counter equals the number of 2xx answers.

import type { Db } from '../db.js';
import type { Logger } from '../log.js';
import { batchId } from './batch-id.js';
import { CoalescingAllocator, type Batch, type Fallback } from './allocator.js';
import type { Journal, JournalEntry } from './journal.js';
import { commitBatches, fenceBatch, type Range } from './ledger.js';
import { noMetrics, UnavailableError, type Allocation, type Counter, type CounterMetrics } from './types.js';

export type Mode = 'exact' | 'degraded';

export interface DegradedCounterOptions {
  readonly db: Db;
  readonly log: Logger;
  readonly journal: Journal;
  readonly maxBatch: number;
  readonly deadlineMs: number;
  readonly budgetMs: number;
  readonly probeIntervalMs: number;
  /** Journal entries older than this are not replayed blindly (the ledger may have forgotten them). */
  readonly maxReplayAgeMs: number;
  /** Last committed value known before the first database answer (from the state file). */
  readonly lastCommitted?: number;
  readonly metrics?: CounterMetrics;
  readonly onReplay?: (entries: number, increments: number) => void;
  readonly onModeChange?: (mode: Mode, lastCommitted: number) => void;
  readonly replayChunk?: number;
}

interface Waiter {
  readonly resolve: (allocation: Allocation) => void;
  readonly reject: (error: Error) => void;
}

export class DegradedCounter implements Counter, Fallback {
  private modeNow: Mode = 'exact';
  private readonly allocator: CoalescingAllocator;
  private readonly waiting: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private recovering: Promise<void> | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly toFence: string[] = [];
  /** While the last journal entries are replayed, new requests wait here instead of being journaled. */
  private holding = false;
  private readonly held: Waiter[] = [];
  private last: number;
  private closed = false;

  constructor(private readonly options: DegradedCounterOptions) {
    this.last = options.lastCommitted ?? 0;
    this.allocator = new CoalescingAllocator({
      db: options.db,
      log: options.log,
      maxBatch: options.maxBatch,
      deadlineMs: options.deadlineMs,
      budgetMs: options.budgetMs,
      fallback: this,
      metrics: options.metrics ?? noMetrics,
    });
  }

  get mode(): Mode {
    return this.modeNow;
  }

  get lastCommitted(): number {
    return this.last;
  }

  /** Age in seconds of the oldest entry not yet applied (0 if none). */
  replayLagSeconds(): number {
    const [oldest] = this.options.journal.oldest(1);
    return oldest === undefined ? 0 : (Date.now() - oldest.at) / 1000;
  }

  next(): Promise<Allocation> {
    if (this.closed) return Promise.reject(new UnavailableError('shutting down'));
    if (this.modeNow === 'exact') return this.allocator.next();
    if (this.holding) return new Promise<Allocation>((resolve, reject) => this.held.push({ resolve, reject }));
    return this.divert();
  }

  /** Fallback: a request is answered from the journal. */
  divert(): Promise<Allocation> {
    return new Promise<Allocation>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.flush();
    });
  }

  /** Fallback: a batch the database did not answer in time is made durable locally. */
  async absorb(batch: Batch, pending: Promise<Range>): Promise<number> {
    const base = this.last + this.options.journal.pendingIncrements;
    this.enterDegraded(`batch ${batch.id} got no answer within ${this.options.budgetMs} ms`);
    await this.options.journal.add(batch.id, batch.n);
    // If the original statement commits after all, record it: replay would
    // find it through the ledger anyway, this only saves the round trip.
    pending.then(
      (range) => this.applied(batch.id, range),
      () => undefined,
    );
    return base + 1;
  }

  /** Fallback: the allocator committed a range. */
  committed(range: Range): void {
    if (range.last > this.last) this.last = range.last;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probeTimer);
    await this.allocator.close();
    while (this.flushing !== undefined) await this.flushing;
    while (this.recovering !== undefined) await this.recovering;
    await this.options.journal.close();
  }

  private enterDegraded(reason: string): void {
    if (this.modeNow === 'degraded') return;
    this.modeNow = 'degraded';
    this.options.log.warn(
      { reason, lastCommitted: this.last },
      'entering degraded mode: answering from the local journal',
    );
    this.options.onModeChange?.('degraded', this.last);
    this.scheduleProbe();
  }

  /** Group commit of journaled requests: one entry and one fsync for all who waited. */
  private flush(): void {
    if (this.flushing !== undefined || this.waiting.length === 0 || this.holding) return;
    const group = this.waiting.splice(0);
    const id = batchId();
    const base = this.last + this.options.journal.pendingIncrements;
    this.flushing = this.options.journal
      .add(id, group.length)
      .then(
        () => group.forEach((w, i) => w.resolve({ value: base + 1 + i, consistency: 'provisional' })),
        (error: unknown) => {
          this.options.log.error(
            { error: String(error), journal: this.options.journal.path },
            'journal write failed: answering 503',
          );
          // The record may have reached the disk anyway: make sure it can never be applied.
          this.toFence.push(id);
          for (const w of group) w.reject(new UnavailableError('database unavailable and journal unwritable', 2));
        },
      )
      .finally(() => {
        this.flushing = undefined;
        this.flush();
      });
  }

  private scheduleProbe(): void {
    if (this.closed || this.probeTimer !== undefined) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.recovering = this.recover().finally(() => {
        this.recovering = undefined;
        if (this.modeNow === 'degraded') this.scheduleProbe();
      });
    }, this.options.probeIntervalMs);
  }

  /**
   * One probe: if the database answers, replay the journal while requests are
   * still journaled (catch-up), then hold new requests for the moment it takes
   * to replay the last entries, and return to exact mode with an empty
   * journal. Held requests then go to the allocator, or back to the journal if
   * the database failed again meanwhile.
   */
  private async recover(): Promise<void> {
    const { db, journal, log } = this.options;
    const chunk = this.options.replayChunk ?? 500;
    try {
      await db.ping(this.options.budgetMs);
      while (this.toFence.length > 0) {
        const id = this.toFence[0] as string;
        const outcome = await fenceBatch(db, id);
        if (outcome.committed) log.error({ id, ...outcome.range }, 'an unacknowledged journal entry had been applied');
        this.toFence.shift();
      }
      for (let rounds = 0; rounds < 100_000 && !this.closed && journal.entryCount > chunk; rounds += 1) {
        await this.replay(journal.oldest(chunk));
      }
      if (this.closed) return;
      this.holding = true;
      this.held.push(...this.waiting.splice(0));
      while (this.flushing !== undefined) await this.flushing;
      for (let rounds = 0; rounds < 100_000 && journal.entryCount > 0; rounds += 1) {
        await this.replay(journal.oldest(chunk));
      }
      if (journal.pendingIncrements === 0 && !this.closed) {
        this.modeNow = 'exact';
        log.info({ lastCommitted: this.last }, 'database is back and the journal is applied: exact mode');
        this.options.onModeChange?.('exact', this.last);
        void journal
          .retire()
          .catch((error: unknown) => log.warn({ error: String(error) }, 'could not delete the applied journal'));
      }
    } catch (error) {
      log.debug({ error: String(error) }, 'database probe or replay failed; staying degraded');
    } finally {
      this.release();
    }
  }

  /** Sends held requests on: to the allocator when exact again, else to the journal. */
  private release(): void {
    this.holding = false;
    for (const waiter of this.held.splice(0)) {
      (this.modeNow === 'exact' ? this.allocator.next() : this.divert()).then(waiter.resolve, waiter.reject);
    }
  }

  private async replay(entries: JournalEntry[]): Promise<void> {
    const tooOld = entries.find((e) => Date.now() - e.at > this.options.maxReplayAgeMs);
    if (tooOld !== undefined) {
      // The ledger may have pruned this id, so a blind replay could apply it twice.
      throw new Error(`journal entry ${tooOld.id} is older than the ledger retention; see docs/runbooks.md`);
    }
    const ranges = await commitBatches(this.options.db, entries);
    let increments = 0;
    for (const entry of entries) {
      const range = ranges.get(entry.id);
      if (range !== undefined) {
        this.applied(entry.id, range);
        increments += entry.n;
      } else {
        this.options.log.error({ id: entry.id }, 'journal entry was fenced; not applied');
        this.options.journal.done(entry.id);
      }
    }
    this.options.onReplay?.(entries.length, increments);
  }

  private applied(id: string, range: Range): void {
    this.committed(range);
    this.options.journal.done(id, range);
  }
}
