// Per-request bookkeeping: our own request id (a client's X-Request-Id is
// kept, when sane, in its own field, never used as ours), echoed back to the
// client; the trace fields that let Cloud Logging link the request to its
// trace; a Cloud Logging `httpRequest` log line with client-controlled
// strings truncated; and the request metrics. Server errors are always
// logged; other requests can be sampled with REQUEST_LOG_SAMPLE to bound
// logging cost.

import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Logger } from '../log.js';
import type { ClientAddress } from './client-address.js';
import { traceFields } from './trace-context.js';

export interface RequestLogOptions {
  readonly log: Logger;
  readonly sample: number;
  readonly observe: (route: string, method: string, status: number, seconds: number) => void;
  readonly clientAddress: ClientAddress;
  /** GOOGLE_CLOUD_PROJECT, for the trace name; without it no trace fields are logged. */
  readonly project: string | undefined;
}

const SANE_ID = /^[\w.:-]{1,128}$/;
export const MAX_URL_CHARS = 1024;
export const MAX_HEADER_CHARS = 256;

/** Cuts a client-controlled string for a log line, saying how long it was. */
export function truncate(value: string | undefined, max: number): string | undefined {
  if (value === undefined || value.length <= max) return value;
  return `${value.slice(0, max)}…(${value.length} chars)`;
}

/**
 * Starts a request's bookkeeping; called from the app's one preamble
 * middleware (server/app.ts), not as a middleware of its own: each Express
 * layer costs CPU on every request.
 */
export function requestLogger(options: RequestLogOptions): (req: Request, res: Response) => void {
  const { log, sample, observe } = options;
  return (req, res) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const incoming = req.get('x-request-id');
    const fields: Record<string, unknown> = {
      requestId,
      ...(incoming !== undefined && SANE_ID.test(incoming) ? { clientRequestId: incoming } : {}),
      ...traceFields(req.get('x-cloud-trace-context'), options.project),
    };
    res.locals.requestId = requestId;
    res.locals.logFields = fields;
    res.setHeader('X-Request-Id', requestId);
    // `on`, not `once`: a response finishes once, and `once` wraps every listener.
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      observe(route, req.method, res.statusCode, seconds);
      if (res.statusCode < 500 && (sample <= 0 || (sample < 1 && Math.random() >= sample))) return;
      const entry = {
        ...fields,
        httpRequest: {
          requestMethod: req.method,
          requestUrl: truncate(req.originalUrl, MAX_URL_CHARS),
          status: res.statusCode,
          responseSize: String(res.getHeader('content-length') ?? ''),
          userAgent: truncate(req.get('user-agent'), MAX_HEADER_CHARS),
          referer: truncate(req.get('referer'), MAX_HEADER_CHARS),
          remoteIp: options.clientAddress(req.socket.remoteAddress, req.get('x-forwarded-for')),
          latency: `${seconds.toFixed(6)}s`,
          protocol: `HTTP/${req.httpVersion}`,
        },
      };
      if (res.statusCode >= 500) log.warn(entry, 'request failed');
      else log.info(entry, 'request');
    });
  };
}
