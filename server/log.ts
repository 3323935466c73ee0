// Structured JSON logs in the shape Google Cloud Logging reads from stdout:
// `severity` instead of pino's numeric level, `message` as the text field,
// `time` in RFC 3339, and request logs carrying an `httpRequest` object.
// Writes are asynchronous; `flush()` runs before exit.

import { pino } from 'pino';
import type { LogLevel } from './config.js';

export type Logger = pino.Logger;

const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly workerId?: number;
  /** A destination to write to instead of stdout (tests). */
  readonly destination?: pino.DestinationStream;
}

/**
 * pino's `isoTime`, formatted once per millisecond: at thousands of lines a
 * second, `toISOString()` on every line was a measurable share of a request's
 * CPU (docs/benchmarks.md). Same output.
 */
export function isoTimeCached(): () => string {
  let lastMs = -1;
  let last = '';
  return () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      last = `,"time":"${new Date(now).toISOString()}"`;
    }
    return last;
  };
}

export function createLogger(options: LoggerOptions): Logger {
  // Asynchronous, unbuffered: lines queue only while a write is in flight,
  // so a quiet service's lines still reach journald at once.
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 0 });
  return pino(
    {
      level: options.level,
      messageKey: 'message',
      errorKey: 'error',
      timestamp: isoTimeCached(),
      base: { worker: options.workerId ?? 0, pid: process.pid },
      formatters: { level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }) },
    },
    destination,
  );
}

/** Flushes buffered log lines; safe to call more than once. */
export function flushLogger(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    log.flush(() => resolve());
  });
}
