// The process entry, and the only file with side effects. Start steps, in
// order: config → logger → database → counter → listeners → (ready at once if
// this host's state file says the schema exists) → migrations → jobs →
// ready, told to pm2. Each step is named and skipped once shutdown began.
// Close hooks run in reverse (see lifecycle.ts), on SIGTERM/SIGINT: readiness
// goes 503 → jobs stop → (optional delay for the load balancer to notice) →
// stop accepting and drain in-flight requests → settle the counter and
// record the last value → close the admin listener → close the pool → exit
// 0, well inside pm2's kill_timeout. Unknown process-level errors are logged
// and exit non-zero so pm2 restarts the worker.

import { createAdminApp, createApp, type Readiness } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { backoff, sleep } from './timing.js';
import { buildCounter, maxReplayAgeMs } from './counter/factory.js';
import { readState, writeState } from './counter/state-file.js';
import { UnavailableError, type Counter } from './counter/types.js';
import { deadlineAfter } from './counter/waiter.js';
import { createDb, type Db } from './db.js';
import { createServer, drainAndClose, listen, type ListenSpec } from './http/servers.js';
import { createWarmUp } from './http/warm-up.js';
import { pruneLedgerJob } from './jobs/prune-ledger.js';
import { replayJournalsJob, replayOrphanedJournals } from './jobs/replay-journals.js';
import { startJob } from './jobs/schedule.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, flushLogger, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { MIGRATIONS, migrate } from './migrations.js';

const LATEST_SCHEMA = Math.max(...MIGRATIONS.map((m) => m.version));

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

/** Migrates, retrying while the database is unreachable; false if shutdown began first. */
async function migrateUntilDone(db: Db, log: Logger, stop: AbortSignal): Promise<boolean> {
  for (let attempt = 0; !stop.aborted; attempt += 1) {
    try {
      await migrate(db, log);
      return true;
    } catch (err) {
      log.warn({ err, attempt }, 'migrations failed (database unreachable?); retrying');
      await sleep(backoff(attempt, 200, 5000), stop);
    }
  }
  return false;
}

