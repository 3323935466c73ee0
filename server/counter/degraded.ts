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
// again.
//
// Every request waits under its own deadline, wherever it waits. An
// increment that is journaled for a request already answered 503 (it was in
// a handed-off batch, or its deadline passed during the fsync) is surplus:
// it is handed to the next degraded request without a new write, and what
// is left when the worker returns to exact mode or stops is taken off the
// journal durably (a smaller add record) before anything replays it. So the
// database ends up raised by exactly the values handed out.

import type { Db } from '../db.js';
import type { Logger } from '../log.js';
import { batchId } from './batch-id.js';
import { CoalescingAllocator, type Stall } from './allocator.js';
import { JournalFullError, type Journal } from './journal.js';
import { fenceBatch, type Range } from './ledger.js';
import { replayEntries } from './replay.js';
import {
  noMetrics,
  UnavailableError,
  type Allocation,
  type Counter,
  type CounterMetrics,
  type Deadline,
} from './types.js';
import { deadlineAfter, deadlineError, Waiter } from './waiter.js';

export type Mode = 'exact' | 'degraded';

export interface DegradedCounterOptions {
  readonly db: Db;
  readonly log: Logger;
  readonly journal: Journal;
  readonly maxBatch: number;
  readonly deadlineMs: number;
  readonly budgetMs: number;
  readonly probeIntervalMs: number;
  /** Journal entries older than this are quarantined, not replayed (the ledger may have forgotten them). */
  readonly maxReplayAgeMs: number;
  /** Last committed value known before the first database answer (from the state file). */
  readonly lastCommitted?: number;
  readonly metrics?: CounterMetrics;
  readonly onReplay?: (entries: number, increments: number) => void;
  readonly onQuarantine?: (entries: number, increments: number) => void;
  readonly onModeChange?: (mode: Mode, lastCommitted: number) => void;
  readonly replayChunk?: number;
  readonly retryDelayMs?: number;
}

const unwritable = () => new UnavailableError('database unavailable and journal unwritable', 2);
const full = () => new UnavailableError('database unavailable and journal full', 2);

export class DegradedCounter implements Counter {
  private modeNow: Mode = 'exact';
  private readonly allocator: CoalescingAllocator;
  private readonly waiting: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private recovering: Promise<void> | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  /** While the last journal entries are replayed, new requests wait here instead of being journaled. */
  private holding = false;
  private readonly held: Waiter[] = [];
  private last: number;
  private closed = false;
  /** Journaled increments whose request was answered 503: served to the next requests, or shrunk off. */
  private surplus = 0;
  /** Handed-off batches: their statement may still commit with the full size, so they are fenced before shrinking. */
  private readonly handedOff = new Set<string>();
  /**
   * Handed-off batches the journal refused (their requests were answered
   * 503): fenced when the database answers, or, if their statement committed
   * after all, their values handed to the next requests as spares.
   */
  private readonly refused = new Map<string, number>();
  /** Stalled batches being journaled: close waits for them. */
  private readonly takingOver = new Set<Promise<void>>();
  /** The journal refused an add for being full, and it was logged (once per episode). */
  private fullReported = false;

  constructor(private readonly options: DegradedCounterOptions) {
    this.last = options.lastCommitted ?? 0;
    this.allocator = new CoalescingAllocator({
      db: options.db,
      log: options.log,
      maxBatch: options.maxBatch,
      deadlineMs: options.deadlineMs,
      budgetMs: options.budgetMs,
      onStall: (stall) => {
        const taking = this.takeOver(stall).catch((err: unknown) =>
          options.log.error({ err, batch: stall.batch.id }, 'taking over a stalled batch failed unexpectedly'),
        );
        this.takingOver.add(taking);
        void taking.finally(() => this.takingOver.delete(taking));
      },
      metrics: options.metrics ?? noMetrics,
      retryDelayMs: options.retryDelayMs,
    });
  }

  get mode(): Mode {
    return this.modeNow;
  }

  get lastCommitted(): number {
    return Math.max(this.last, this.allocator.lastCommitted);
  }

