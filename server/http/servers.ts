// Listening and graceful closing of the HTTP(S) servers. Closing is done in
// two steps so that a drain drops nothing: first every response carries
// `Connection: close` and no new connection is accepted, while connections
// that are between two requests get a grace period to send their next one
// (and receive the close); then idle connections are closed, and whatever is
// still open at the deadline is cut. Errors from Node's HTTP parser are
// answered in the service's JSON shape (client-errors.ts).

import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { RequestListener } from 'node:http';
import { pino } from 'pino';
import type { Logger } from '../log.js';
import { handleClientErrors, InFlight } from './client-errors.js';
import { sleep } from '../timing.js';

export interface ServerTimeouts {
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export interface ListenSpec {
  readonly port: number;
  readonly host: string | undefined;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

/**
 * TLS for the local HTTPS listener (production TLS ends at the load
 * balancer): 1.2 and 1.3 only, and on 1.2 only ECDHE key exchange with AEAD
 * ciphers (forward secrecy, no CBC, no SHA-1 MACs). TLS 1.3 suites all qualify.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

const quiet: Logger = pino({ level: 'silent' });

export function createServer(
  handler: RequestListener,
  spec: ListenSpec,
  timeouts: ServerTimeouts,
  log: Logger = quiet,
  /** Counts requests refused before routing, by status (http_client_errors_total). */
  onClientError?: (status: number) => void,
): http.Server {
  const inFlight = new InFlight();
  const tracked: RequestListener = (req, res) => {
    inFlight.track(req, res);
    handler(req, res);
  };
  const options: http.ServerOptions = {
    // Host is checked by the app, so a missing one gets the JSON error shape.
    requireHostHeader: false,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    headersTimeout: timeouts.headersTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    // How often Node checks the two timeouts above (default 30 s).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(timeouts.headersTimeoutMs / 4))),
  };
  const server =
    spec.tls === undefined
      ? http.createServer(options, tracked)
      : https.createServer(
          {
            ...options,
            handshakeTimeout: timeouts.headersTimeoutMs,
            cert: readFileSync(spec.tls.certFile),
            key: readFileSync(spec.tls.keyFile),
            minVersion: 'TLSv1.2',
            ciphers: TLS_CIPHERS,
            honorCipherOrder: true,
          },
          tracked,
        );
  // The app decides whether to send 100 Continue: not for a body it would refuse.
  server.on('checkContinue', tracked);
  handleClientErrors(server, { log, inFlight, waitMs: timeouts.requestTimeoutMs, onRefusal: onClientError });
  // A client that connects and sends nothing is closed after the header
  // timeout. Node's own check also covers it, but only at its checking
  // interval and with a 408 through clientError; this timer closes at the
  // time itself. Which one comes first depends on the event loop: both are
  // fine, and app.test covers both.
  server.on(spec.tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), timeouts.headersTimeoutMs);
    socket.once('data', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
  return server;
}

export function listen(server: http.Server, spec: ListenSpec): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.port, spec.host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting, lets in-flight requests finish, then closes; resolves by `deadline` (ms since epoch). */
export async function drainAndClose(server: http.Server, deadline: number, graceMs = 1000): Promise<void> {
  if (!server.listening) return;
  const closeIdle = server.closeIdleConnections.bind(server);
  // Node's close() also closes idle keep-alive connections at once; hold that
  // back for the grace period, so a client whose next request is already on
  // the wire gets an answer (with Connection: close) instead of a reset.
  server.closeIdleConnections = () => undefined;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const graceEnd = Math.min(deadline, Date.now() + graceMs);
  let done = false;
  void closed.then(() => {
    done = true;
  });
  while (!done && Date.now() < deadline) {
    if (Date.now() >= graceEnd) closeIdle();
    await Promise.race([closed, sleep(50)]);
  }
  if (!done) server.closeAllConnections();
  await closed;
}
