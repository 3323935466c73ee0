// One request waiting for a counter value, wherever it waits: the allocator's
// queue, a batch in flight, the journal's group commit, or the hold while the
// last journal entries are replayed. It carries the request's deadline as an
// AbortSignal, so every path answers 503 by the same deadline, and it can be
// answered only once, so a late success after a 503 is visible to the caller
// (`resolve` returns false) and can be accounted for instead of lost.

import { UnavailableError, type Allocation, type Deadline, type RequestDeadline } from './types.js';

export const deadlineError = () => new UnavailableError('no counter value within the request deadline');

/**
 * A deadline `ms` from now, which `abort()` ends at once (the client went
 * away: a request not yet given a value then never takes one). It has no
 * timer until a slow path listens to it: the fast path polls `aborted` from
 * the allocator's one sweeper, because an AbortSignal.timeout per request
 * costs more CPU than the allocator itself. Each listener runs once.
 */
export function deadlineAfter(ms: number, now = Date.now()): RequestDeadline {
  return new TimedDeadline(now + ms);
}

interface Listening {
  readonly timer: NodeJS.Timeout;
  readonly run: () => void;
}

// A class rather than an object literal of closures: one is made per request.
class TimedDeadline implements RequestDeadline {
  #ended = false;
  #listening: Listening[] | undefined;

  constructor(private readonly at: number) {}

  get aborted(): boolean {
    return this.#ended || Date.now() >= this.at;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    let ran = false;
    const run = () => {
      if (ran) return;
      ran = true;
      listener();
    };
    if (this.#ended) return queueMicrotask(run);
    (this.#listening ??= []).push({ timer: setTimeout(run, Math.max(0, this.at - Date.now())).unref(), run });
  }

  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    const listening = this.#listening ?? [];
    this.#listening = undefined;
    for (const { timer, run } of listening) {
      clearTimeout(timer);
      run();
    }
  }
}

export class Waiter {
  private settled = false;
  private watching = false;

  constructor(
    private readonly onValue: (allocation: Allocation) => void,
    private readonly onError: (error: Error) => void,
    readonly signal: Deadline,
  ) {}

  /** A promise answered through a new waiter, which `place` puts where it waits. */
  static promise(signal: Deadline, place: (waiter: Waiter) => void): Promise<Allocation> {
    return new Promise<Allocation>((resolve, reject) => place(new Waiter(resolve, reject, signal)));
  }

  /** Answered already (a value or a refusal). */
  get done(): boolean {
    return this.settled;
  }

  /** Still unanswered but past its deadline. */
  get expired(): boolean {
    return !this.settled && this.signal.aborted;
  }

  /**
   * Hands out a value; false if the request was answered already or its
   * deadline has passed (it is then answered 503): the caller must account
   * for that value.
   */
  resolve(allocation: Allocation): boolean {
    if (this.settled || this.expireIfDue()) return false;
    this.settled = true;
    this.onValue(allocation);
    return true;
  }

  reject(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.onError(error);
  }

  /** Answers 503 if the deadline has passed; true if it did. */
  expireIfDue(): boolean {
    if (!this.expired) return false;
    this.reject(deadlineError());
    return true;
  }

  /**
   * Answers 503 the moment the deadline passes, for the slow paths (journal,
   * hold). The fast path polls `expired` from one sweeper instead, since a
   * listener per request costs more than the allocator itself.
   */
  watch(): this {
    if (this.watching) return this;
    this.watching = true;
    if (this.signal.aborted) this.reject(deadlineError());
    else this.signal.addEventListener('abort', () => this.reject(deadlineError()), { once: true });
    return this;
  }
}
