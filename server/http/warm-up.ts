// A bounded warm-up before a worker takes traffic, so that `/readyz` means
// warm: a fresh process answers its first requests slowly (V8 compiles the
// request path on first use, the pool has no connection yet, TLS code is cold).
// It opens the pool's connections and drives requests through the same app
// code on a private loopback server, against a warm-up-only counter that
// touches no database: no counter value moves and no metric of the service
// counts them. The real allocator's batch statement is not exercised.

import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { pino } from 'pino';
import { createApp, type Readiness } from '../app.js';
import type { Counter } from '../counter/types.js';
import type { Db } from '../db.js';
import type { Logger } from '../log.js';
import { createServer, listen, type ListenSpec, type ServerTimeouts } from './servers.js';
import { within } from '../timing.js';

export interface WarmUpOptions {
  /** Longest the warm-up may take; 0 disables it. */
  readonly budgetMs: number;
  readonly db: Pick<Db, 'session'>;
  readonly poolSize: number;
  readonly log: Logger;
  readonly timeouts: ServerTimeouts;
}

export interface WarmUpReport {
  readonly ms: number;
  readonly requests: number;
  /** Of which over TLS. */
  readonly secureRequests: number;
  readonly poolConnections: number;
}

export interface WarmUp {
  /** Wraps a readiness check: 503 `warming_up` until the warm-up has finished. */
  gate(readiness: () => Readiness | Promise<Readiness>): () => Promise<Readiness>;
  /** Runs once; with the HTTPS listener's certificate, the TLS path is warmed too. */
  run(tls?: ListenSpec['tls']): Promise<WarmUpReport>;
}

const quiet: Logger = pino({ level: 'silent' });

/** Hands out values from its own sequence; never touches the database. */
function warmUpCounter(): Counter {
  let value = 0;
  return {
    next: () => Promise.resolve({ value: (value += 1), consistency: 'exact' }),
    close: () => Promise.resolve(),
  };
}

/** Opens up to `size` pool connections at once (each session held until all are open), bounded by `deadline`. */
async function openPool(db: WarmUpOptions['db'], size: number, deadline: number, log: Logger): Promise<number> {
  let opened = 0;
  let allOpen: () => void = () => undefined;
  const everyone = new Promise<void>((resolve) => (allOpen = resolve));
  const sessions = Array.from({ length: size }, () =>
    db.session(async (s) => {
      await s.query('SELECT 1', [], 'warm_up');
      opened += 1;
      if (opened === size) allOpen();
      await within(everyone, deadline - Date.now(), undefined, { unref: true });
    }),
  );
  const settled = Promise.allSettled(sessions).then((results) => {
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined)
      log.warn({ err: failed.reason as unknown }, 'warm-up: could not open every pool connection');
  });
  await within(settled, deadline - Date.now(), undefined, { unref: true });
  return opened;
}

const BODY = '{"warm":"up"}';
/** A mix of what the service answers: mostly POST /, some health checks and refusals. */
const REQUESTS: readonly { method: string; path: string; body?: string; type?: string }[] = [
  { method: 'POST', path: '/', body: BODY, type: 'application/json' },
  { method: 'POST', path: '/' },
  { method: 'POST', path: '/', body: BODY, type: 'application/json' },
  { method: 'GET', path: '/readyz' },
  { method: 'POST', path: '/', body: BODY, type: 'application/json' },
  { method: 'GET', path: '/healthz' },
  { method: 'POST', path: '/', body: '{"a":', type: 'application/json' },
  { method: 'GET', path: '/' },
  { method: 'GET', path: '/nope' },
];

function request(agent: http.Agent, port: number, secure: boolean, index: number): Promise<void> {
  const spec = REQUESTS[index % REQUESTS.length] ?? REQUESTS[0]!;
  return new Promise((resolve) => {
    const options: https.RequestOptions = {
      agent,
      host: '127.0.0.1',
      port,
      method: spec.method,
      path: spec.path,
      headers:
        spec.body === undefined ? {} : { 'content-type': spec.type, 'content-length': Buffer.byteLength(spec.body) },
      rejectUnauthorized: false,
    };
    const req = (secure ? https : http).request(options, (res) => {
      res.resume();
      res.once('end', () => resolve());
      res.once('error', () => resolve());
    });
    req.once('error', () => resolve());
    req.end(spec.body);
  });
}

/** Drives requests through a private server with the service's app until `deadline`. */
async function driveRequests(
  options: WarmUpOptions,
  deadline: number,
  tls: ListenSpec['tls'] | undefined,
): Promise<number> {
  const secure = tls !== undefined;
  const app = createApp({
    counter: warmUpCounter(),
    log: quiet,
    readiness: () => ({ ready: true, status: 'ready' }),
    metrics: {
      observeRequest: () => undefined,
      http: { handedOut: () => undefined, undelivered: () => undefined, clientError: () => undefined },
    },
  });
  const spec: ListenSpec = { port: 0, host: '127.0.0.1', tls };
  const server = createServer(app, spec, options.timeouts, quiet);
  const port = await listen(server, spec);
  let sent = 0;
  try {
    const concurrency = 8;
    // Fresh connections every round, as the load balancer opens them at first.
    while (Date.now() < deadline) {
      const AgentClass = secure ? https.Agent : http.Agent;
      const agent = new AgentClass({ keepAlive: true, maxSockets: concurrency });
      const lanes = Array.from({ length: concurrency }, async (_, lane) => {
        for (let i = 0; i < 50 && Date.now() < deadline; i += 1) {
          await request(agent, port, secure, lane + i);
          sent += 1;
        }
      });
      await Promise.all(lanes);
      agent.destroy();
    }
  } finally {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  }
  return sent;
}

export function createWarmUp(options: WarmUpOptions): WarmUp {
  let warm = options.budgetMs <= 0;
  return {
    gate: (readiness) => async () => (warm ? readiness() : { ready: false, status: 'warming_up' }),
    async run(tls) {
      const started = Date.now();
      if (warm) return { ms: 0, requests: 0, secureRequests: 0, poolConnections: 0 };
      const deadline = started + options.budgetMs;
      const [poolConnections, plain, secure] = await Promise.all([
        openPool(options.db, options.poolSize, deadline, options.log),
        driveRequests(options, deadline, undefined),
        tls === undefined ? 0 : driveRequests(options, deadline, tls),
      ]);
      warm = true;
      const report = { ms: Date.now() - started, requests: plain + secure, secureRequests: secure, poolConnections };
      options.log.info(report, 'warm-up done');
      return report;
    },
  };
}
