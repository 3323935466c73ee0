// The contract every counter implementation keeps, so the HTTP layer, the
// benchmark baselines and the degraded mode can be swapped without the app
// knowing which one it talks to.

export type Consistency = 'exact' | 'provisional';

export interface Allocation {
  readonly value: number;
  readonly consistency: Consistency;
}

/**
 * A request's deadline: an AbortSignal (aborted when the deadline passes), or
 * anything with the two members of one that the counter uses.
 */
export type Deadline = Pick<AbortSignal, 'aborted'> & {
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
};

/** A request's deadline that its owner can also end early (the HTTP layer, when the client has gone). */
export type RequestDeadline = Deadline & { abort(): void };

export interface Counter {
  /**
   * Hands out the next value, or rejects with UnavailableError. `signal` is
   * the request's deadline (aborted when it passes): a value is never handed
   * out after it, and the request is answered 503 when it aborts. Without
   * one, the counter applies its own REQUEST_DEADLINE_MS.
   */
  next(signal?: Deadline): Promise<Allocation>;
  /** Stops taking requests and settles everything in flight. */
  close(): Promise<void>;
}

/** The counter could not hand out a value in time; the client should retry. */
export class UnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UnavailableError';
  }
}

export interface CounterMetrics {
  readonly batchSize: (n: number) => void;
  readonly batchOutcome: (outcome: 'committed' | 'retried' | 'fenced' | 'handed_off' | 'orphaned') => void;
  readonly queueDepth: (n: number) => void;
  /** Increments counted (committed or journaled) whose request had already been answered 503. */
  readonly unhanded?: (n: number, where: 'spare' | 'journal_surplus' | 'lost') => void;
}

export const noMetrics: CounterMetrics = {
  batchSize: () => undefined,
  batchOutcome: () => undefined,
  queueDepth: () => undefined,
};
