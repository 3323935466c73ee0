// One error type for the HTTP layer, a JSON 404, and the single error handler
// that runs last. Express 5 forwards async throws here, so routes carry no
// try/catch. Clients see `{"error": {"code", "message"}}`; 5xx bodies never
// carry internals (the log has them, under the request id and trace).

import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../log.js';
import { UnavailableError } from '../counter/types.js';
import { truncate } from './request-log.js';

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
  throw new HttpError(404, 'not_found', `no route for ${req.method} ${truncate(req.path, 128)}`);
};

// zlib's codes (Z_DATA_ERROR, …) and brotli's (ERR__ERROR_FORMAT_…, ERR_BROTLI…).
const ZLIB_CODES = /^(Z_|ERR__|ERR_BROTLI|ERR_ZLIB)/;

/** The status an error from body-parser (or zlib under it) carries, if it is a client error. */
function clientStatus(error: object): number | undefined {
  const status = 'status' in error ? error.status : 'statusCode' in error ? error.statusCode : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/**
 * Maps body-parser's errors to our codes. Anything it marks 4xx is the
 * client's fault and stays 4xx, with or without a `type`: a corrupt gzip,
 * deflate or br body is wrapped as a bare 400 around zlib's error.
 */
function fromBodyParser(error: unknown): HttpError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const status = clientStatus(error);
  if (status === undefined) return undefined;
  const type = 'type' in error ? error.type : undefined;
  const code = 'code' in error ? error.code : undefined;
  switch (type) {
    case 'entity.too.large':
      return new HttpError(413, 'payload_too_large', 'request body exceeds 1 KiB', { Connection: 'close' });
    case 'encoding.unsupported':
      return new HttpError(415, 'unsupported_encoding', 'unsupported content encoding');
    case 'request.aborted':
      return new HttpError(400, 'request_aborted', 'request aborted by the client');
    default:
      if (typeof code === 'string' && ZLIB_CODES.test(code)) {
        return new HttpError(400, 'invalid_body_encoding', 'request body does not match its Content-Encoding');
      }
      return new HttpError(status, 'bad_request', 'malformed request');
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
    // A 503 from the counter is a refusal it chose (starting, a deadline, a
    // full journal), logged where it was decided and by the request log as a
    // warning; only an unexpected failure is an error here.
    if (httpError.status >= 500 && !(error instanceof UnavailableError)) {
      log.error(
        { ...(res.locals.logFields as object | undefined), err: error },
        `${req.method} ${(req.route as { path?: string } | undefined)?.path ?? 'unmatched'} failed`,
      );
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
