// A token bucket for log lines that a client can trigger at will (malformed
// requests, slow clients): a flood must not turn into a flood of log lines.
// What is left out is counted and reported on the next line that gets through.

export interface LogLimiter {
  /** Undefined if this line must be dropped, else how many were dropped before it. */
  take(): { readonly suppressed: number } | undefined;
}

export function createLogLimiter(perSecond: number, burst = perSecond, now: () => number = Date.now): LogLimiter {
  let tokens = burst;
  let last = now();
  let suppressed = 0;
  return {
    take() {
      const at = now();
      tokens = Math.min(burst, tokens + ((at - last) / 1000) * perSecond);
      last = at;
      if (tokens < 1) {
        suppressed += 1;
        return undefined;
      }
      tokens -= 1;
      const taken = { suppressed };
      suppressed = 0;
      return taken;
    },
  };
}
