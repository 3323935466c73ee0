// A raw TCP client for hostile-input tests: it sends exactly the bytes given
// (no client library normalises them) and collects whatever comes back until
// the server closes the connection or a bound passes.

import net from 'node:net';

export interface RawExchange {
  /** Everything received, as latin1 text. */
  readonly text: string;
  /** True if the server closed (or reset) the connection within the bound. */
  readonly closed: boolean;
  /** Milliseconds from the first write to the first byte received (undefined if none). */
  readonly firstByteMs: number | undefined;
}

export interface RawOptions {
  /** Longest wait for the server to close, in ms. */
  readonly waitMs?: number;
  /** Stop waiting as soon as the received text matches. */
  readonly until?: RegExp;
  /** Reset the connection (TCP RST) right after writing. */
  readonly resetAfterWrite?: boolean;
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `bytes` on a new connection and returns what came back. */
export async function exchange(port: number, bytes: string | Buffer, options: RawOptions = {}): Promise<RawExchange> {
  const socket = await connect(port);
  socket.on('error', () => undefined);
  let text = '';
  let firstByteMs: number | undefined;
  const started = Date.now();
  const result = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), options.waitMs ?? 3000);
    socket.on('data', (chunk: Buffer) => {
      firstByteMs ??= Date.now() - started;
      text += chunk.toString('latin1');
      if (options.until?.test(text) === true) {
        clearTimeout(timer);
        resolve(false);
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.write(bytes);
  if (options.resetAfterWrite === true) socket.resetAndDestroy();
  const closed = await result;
  socket.destroy();
  return { text, closed, firstByteMs };
}

export interface ParsedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Splits a received byte stream into HTTP/1.1 responses (Content-Length framed, as this server sends). */
export function parseResponses(text: string): ParsedResponse[] {
  const responses: ParsedResponse[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    responses.push({ status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return responses;
}
