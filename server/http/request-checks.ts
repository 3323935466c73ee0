// Checks that run before routing, where RFC 9112 asks for a 400 or the
// request can be refused without reading it: exactly one valid Host header
// (HTTP/1.1), and a declared body over the limit refused with 413 at once,
// before any of it is read and before `100 Continue` is sent. Plain functions
// that the app's middleware calls (server/app.ts), not layers of their own:
// each Express layer costs CPU on every request.

import type { Request, Response } from 'express';
import { HttpError } from './errors.js';

// RFC 9112 §3.2 / RFC 3986: uri-host [ ":" port ]; reg-name, IPv4 or IP-literal.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d{0,5})?$/;

function hostLines(rawHeaders: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    if (name.length === 4 && name.toLowerCase() === 'host') values.push(rawHeaders[i + 1] ?? '');
  }
  return values;
}

/** 400 for a missing (HTTP/1.1), repeated or invalid Host header (RFC 9112 §3.2). */
export function checkHost(req: Request): void {
  const hosts = hostLines(req.rawHeaders);
  if (hosts.length > 1) throw new HttpError(400, 'bad_request', 'more than one Host header');
  if (hosts.length === 0 && req.httpVersion === '1.1') throw new HttpError(400, 'bad_request', 'missing Host header');
  if (hosts.length === 1 && !HOST.test(hosts[0] ?? '')) throw new HttpError(400, 'bad_request', 'invalid Host header');
}

/**
 * A client that sent `Expect: 100-continue` and gets a final answer without
 * `100 Continue` may or may not send its body next: the connection closes
 * after that answer, so a body is never read as the next request.
 */
export function closeUnlessContinued(req: Request, res: Response): void {
  if (req.headers.expect?.toLowerCase() === '100-continue') {
    res.locals.keepAliveAfterContinue = res.shouldKeepAlive;
    res.shouldKeepAlive = false;
  }
}

/**
 * 413 at once (thrown) for a declared body over `limit`; else `100 Continue`
 * if the client waits for it. A plain function the body handler calls first
 * (server/app.ts).
 */
export function checkDeclaredBody(req: Request, res: Response, limit: number): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    throw new HttpError(413, 'payload_too_large', `request body exceeds ${limit} bytes`, { Connection: 'close' });
  }
  if (req.headers.expect?.toLowerCase() === '100-continue') {
    res.shouldKeepAlive = res.locals.keepAliveAfterContinue === true;
    res.writeContinue();
  }
}
