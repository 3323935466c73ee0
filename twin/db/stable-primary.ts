// Waiting until the stable address (HAProxy on ctwin-sql) leads to the
// primary and only to it. HAProxy starts every server as up and marks the
// standby down only after `fall` failed checks of Patroni's /primary,
// `inter` apart, cutting that server's sessions when it does. So in the first
// second a connection can reach the standby, answer, and the next one be cut
// ("SSL SYSCALL error: EOF detected"): one good answer proves nothing. The
// wait ends after answers from the primary on consecutive connections that
// span longer than HAProxy needs to mark a standby down.

export interface StablePrimaryOptions {
  /** Consecutive connections that must reach the primary. */
  readonly consecutive: number;
  /** They must span at least this long (HAProxy's check inter × (fall + 1)). */
  readonly spanMs: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * `probe` opens a new connection through the stable address and resolves
 * true if it reached the primary, false if a standby; it rejects when the
 * connection fails. Rejects with the last failure at the timeout.
 */
export async function waitForStablePrimary(
  probe: () => Promise<boolean>,
  options: StablePrimaryOptions,
): Promise<void> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + options.timeoutMs;
  let runStart: number | undefined;
  let run = 0;
  let last = 'no answer yet';
  for (;;) {
    const at = now();
    let primary = false;
    try {
      primary = await probe();
      if (!primary) last = 'the stable address reached a standby';
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (primary) {
      runStart ??= at;
      run += 1;
      if (run >= options.consecutive && now() - runStart >= options.spanMs) return;
    } else {
      runStart = undefined;
      run = 0;
    }
    if (now() > deadline) {
      throw new Error(`the stable address did not settle on the primary within ${options.timeoutMs} ms: ${last}`);
    }
    await sleep(options.intervalMs);
  }
}