  /** Committed values held by the allocator for the next requests (metrics). */
  get spareCount(): number {
    return this.allocator.spareCount;
  }

  /** Journaled increments not (yet) handed out (metrics, tests). */
  get surplusIncrements(): number {
    return this.surplus;
  }

  /** Age in seconds of the oldest entry not yet applied (0 if none). */
  replayLagSeconds(): number {
    const [oldest] = this.options.journal.oldest(1);
    return oldest === undefined ? 0 : (Date.now() - oldest.at) / 1000;
  }

  next(signal?: Deadline): Promise<Allocation> {
    if (this.closed) return Promise.reject(new UnavailableError('shutting down'));
    if (this.modeNow === 'exact') return this.allocator.next(signal);
    const deadline = signal ?? deadlineAfter(this.options.deadlineMs);
    if (deadline.aborted) return Promise.reject(deadlineError());
    return Waiter.promise(deadline, (waiter) => {
      if (this.holding) this.held.push(waiter.watch());
      else this.divert(waiter);
    });
  }

  /** Answers a request from the journal, by its deadline. */
  private divert(waiter: Waiter): void {
    if (waiter.done) return;
    if (this.closed) return waiter.reject(new UnavailableError('shutting down'));
    this.waiting.push(waiter.watch());
    this.flush();
  }

  /**
   * The allocator gave up a batch the database did not answer in time: it is
   * made durable locally and its requests answered from the journal; the
   * requests queued behind it are journaled too. If the journal refuses the
   * batch, its requests are answered 503 and it is settled with the database
   * when the database answers again.
   */
  private async takeOver({ batch, waiters, pending, queued }: Stall): Promise<void> {
    const { journal, log } = this.options;
    // The allocator no longer sweeps these: each is answered 503 at its deadline from here on.
    for (const w of [...waiters, ...queued]) w.watch();
    this.enterDegraded(`batch ${batch.id} got no answer within ${this.options.budgetMs} ms`);
    this.handedOff.add(batch.id);
    try {
      // All n: the statement in flight may still commit all n under this id.
      await journal.add(batch.id, batch.n);
      // If the original statement commits after all, record it: replay would
      // find it through the ledger anyway, this only saves the round trip.
      pending.then(
        (range) => this.applied(batch.id, range),
        () => undefined,
      );
      this.answer(waiters, batch.n);
    } catch (err) {
      this.handedOff.delete(batch.id);
      this.refused.set(batch.id, batch.n);
      if (err instanceof JournalFullError) this.reportFull(err);
      else log.error({ err, journal: journal.path, batch: batch.id }, 'journal write failed: answering the batch 503');
      for (const w of waiters) w.reject(err instanceof JournalFullError ? full() : unwritable());
    }
    for (const w of queued) this.divert(w);
  }

