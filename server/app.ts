// The HTTP application. `createApp(deps)` wires routes to the counter and the
// lifecycle it is given; it never listens and never reads the environment,
// so tests build it in-process on port 0 and main.ts is the only side effect.

import express, { type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import type { Counter, RequestDeadline } from './counter/types.js';
import { clientAddress, GOOGLE_FRONT_ENDS, type ProxyTrust } from './http/client-address.js';
import { createDelivery } from './http/delivery.js';
import { errorHandler, HttpError, notFound } from './http/errors.js';
import { checkDeclaredBody, checkHost, closeUnlessContinued } from './http/request-checks.js';
import { requestLogger } from './http/request-log.js';
import { applySecurityHeaders, captureHelmet } from './http/security-headers.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export const MAX_BODY_BYTES = 1024;

export interface Readiness {
  readonly ready: boolean;
  readonly status: string;
  readonly [detail: string]: unknown;
}

export interface AppDeps {
  readonly counter: Counter;
  readonly log: Logger;
  readonly readiness: () => Readiness | Promise<Readiness>;
  readonly metrics?: Pick<Metrics, 'observeRequest' | 'http'>;
  readonly requestLogSample?: number;
  /** Whose X-Forwarded-For to believe; Google's front ends, client second from the right, by default. */
  readonly proxies?: ProxyTrust;
  /** GOOGLE_CLOUD_PROJECT: request logs then carry the load balancer's trace. */
  readonly project?: string;
  /** True once shutdown began: responses then ask clients to close the connection. */
  readonly draining?: () => boolean;
  /**
   * Starts a request's deadline; the counter answers 503 when it passes. It
   * is also aborted when the client's connection closes before the answer.
   */
  readonly deadline?: () => RequestDeadline;
}

const JSON_TYPES = ['application/json', 'application/*+json', 'text/json'];

/**
 * Refuses a declared body over 1 KiB before reading it (413), reads any other
 * body up to 1 KiB (413 beyond), and rejects malformed JSON (400). The
 * content is otherwise ignored. One handler rather than three route layers:
 * each layer costs CPU on every request.
 */
const readRawBody = express.raw({ type: () => true, limit: MAX_BODY_BYTES });
const boundedBody: RequestHandler = (req, res, next) => {
  checkDeclaredBody(req, res, MAX_BODY_BYTES);
  readRawBody(req, res, (error?: unknown) => {
    if (error !== undefined && error !== null) return next(error);
    const body = req.body as unknown;
    if (Buffer.isBuffer(body) && body.length > 0 && req.is(JSON_TYPES) !== false) {
      try {
        JSON.parse(body.toString('utf8'));
      } catch {
        return next(new HttpError(400, 'invalid_json', 'request body is not valid JSON'));
      }
    }
    next();
  });
};

const methodNotAllowed: RequestHandler = (_req, res) => {
  res.setHeader('Allow', 'POST');
  throw new HttpError(405, 'method_not_allowed', 'only POST is allowed on /', { Allow: 'POST' });
};

/** GET /healthz (liveness) and /readyz (readiness). */
function health(app: express.Express, readiness: AppDeps['readiness']): void {
  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'alive' });
  });
  const readyz: RequestHandler = async (_req, res) => {
    const answer = await readiness();
    res.status(answer.ready ? 200 : 503).json(answer);
  };
  app.get('/readyz', readyz);
}

/** Exact, case-sensitive routes: `/HEALTHZ`, `/healthz/` and `//` are 404. */
function strictRouting(app: express.Express): void {
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  strictRouting(app);
  // One middleware for what every request needs before routing, in this
  // order: helmet's headers (computed once), the request log, no caching, the
  // drain's Connection: close, then the Host and Expect checks (which throw to
  // the error handler, with the headers and log already in place). Separate
  // app.use layers cost CPU on every request: docs/benchmarks.md.
  const securityHeaders = captureHelmet();
  const logRequest = requestLogger({
    log: deps.log,
    sample: deps.requestLogSample ?? 1,
    observe: deps.metrics?.observeRequest ?? (() => undefined),
    clientAddress: clientAddress(deps.proxies ?? { trustedProxyRanges: GOOGLE_FRONT_ENDS, forwardedForHops: 2 }),
    project: deps.project,
  });
  const preamble: RequestHandler = (req, res, next) => {
    applySecurityHeaders(securityHeaders, res);
    logRequest(req, res);
    res.setHeader('Cache-Control', 'no-store');
    if (deps.draining?.() === true) res.setHeader('Connection', 'close');
    closeUnlessContinued(req, res);
    checkHost(req);
    next();
  };
  app.use(preamble);

  const delivery = createDelivery(deps.log, deps.metrics?.http);
  const count: RequestHandler = async (req, res) => {
    if (delivery.gone(req, res)) return;
    const deadline = deps.deadline?.();
    const watched = delivery.watch(req, res, deadline);
    const { value, consistency } = await deps.counter.next(deadline);
    if (!watched.handOut(value, consistency)) return;
    // Written directly rather than with res.json(): the body is a fixed shape
    // of ASCII, and Express's json/send/set chain (content-type parsing,
    // charset and length headers set one by one) is a measurable share of a
    // request's CPU (docs/benchmarks.md). Same headers as res.json() sends.
    const body = JSON.stringify({ timestamp: Math.floor(Date.now() / 1000), counter: value, message: 'Hello world' });
    res.statusCode = 200;
    res.setHeader('Counter-Consistency', consistency);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', body.length);
    res.end(body);
  };
  app.post('/', boundedBody, count);
  app.all('/', methodNotAllowed);

  health(app, deps.readiness);

  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}

/**
 * The loopback-only admin listener (METRICS_PORT + worker): metrics and
 * health, no counter. The only place metrics are served: the service port is
 * what the load balancer forwards.
 */
export function createAdminApp(
  deps: Pick<AppDeps, 'log' | 'readiness'> & { readonly registry: Registry },
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  strictRouting(app);
  health(app, deps.readiness);
  const metrics: RequestHandler = async (_req, res) => {
    res.setHeader('Content-Type', deps.registry.contentType);
    res.send(await deps.registry.metrics());
  };
  app.get('/metrics', metrics);
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
