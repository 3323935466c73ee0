// The contract every counter implementation keeps, so the HTTP layer, the
// benchmark baselines and the degraded mode can be swapped without the app
// knowing which one it talks to.

export type Consistency = 'exact' | 'provisional';

export interface Allocation {
  readonly value: number;
  readonly consistency: Consistency;
}

export interface Counter {
  /** Hands out the next value, or rejects with UnavailableError. */
  next(): Promise<Allocation>;
  /** Stops taking requests and settles everything in flight. */
  close(): Promise<void>;
}

/** The counter could not hand out a value in time; the client should retry. */
export class UnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
    this.name = 'UnavailableError';
  }
}

export interface CounterMetrics {
  readonly batchSize: (n: number) => void;
  readonly batchOutcome: (outcome: 'committed' | 'retried' | 'fenced' | 'handed_off' | 'orphaned') => void;
  readonly queueDepth: (n: number) => void;
}

export const noMetrics: CounterMetrics = {
  batchSize: () => undefined,
  batchOutcome: () => undefined,
  queueDepth: () => undefined,
};
