// Configuration: defaults, validation that names the bad variable, and a
// service that refuses to start on bad configuration (non-zero exit).

import test from 'ava';
import { ConfigError, loadConfig } from '../../server/config.js';
import { spawnMain } from '../helpers/service.js';

test('loadConfig with an empty environment gives the documented defaults, frozen', (t) => {
  const config = loadConfig({});
  t.is(config.port, 8080);
  t.is(config.httpsPort, undefined);
  t.is(config.allocator, 'coalescing');
  t.is(config.requestDeadlineMs, 5000);
  t.is(config.dbBudgetMs, 1000);
  t.true(config.degradedMode);
  t.is(config.keepAliveTimeoutMs, 620_000);
  t.is(config.db.poolSize, 4);
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.db));
});

const bad: [Record<string, string>, RegExp][] = [
  [{ PORT: 'eighty' }, /PORT must be an integer/],
  [{ PORT: '70000' }, /PORT must be an integer from 0 to 65535/],
  [{ COUNTER_ALLOCATOR: 'magic' }, /COUNTER_ALLOCATOR must be one of coalescing, naive, constant/],
  [{ DEGRADED_MODE: 'maybe' }, /DEGRADED_MODE must be true or false/],
  [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must start with postgres/],
  [{ PGSSLMODE: 'prefer-ish' }, /PGSSLMODE must be one of/],
  [{ LEDGER_PRUNE_SCHEDULE: 'every minute' }, /LEDGER_PRUNE_SCHEDULE must be a cron expression/],
  [{ REQUEST_LOG_SAMPLE: '1.5' }, /REQUEST_LOG_SAMPLE must be a number from 0 to 1/],
  [{ HTTPS_PORT: '8443' }, /HTTPS_PORT needs TLS_CERT_FILE and TLS_KEY_FILE/],
  [{ DB_BUDGET_MS: '6000' }, /DB_BUDGET_MS \(6000\) must be below REQUEST_DEADLINE_MS \(5000\)/],
  [{ HEADERS_TIMEOUT_MS: '20000' }, /HEADERS_TIMEOUT_MS \(20000\) must not exceed REQUEST_TIMEOUT_MS/],
];

for (const [env, message] of bad) {
  test(`loadConfig rejects ${JSON.stringify(env)} with a message naming the variable`, (t) => {
    const error = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.regex(error?.message ?? '', message);
  });
}

test('loadConfig reports every bad variable at once', (t) => {
  const error = t.throws(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' }), { instanceOf: ConfigError });
  t.is(error?.problems.length, 2);
});

test('the service exits 78 with the variable named on stderr when configuration is bad', async (t) => {
  const { output, exited } = spawnMain({ PORT: 'not-a-port', REQUEST_DEADLINE_MS: '-5' });
  const code = await exited;
  t.is(code, 78);
  t.regex(output(), /PORT must be an integer/);
  t.regex(output(), /REQUEST_DEADLINE_MS must be an integer/);
});
