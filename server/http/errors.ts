// One error type for the HTTP layer, a JSON 404, and the single error handler
// that runs last. Express 5 forwards async throws here, so routes carry no
// try/catch. Clients see `{"error": {"code", "message"}}`; 5xx bodies never
// carry internals (the log has them, under the request id).

import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../log.js';
import { UnavailableError } from '../counter/types.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound: RequestHandler = (req) => {
  throw new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`);
};

/** Maps body-parser's errors (which carry `status` and `type`) to our codes. */
function fromBodyParser(error: unknown): HttpError | undefined {
  if (typeof error !== 'object' || error === null || !('type' in error) || !('status' in error)) return undefined;
  const { type, status } = error;
  if (typeof status !== 'number') return undefined;
  switch (type) {
    case 'entity.too.large':
      return new HttpError(413, 'payload_too_large', 'request body exceeds 1 KiB');
    case 'encoding.unsupported':
      return new HttpError(415, 'unsupported_encoding', 'unsupported content encoding');
    case 'request.aborted':
      return new HttpError(400, 'request_aborted', 'request aborted by the client');
    default:
      return status >= 400 && status < 500 ? new HttpError(status, 'bad_request', 'malformed request') : undefined;
  }
}

function classify(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof UnavailableError) {
    return new HttpError(503, 'unavailable', 'the counter is temporarily unavailable, retry shortly', {
      'Retry-After': String(error.retryAfterSeconds),
    });
  }
  return fromBodyParser(error) ?? new HttpError(500, 'internal', 'internal server error');
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const httpError = classify(error);
    if (httpError.status >= 500) {
      const detail = error instanceof Error ? { error: error.message, stack: error.stack } : { error: String(error) };
      log.error({ ...detail, requestId: res.locals.requestId as unknown }, `${req.method} ${req.path} failed`);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res
      .status(httpError.status)
      .set(httpError.headers)
      .json({ error: { code: httpError.code, message: httpError.message } });
  };
}
