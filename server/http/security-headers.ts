// The security headers helmet sets, computed once at start-up instead of on
// every request. With a static configuration (no per-request nonces), helmet's
// thirteen middleware functions set the same headers on every response; run
// once against a recording response, they give a fixed list that one loop
// applies. The benchmark showed helmet's per-request chain as a measurable
// share of a request's CPU (docs/benchmarks.md); test/server/http/
// security-headers.test.ts checks the list equals what helmet sets itself.

import helmet, { type HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface SecurityHeaders {
  /** Header name and value pairs, in the order helmet sets them. */
  readonly set: readonly (readonly [string, string])[];
  /** Headers helmet removes (X-Powered-By). */
  readonly removed: readonly string[];
}

/** True if a CSP directive is computed per request (a nonce function), which one capture would freeze. */
function perRequestDirective(options: Readonly<HelmetOptions> | undefined): boolean {
  const csp = options?.contentSecurityPolicy;
  if (typeof csp !== 'object' || csp === null) return false;
  const directives = (csp as { directives?: Record<string, unknown> }).directives ?? {};
  return Object.values(directives).some((value) =>
    Array.isArray(value) ? value.some((item) => typeof item === 'function') : typeof value === 'function',
  );
}

/** Runs helmet once and records what it does to a response. */
export function captureHelmet(options?: Readonly<HelmetOptions>): SecurityHeaders {
  if (perRequestDirective(options)) {
    throw new Error('a per-request CSP directive cannot be captured once: use helmet() as a middleware');
  }
  const set: [string, string][] = [];
  const removed: string[] = [];
  let error: unknown;
  let finished = false;
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      if (typeof value !== 'string') throw new Error(`helmet set ${name} to a non-string value`);
      set.push([name, value]);
      return recorder;
    },
    removeHeader(name: string) {
      removed.push(name);
    },
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    error = err;
    finished = true;
  });
  // Helmet's chain is synchronous; anything else would mean per-request state.
  if (!finished) throw new Error('helmet did not finish synchronously');
  if (error instanceof Error) throw error;
  if (error !== undefined) throw new Error('helmet failed', { cause: error });
  return { set, removed };
}

export function applySecurityHeaders(headers: SecurityHeaders, res: ServerResponse): void {
  for (const name of headers.removed) res.removeHeader(name);
  for (const [name, value] of headers.set) res.setHeader(name, value);
}
