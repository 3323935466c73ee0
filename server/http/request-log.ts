// Per-request bookkeeping: a request id (kept from X-Request-Id when sane,
// otherwise new) echoed back to the client, a Cloud Logging `httpRequest`
// log line, and the request metrics. Server errors are always logged; other
// requests can be sampled with REQUEST_LOG_SAMPLE to bound logging cost.

import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../log.js';

export interface RequestLogOptions {
  readonly log: Logger;
  readonly sample: number;
  readonly observe: (route: string, method: string, status: number, seconds: number) => void;
}

const SANE_ID = /^[\w.:-]{1,128}$/;

export function requestLog(options: RequestLogOptions): RequestHandler {
  const { log, sample, observe } = options;
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const incoming = req.get('x-request-id');
    const requestId = incoming !== undefined && SANE_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      observe(route, req.method, res.statusCode, seconds);
      if (res.statusCode < 500 && (sample <= 0 || (sample < 1 && Math.random() >= sample))) return;
      const entry = {
        requestId,
        httpRequest: {
          requestMethod: req.method,
          requestUrl: req.originalUrl,
          status: res.statusCode,
          responseSize: String(res.getHeader('content-length') ?? ''),
          userAgent: req.get('user-agent'),
          remoteIp: req.ip,
          latency: `${seconds.toFixed(6)}s`,
          protocol: `HTTP/${req.httpVersion}`,
        },
      };
      if (res.statusCode >= 500) log.warn(entry, 'request failed');
      else log.info(entry, 'request');
    });
    next();
  };
}