async function main(): Promise<void> {
  const config = readConfig();
  const log = createLogger({ level: config.logLevel, workerId: config.workerId });
  const fatal = (kind: string) => (err: unknown) => {
    log.fatal({ err }, kind);
    void flushLogger(log).finally(() => process.exit(1));
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));
  const life = new Lifecycle(log, config.shutdownTimeoutMs);
  const shutdown = (signal: string) => {
    // Beyond the hooks' own bounds: a hook that ignores its deadline must not keep the worker alive.
    setTimeout(
      () => fatal('shutdown timed out')(new Error(`not drained within ${config.shutdownTimeoutMs} ms`)),
      config.shutdownTimeoutMs + 2000,
    ).unref();
    life
      .close(signal)
      .then(async (ok) => {
        log.info({ ok }, 'drained; exiting');
        await flushLogger(log);
        process.exit(ok ? 0 : 1);
      })
      .catch(fatal('shutdown failed'));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const metrics = createMetrics(config.workerId);
  const db = createDb({
    config: config.db,
    log,
    applicationName: `counter-api/w${config.workerId}`,
    observe: metrics.observeQuery,
  });
  life.onClose('database pool', () => db.close());
  metrics.watchPool(() => db.stats());

  const known = await readState(config.journalDir);
  let schemaReady = (known?.schemaVersion ?? 0) >= LATEST_SCHEMA;
  const rememberLast = (last: number) =>
    writeState(config.journalDir, config.workerId, {
      schemaVersion: schemaReady ? LATEST_SCHEMA : 0,
      lastCommitted: last,
    }).catch((err: unknown) => log.warn({ err }, 'could not write the state file'));
  const built = buildCounter({
    config,
    db,
    log,
    metrics,
    lastCommitted: known?.lastCommitted,
    onModeChange: (_mode, last) => void rememberLast(last),
  });
  if (config.allocator !== 'coalescing')
    log.warn({ allocator: config.allocator }, 'benchmark baseline counter in use: not for production');
  const counter: Counter = {
    next: (signal) =>
      schemaReady
        ? built.counter.next(signal)
        : Promise.reject(new UnavailableError('starting: schema not migrated yet', 2)),
    close: () => built.counter.close(),
  };
  const warmUp = createWarmUp({ budgetMs: config.warmUpMs, db, poolSize: config.db.poolSize, log, timeouts: config });
  const readiness = warmUp.gate(readinessCheck(config, db, built.degraded, life, () => schemaReady));

  const admin = await life.start('admin listener', async () => {
    if (config.metricsPort === 0) return undefined;
    const spec = { port: config.metricsPort + config.workerId, host: '127.0.0.1' };
    const server = createServer(createAdminApp({ log, readiness, registry: metrics.registry }), spec, config, log);
    await listen(server, spec);
    return server;
  });
  if (admin !== undefined) life.onClose('admin listener', (deadline) => drainAndClose(admin, deadline, 0));
  life.onClose('counter', async () => {
    await counter.close();
    if (built.degraded !== undefined) await rememberLast(built.degraded.lastCommitted);
  });

  await life.start('listeners', async () => {
    const app = createApp({
      counter,
      log,
      readiness,
      metrics,
      requestLogSample: config.requestLogSample,
      proxies: config,
      project: config.googleCloudProject,
      draining: () => life.stopping,
      deadline: () => deadlineAfter(config.requestDeadlineMs),
    });
    const specs: ListenSpec[] = [{ port: config.port, host: config.host }];
    if (config.httpsPort !== undefined && config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
      specs.push({
        port: config.httpsPort,
        host: config.host,
        tls: { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile },
      });
    }
    // Before listening: no request arrives cold, and readiness waits for it.
    await warmUp.run(specs.find((spec) => spec.tls !== undefined)?.tls);
    for (const spec of specs) {
      const server = createServer(app, spec, config, log, metrics.http.clientError);
      life.onClose(`listener :${spec.port}`, (deadline) => drainAndClose(server, deadline));
      const port = await listen(server, spec);
      log.info({ port, tls: spec.tls !== undefined }, 'listening');
    }
  });
  life.onClose('load balancer delay', () => sleep(config.shutdownDelayMs));

  let announced = false;
  const announceReady = () => {
    if (announced || life.stopping) return;
    announced = true;
    log.info({ schemaKnownFromStateFile: known !== undefined }, 'ready');
    process.send?.('ready');
  };
  // With the schema known from this host's state file, the worker can serve
  // (in degraded mode if need be) before the database answers.
  if (schemaReady && built.degraded !== undefined) await life.start('ready from the state file', announceReady);

  if ((await life.start('migrations', () => migrateUntilDone(db, log, life.signal))) !== true) return;
  schemaReady = true;
  await rememberLast(built.degraded?.lastCommitted ?? 0);
  await life.start('jobs', () => {
    const prune = startJob(pruneLedgerJob(db, config.ledgerRetentionHours, config.ledgerPruneSchedule), log);
    life.onClose('job prune-ledger', async () => prune.stop());
    if (built.degraded === undefined) return;
    const replay = {
      db,
      log,
      dir: config.journalDir,
      maxReplayAgeMs: maxReplayAgeMs(config),
      onReplay: metrics.replayed,
      onQuarantine: metrics.quarantined,
      chunk: config.journalReplayChunk,
    };
    const scan = startJob(replayJournalsJob(replay, config.journalScanSchedule), log);
    life.onClose('job replay-orphaned-journals', async () => scan.stop());
    replayOrphanedJournals(replay).catch((err: unknown) =>
      log.warn({ err }, 'replay of orphaned journals failed; the job retries'),
    );
  });
  await life.start('ready', announceReady);
}

/** /readyz: 503 while stopping or before the schema exists; in exact-only mode, also while the database is down. */
function readinessCheck(
  config: Config,
  db: Db,
  degraded: { readonly mode: string } | undefined,
  life: Lifecycle,
  schemaReady: () => boolean,
): () => Promise<Readiness> {
  let lastPing = { at: 0, ok: false };
  return async () => {
    if (life.stopping) return { ready: false, status: 'stopping' };
    if (!schemaReady()) return { ready: false, status: 'starting' };
    if (degraded !== undefined) return { ready: true, status: 'ready', mode: degraded.mode };
    if (Date.now() - lastPing.at > 1000) {
      lastPing = {
        at: Date.now(),
        ok: await db.ping(config.db.connectTimeoutMs).then(
          () => true,
          () => false,
        ),
      };
    }
    return lastPing.ok
      ? { ready: true, status: 'ready', mode: 'exact' }
      : { ready: false, status: 'database_unreachable' };
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`fatal: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
