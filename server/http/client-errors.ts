// Answers what Node's HTTP parser refuses (malformed request line or headers,
// oversized headers, timeouts, unknown `Expect`) in the service's JSON error
// shape, instead of Node's empty-bodied default, and logs each one through a
// rate limiter. A parse error on a connection that still has a response in
// flight (a valid request followed by garbage) waits for that response first:
// the value already taken for it is then delivered rather than lost behind a
// 400 and a destroyed socket.

import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { createLogLimiter } from './log-limiter.js';
import { within } from '../timing.js';

interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Errors on the connection itself: nobody is left to answer. */
const GONE = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_DESTROYED']);

export function refusalFor(error: Error & { code?: string }): Refusal | undefined {
  const code = error.code ?? '';
  if (GONE.has(code)) return undefined;
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers_too_large', message: 'request headers exceed 16 KiB' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'the request was not received in time' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'payload_too_large', message: 'chunk extensions too large' };
    default:
      return code.startsWith('HPE_')
        ? { status: 400, code: 'bad_request', message: 'malformed HTTP request' }
        : undefined;
  }
}

export function errorResponse(refusal: Refusal, requestId: string): string {
  const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
  return [
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    `X-Request-Id: ${requestId}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Responses in flight per connection, so a parse error can wait for them.
 * Only requests received in full are waited for: a parse error inside a
 * request's own body belongs to that request, which is answered at once.
 */
export class InFlight {
  // Per request only a set entry and one listener: a promise per request
  // cost CPU on every request, while they are needed only after a parse error.
  readonly #open = new WeakMap<Duplex, Set<http.ServerResponse>>();

  track(req: http.IncomingMessage, res: http.ServerResponse): void {
    let open = this.#open.get(req.socket);
    if (open === undefined) {
      open = new Set();
      this.#open.set(req.socket, open);
    }
    const pending = open;
    pending.add(res);
    // `on`, not `once` (which wraps every listener); deleting twice is harmless.
    res.on('close', () => pending.delete(res));
  }

  settled(socket: Duplex, boundMs: number): Promise<void> {
    const waits = [...(this.#open.get(socket) ?? [])]
      .filter((res) => res.req.complete)
      .map((res) => new Promise<void>((resolve) => res.once('close', () => resolve())));
    if (waits.length === 0) return Promise.resolve();
    return within(
      Promise.all(waits).then(() => undefined),
      boundMs,
      undefined,
    );
  }
}

export interface ClientErrorOptions {
  readonly log: Logger;
  readonly inFlight: InFlight;
  /** Longest wait for a response in flight on the same connection. */
  readonly waitMs: number;
  readonly onRefusal?: (status: number) => void;
}

export function handleClientErrors(server: http.Server, options: ClientErrorOptions): void {
  const { log, inFlight, waitMs } = options;
  const limiter = createLogLimiter(10, 10);
  const record = (refusal: Refusal, requestId: string, remoteIp: string | undefined, reason: string) => {
    options.onRefusal?.(refusal.status);
    const taken = limiter.take();
    if (taken === undefined) return;
    log.info(
      { requestId, reason, suppressed: taken.suppressed, httpRequest: { status: refusal.status, remoteIp } },
      'client error',
    );
  };

  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    const refusal = refusalFor(error);
    if (refusal === undefined) {
      socket.destroy();
      return;
    }
    const remoteIp = (socket as Partial<{ remoteAddress: string }>).remoteAddress;
    void inFlight.settled(socket, waitMs).then(() => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const requestId = randomUUID();
      record(refusal, requestId, remoteIp, error.code ?? 'unknown');
      socket.end(errorResponse(refusal, requestId));
      // Bounded: a peer that never reads must not hold the socket open.
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  });

  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const refusal = { status: 417, code: 'expectation_failed', message: 'only Expect: 100-continue is supported' };
    const requestId = randomUUID();
    record(refusal, requestId, req.socket.remoteAddress, 'expect');
    const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
    res.writeHead(417, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'X-Request-Id': requestId,
      Connection: 'close',
    });
    res.end(body);
  });
}
