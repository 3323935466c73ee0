// The HTTP application. `createApp(deps)` wires routes to the counter and the
// lifecycle it is given; it never listens and never reads the environment,
// so tests build it in-process on port 0 and main.ts is the only side effect.

import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Registry } from 'prom-client';
import type { Counter, Deadline } from './counter/types.js';
import { errorHandler, HttpError, notFound } from './http/errors.js';
import { requestLog } from './http/request-log.js';
import type { Logger } from './log.js';

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
  readonly metrics?: {
    readonly registry: Registry;
    readonly observeRequest: (route: string, method: string, status: number, seconds: number) => void;
  };
  readonly requestLogSample?: number;
  /** True once shutdown began: responses then ask clients to close the connection. */
  readonly draining?: () => boolean;
  /** Starts a request's deadline (an AbortSignal will do); the counter answers 503 when it passes. */
  readonly deadline?: () => Deadline;
}

/** Reads any body up to 1 KiB (413 beyond), and rejects malformed JSON (400). The content is otherwise ignored. */
const boundedBody: RequestHandler[] = [
  express.raw({ type: () => true, limit: MAX_BODY_BYTES }),
  (req, _res, next) => {
    const body = req.body as unknown;
    if (Buffer.isBuffer(body) && body.length > 0 && req.is(['application/json', 'application/*+json']) !== false) {
      try {
        JSON.parse(body.toString('utf8'));
      } catch {
        throw new HttpError(400, 'invalid_json', 'request body is not valid JSON');
      }
    }
    next();
  },
];

const methodNotAllowed: RequestHandler = (_req, res) => {
  res.setHeader('Allow', 'POST');
  throw new HttpError(405, 'method_not_allowed', 'only POST is allowed on /', { Allow: 'POST' });
};

/** GET /healthz (liveness), /readyz (readiness) and, with a registry, /metrics. */
function healthAndMetrics(app: express.Express, readiness: AppDeps['readiness'], registry: Registry | undefined): void {
  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'alive' });
  });
  const readyz: RequestHandler = async (_req, res) => {
    const answer = await readiness();
    res.status(answer.ready ? 200 : 503).json(answer);
  };
  app.get('/readyz', readyz);
  if (registry === undefined) return;
  const metrics: RequestHandler = async (_req, res) => {
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  };
  app.get('/metrics', metrics);
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', 'loopback, 35.191.0.0/16, 130.211.0.0/22');
  app.use(helmet());
  app.use(
    requestLog({
      log: deps.log,
      sample: deps.requestLogSample ?? 1,
      observe: deps.metrics?.observeRequest ?? (() => undefined),
    }),
  );
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    if (deps.draining?.() === true) res.setHeader('Connection', 'close');
    next();
  });

  const count: RequestHandler = async (_req, res) => {
    const { value, consistency } = await deps.counter.next(deps.deadline?.());
    res.setHeader('Counter-Consistency', consistency);
    res.status(200).json({ timestamp: Math.floor(Date.now() / 1000), counter: value, message: 'Hello world' });
  };
  app.post('/', ...boundedBody, count);
  app.all('/', methodNotAllowed);

  healthAndMetrics(app, deps.readiness, deps.metrics?.registry);

  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}

/** The loopback-only admin listener (METRICS_PORT + worker): metrics and health, no counter. */
export function createAdminApp(
  deps: Pick<AppDeps, 'log' | 'readiness'> & { readonly registry: Registry },
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  healthAndMetrics(app, deps.readiness, deps.registry);
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