  /** A range committed by the database: the highest value known to be committed. */
  private committed(range: Range): void {
    if (range.last > this.last) this.last = range.last;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probeTimer);
    await this.allocator.close();
    await Promise.all(this.takingOver);
    while (this.flushing !== undefined || this.recovering !== undefined) {
      await this.flushing;
      await this.recovering;
    }
    for (const w of [...this.waiting.splice(0), ...this.held.splice(0)])
      w.reject(new UnavailableError('shutting down'));
    try {
      await this.shrinkSurplus();
    } catch (err) {
      this.options.log.error({ err, surplus: this.surplus }, 'could not take surplus increments off the journal');
    }
    if (this.refused.size > 0) {
      // Their requests were all answered 503; if a statement committed after all, its values are lost.
      const increments = [...this.refused.values()].reduce((sum, n) => sum + n, 0);
      this.options.log.error(
        { batches: [...this.refused.keys()], increments },
        'shutdown with batches the journal refused still unsettled: outcome unknown',
      );
      this.options.metrics?.unhanded?.(increments, 'lost');
    }
    await this.options.journal.close();
  }

  private enterDegraded(reason: string): void {
    if (this.modeNow === 'degraded') return;
    this.modeNow = 'degraded';
    // Provisional values count on from the last value the allocator saw committed.
    this.last = this.lastCommitted;
    this.options.log.warn(
      { reason, lastCommitted: this.last },
      'entering degraded mode: answering from the local journal',
    );
    this.options.onModeChange?.('degraded', this.last);
    this.scheduleProbe();
  }

  /**
   * Answers the waiters of a group whose `n` increments were just made
   * durable; increments of waiters already answered 503 become surplus.
   */
  private answer(waiters: readonly Waiter[], n: number): void {
    const base = this.last + this.options.journal.pendingIncrements - this.surplus - n;
    let given = 0;
    for (const w of waiters) if (w.resolve({ value: base + given + 1, consistency: 'provisional' })) given += 1;
    this.surplus += n - given;
    this.flush();
  }

  /** Serves waiting requests from surplus increments, which are durable already. */
  private serveSurplus(): void {
    while (this.surplus > 0 && this.waiting.length > 0) {
      const w = this.waiting.shift() as Waiter;
      const value = this.last + this.options.journal.pendingIncrements - this.surplus + 1;
      if (w.resolve({ value, consistency: 'provisional' })) this.surplus -= 1;
    }
  }

  /** Group commit of journaled requests: one entry and one fsync for all who waited. */
  private flush(): void {
    if (this.holding) return;
    this.serveSurplus();
    if (this.flushing !== undefined || this.waiting.length === 0) return;
    const group = this.waiting.splice(0).filter((w) => !w.done);
    if (group.length === 0) return;
    const { journal, log } = this.options;
    this.flushing = journal
      .add(batchId(), group.length)
      .then(
        () => {
          this.fullReported = false;
          this.answer(group, group.length);
        },
        (err: unknown) => {
          if (err instanceof JournalFullError) {
            this.reportFull(err);
            for (const w of group) w.reject(full());
            return;
          }
          // The journal voids the entry on disk if its bytes may have reached it.
          log.error({ err, journal: journal.path }, 'journal write failed: answering 503');
          for (const w of group) w.reject(unwritable());
        },
      )
      .finally(() => {
        this.flushing = undefined;
        this.flush();
      });
  }

  /** A full journal answers every degraded request 503 until replay frees entries: logged once per episode. */
  private reportFull(err: JournalFullError): void {
    if (this.fullReported) return;
    this.fullReported = true;
    this.options.log.error(
      { err, maxEntries: err.maxEntries, pending: this.options.journal.pendingIncrements },
      'journal full: answering 503 until the database takes the pending entries (JOURNAL_MAX_ENTRIES)',
    );
  }

  /**
   * Takes the surplus off the newest pending entries (that no statement has
   * been sent for), durably, so no replay counts requests answered 503. What
   * cannot be taken off (the surplus sits in a handed-off batch that has
   * committed) is reported: those values were counted and never handed out.
   */
  private async shrinkSurplus(): Promise<void> {
    const { journal, log } = this.options;
    const entries = journal.oldest(Number.POSITIVE_INFINITY).reverse();
    for (const entry of entries) {
      if (this.surplus === 0) return;
      if (this.handedOff.has(entry.id)) continue;
      const k = Math.min(this.surplus, entry.n);
      await journal.shrink(entry.id, entry.n - k);
      this.surplus -= k;
    }
    if (this.surplus > 0) {
      log.error({ increments: this.surplus }, 'increments counted for requests answered 503; never handed out');
      this.options.metrics?.unhanded?.(this.surplus, 'journal_surplus');
      this.surplus = 0;
    }
  }

  /**
   * Settles handed-off batches with the database: one whose statement
   * committed after all is applied; the others are fenced (their statement
   * can then never commit) and moved to a fresh id, so that surplus can be
   * taken off them like off any other entry.
   */
  private async settleHandOffs(): Promise<void> {
    const { db, journal } = this.options;
    for (const id of [...this.handedOff]) {
      if (journal.has(id)) {
        const outcome = await fenceBatch(db, id);
        if (outcome.committed) this.applied(id, outcome.range);
        else await journal.replace(id, batchId());
      }
      this.handedOff.delete(id);
    }
  }

  /** Fences each batch the journal refused; one that committed after all gives its values to the next requests. */
  private async settleRefused(): Promise<void> {
    const { db, journal, log } = this.options;
    for (const id of [...this.refused.keys()]) {
      const outcome = await fenceBatch(db, id);
      if (outcome.committed) {
        log.warn(
          { id, ...outcome.range },
          'a batch the journal refused committed late: its values go to the next requests',
        );
        this.committed(outcome.range);
        this.allocator.keepSpare(outcome.range);
      }
      // Its add record may be on disk without its void: fenced now, it can never be applied.
      journal.fenced(id);
      this.refused.delete(id);
    }
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
   * still journaled (catch-up), then hold new requests (each still under its
   * deadline) for the moment it takes to replay the last entries, and return
   * to exact mode with an empty journal. Held requests then go to the
   * allocator, or back to the journal if the database failed again meanwhile.
   */
  private async recover(): Promise<void> {
    const { db, journal, log } = this.options;
    const chunk = this.options.replayChunk ?? 500;
    try {
      await db.ping(this.options.budgetMs);
    } catch (err) {
      log.debug({ err }, 'database probe failed; staying degraded');
      return;
    }
    try {
      await this.settleRefused();
      for (const id of journal.unvoidedIds()) {
        const outcome = await fenceBatch(db, id);
        if (outcome.committed) log.error({ id, ...outcome.range }, 'an unacknowledged journal entry had been applied');
        journal.fenced(id);
      }
      await this.settleHandOffs();
      for (let rounds = 0; rounds < 100_000 && !this.closed && journal.entryCount > chunk; rounds += 1) {
        await this.replay(chunk);
      }
      if (this.closed) return;
      this.holding = true;
      this.held.push(...this.waiting.splice(0));
      while (this.flushing !== undefined) await this.flushing;
      await this.shrinkSurplus();
      for (let rounds = 0; rounds < 100_000 && journal.entryCount > 0; rounds += 1) await this.replay(chunk);
      if (journal.pendingIncrements === 0 && !this.closed) {
        this.modeNow = 'exact';
        this.handedOff.clear();
        log.info({ lastCommitted: this.last }, 'database is back and the journal is applied: exact mode');
        this.options.onModeChange?.('exact', this.last);
        void journal.retire().catch((err: unknown) => log.warn({ err }, 'could not delete the applied journal'));
      }
    } catch (err) {
      log.warn({ err }, 'journal replay failed; staying degraded');
    } finally {
      this.release();
    }
  }

  /** Sends held requests on: to the allocator when exact again, else to the journal. */
  private release(): void {
    this.holding = false;
    for (const waiter of this.held.splice(0)) {
      if (this.modeNow === 'exact') this.allocator.enqueue(waiter);
      else this.divert(waiter);
    }
    this.flush();
  }

  private async replay(chunk: number): Promise<void> {
    const { db, journal, log } = this.options;
    const entries = journal.oldest(chunk);
    const result = await replayEntries(db, journal.path, entries, { maxReplayAgeMs: this.options.maxReplayAgeMs });
    for (const [id, range] of result.applied) this.applied(id, range);
    for (const entry of result.fenced) {
      log.error({ id: entry.id }, 'journal entry was fenced; not applied');
      journal.done(entry.id);
    }
    if (result.quarantined.length > 0) {
      const increments = result.quarantined.reduce((sum, e) => sum + e.n, 0);
      log.error(
        { entries: result.quarantined.length, increments, file: `${journal.path}.stale` },
        'journal entries older than the ledger retention: quarantined, not replayed; see docs/runbooks.md',
      );
      for (const entry of result.quarantined) journal.done(entry.id);
      this.options.onQuarantine?.(result.quarantined.length, increments);
    }
    this.options.onReplay?.(entries.length, result.increments);
  }

  private applied(id: string, range: Range): void {
    this.committed(range);
    this.options.journal.done(id, range);
  }
}
