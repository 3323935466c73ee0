// The twin's database tier end to end, on the real daemons (etcd, Patroni,
// PostgreSQL 15, HAProxy, the delaying relay) in the twin's namespaces:
// a synchronous pair behind the stable address, TLS only for the
// application, the modelled delays actually paid, a SIGKILLed primary
// replaced with no acknowledged commit lost, a partition that is silent, and
// a teardown that leaves nothing behind. Needs root; run by `npm run test:twin`.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import {
  APP_ROLE,
  databaseConnection,
  databaseStatus,
  killPrimary,
  measureCommitLatency,
  measureRoundTrip,
  partition,
  psql,
  restartNode,
  startDatabase,
  stopDatabase,
  waitForStatus,
} from '../../twin/db/index.js';
import { STATE_DIR, caCertFile } from '../../twin/db/settings.js';
import { TWIN_NETNS, attachHost, detachHost, exec, listNetns, nsExec, nsExecOk } from '../../twin/topology.js';

const COMMIT_DELAY_MS = 2;
const RTT_MS = 2;
const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** A host in the fleet's address range (10.89.0.11-39), for the partition test. */
const PROBE_HOST = 'ctwin-probe';
const PROBE_IP = '10.89.0.38';

test.before(async () => {
  await startDatabase({ rttMs: RTT_MS, commitDelayMs: COMMIT_DELAY_MS, tls: true });
});

test.after.always(async () => {
  await detachHost(PROBE_HOST).catch(() => undefined);
  await stopDatabase();
});

test.serial('startDatabase: a primary, a synchronous standby, and the stable address answers over TLS', async (t) => {
  const status = await databaseStatus();
  t.truthy(status.primary);
  t.truthy(status.syncStandby);
  t.not(status.primary, status.syncStandby);
  const ssl = await psql(['SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()']);
  t.is(ssl, 't');
});

test.serial('stable address: the application role is refused without TLS, accepted with verify-ca', async (t) => {
  const { url } = databaseConnection();
  const plain = await nsExec(TWIN_NETNS, '/usr/bin/psql', [`${url}?sslmode=disable`, '-Atc', 'SELECT 1'], {
    timeoutMs: 15_000,
  });
  t.not(plain.code, 0);
  t.regex(plain.stderr, /no pg_hba\.conf entry|SSL off/);
  const verified = await nsExecOk(
    TWIN_NETNS,
    '/usr/bin/psql',
    [`${url}?sslmode=verify-ca&sslrootcert=${caCertFile()}`, '-Atc', 'SELECT current_user'],
    { timeoutMs: 15_000 },
  );
  t.is(verified.trim(), APP_ROLE);
});

test.serial('write through ctwin-sql: rows written through the stable address read back', async (t) => {
  await psql(['CREATE TABLE written (id int PRIMARY KEY)', 'INSERT INTO written SELECT generate_series(1, 100)']);
  t.is(await psql(['SELECT count(*) FROM written']), '100');
});

test.serial('commit latency: every commit on the primary waits at least the standby apply delay', async (t) => {
  const status = await databaseStatus();
  const latency = await measureCommitLatency(`ctwin-${status.primary}`, 100);
  t.log(`commits with ${COMMIT_DELAY_MS} ms delay: ${JSON.stringify(latency)}`);
  t.is(latency.transactions, 100);
  t.true(latency.minMs >= COMMIT_DELAY_MS, `fastest commit ${latency.minMs} ms`);
});

test.serial('relay: every round trip through the stable address takes at least the modelled RTT', async (t) => {
  const latency = await measureRoundTrip(100);
  t.log(`SELECT 1 through ctwin-sql with ${RTT_MS} ms RTT: ${JSON.stringify(latency)}`);
  t.is(latency.transactions, 100);
  t.true(latency.minMs >= RTT_MS, `fastest round trip ${latency.minMs} ms`);
});

test.serial('partition: the fleet range gets silence, not refusal; ctwin still reaches the database', async (t) => {
  await attachHost(PROBE_HOST, PROBE_IP);
  const probe = ['-c', 'timeout 3 bash -c "</dev/tcp/10.89.0.60/5432"'];
  t.is((await nsExec(PROBE_HOST, 'bash', probe)).code, 0);
  await partition(true);
  try {
    t.is((await nsExec(PROBE_HOST, 'bash', probe)).code, 124, 'connect must hang until the timeout');
    t.is(await psql(['SELECT 1']), '1');
  } finally {
    await partition(false);
  }
  t.is((await nsExec(PROBE_HOST, 'bash', probe)).code, 0);
  // Off the bridge again: a host left attached keeps stopDatabase from removing ctwin.
  await detachHost(PROBE_HOST);
});

test.serial(
  'killPrimary: the standby is promoted in bounds, no acknowledged commit is lost, the node rejoins',
  async (t) => {
    const before = await databaseStatus();
    const { url } = databaseConnection();
    // A writer in ctwin inserts through the stable address across the kill.
    const writer = nsExec(
      TWIN_NETNS,
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'twin', 'db', 'writer-probe.ts'),
        '--url',
        url,
        '--seconds',
        '20',
        '--ca',
        caCertFile(),
      ],
      { timeoutMs: 60_000 },
    );
    await new Promise((r) => setTimeout(r, 4000));
    const kill = await killPrimary('node');
    t.is(String(kill.node), String(before.primary));
    const promoted = await waitForStatus(
      (s) => s.primary !== undefined && s.primary !== kill.node,
      30_000,
      'promotion',
    );
    const promotedMs = Date.now() - kill.at;
    t.log(`promoted ${promoted.primary} ${promotedMs} ms after the kill`);
    t.is(String(promoted.primary), String(before.syncStandby));
    const result = await writer;
    t.is(result.code, 0, result.stderr);
    const { acknowledged, errors } = JSON.parse(result.stdout) as { acknowledged: number[]; errors: number };
    t.log(`writer: ${acknowledged.length} acknowledged, ${errors} errors`);
    t.true(acknowledged.length > 0);
    const present = new Set(
      (await psql(['SELECT id FROM probe_write'], { database: 'counter' })).split('\n').filter(Boolean).map(Number),
    );
    t.deepEqual(
      acknowledged.filter((id) => !present.has(id)),
      [],
    );
    restartNode(kill.node);
    const rejoined = await waitForStatus((s) => s.syncStandby === kill.node, 120_000, 'rejoin');
    t.is(String(rejoined.syncStandby), String(kill.node), 'the killed node is back as synchronous standby');
    t.is(String(rejoined.primary), String(promoted.primary), 'the promoted node stays primary');
  },
);

test.serial('stopDatabase: no process, namespace or state left; the Debian cluster stays down', async (t) => {
  await stopDatabase();
  const netns = await listNetns();
  t.deepEqual(
    netns.filter((n) => n === TWIN_NETNS || n.startsWith('ctwin-')),
    [],
  );
  const leftovers = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(STATE_DIR);
      } catch {
        return false;
      }
    });
  t.deepEqual(leftovers, []);
  t.false(existsSync(STATE_DIR));
  const clusters = await exec('pg_lsclusters', ['-h']);
  t.false(/\bonline\b/.test(clusters.stdout), clusters.stdout);
});
