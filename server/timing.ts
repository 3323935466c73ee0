// The service's few timing helpers, each written once: the retry rhythm
// (exponential backoff with a cap), a sleep that an AbortSignal can cut
// short, and a race of a promise against a timer that never leaves the timer
// behind. Used by the allocator (retries, fences, the database budget), the
// start-up migrations, the database probe, the HTTP drain and warm-up, and
// the shutdown hooks.

export function backoff(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
}

export interface TimerOptions {
  /** Do not keep the process alive for this timer alone. */
  readonly unref?: boolean;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal, options: TimerOptions = {}): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    if (options.unref === true) timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Settles like `promise`, or resolves to `late` once `ms` have passed,
 * whichever comes first; the timer is cleared either way.
 */
export async function within<T, L>(
  promise: Promise<T>,
  ms: number,
  late: L,
  options: TimerOptions = {},
): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<L>((resolve) => {
    timer = setTimeout(() => resolve(late), Math.max(0, ms));
    if (options.unref === true) timer.unref();
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
