// The logger's line shape: Cloud Logging's field names and an RFC 3339 time
// that is the same as pino's own isoTime, though formatted once per millisecond.

import { Writable } from 'node:stream';
import test from 'ava';
import { pino } from 'pino';
import { createLogger, isoTimeCached } from '../../server/log.js';

test('the cached time is pino isoTime for the same millisecond, and moves with the clock', (t) => {
  const time = isoTimeCached();
  const realNow = Date.now;
  try {
    for (const now of [Date.UTC(2026, 10, 30, 8, 0, 0, 1), Date.UTC(2026, 10, 30, 8, 0, 0, 1), Date.UTC(2027, 0, 1)]) {
      Date.now = () => now;
      t.is(time(), pino.stdTimeFunctions.isoTime());
    }
  } finally {
    Date.now = realNow;
  }
});

test('a log line carries severity, message and an ISO time', (t) => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = createLogger({ level: 'info', workerId: 3, destination });
  const before = Date.now();
  log.warn({ requestId: 'r1' }, 'hello');
  const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  t.is(line.severity, 'WARNING');
  t.is(line.message, 'hello');
  t.is(line.worker, 3);
  t.is(line.requestId, 'r1');
  const time = Date.parse(String(line.time));
  t.true(time >= before && time <= Date.now(), String(line.time));
  t.regex(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});
