// The process entry, and the only file with side effects: load config →
// database → counter → app → listen → migrate → jobs → tell pm2 `ready`.
// On SIGTERM/SIGINT: readiness goes 503 → jobs stop → (optional delay for the
// load balancer to notice) → stop accepting and drain in-flight requests →
// settle the counter → close the pool → exit 0, well inside pm2's
// kill_timeout. Unknown process-level errors are logged and exit non-zero so
// pm2 restarts the worker.

import type http from 'node:http';
import type { ScheduledTask } from 'node-cron';
import { createAdminApp, createApp, type Readiness } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { buildCounter, maxReplayAgeMs } from './counter/factory.js';
import { readState, writeState } from './counter/state-file.js';
import { UnavailableError, type Counter } from './counter/types.js';
import { createDb, type Db } from './db.js';
import { createServer, drainAndClose, listen, type ListenSpec } from './http/servers.js';
import { createWarmUp } from './http/warm-up.js';
import { pruneLedgerJob } from './jobs/prune-ledger.js';
import { replayJournalsJob, replayOrphanedJournals } from './jobs/replay-journals.js';
import { startJob } from './jobs/schedule.js';
import { createLogger, flushLogger, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { MIGRATIONS, migrate } from './migrations.js';

const LATEST_SCHEMA = Math.max(...MIGRATIONS.map((m) => m.version));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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

async function migrateUntilDone(db: Db, log: Logger, stopping: () => boolean): Promise<boolean> {
  for (let attempt = 0; !stopping(); attempt += 1) {
    try {
      await migrate(db, log);
      return true;
    } catch (error) {
      log.warn({ error: String(error), attempt }, 'migrations failed (database unreachable?); retrying');
      await sleep(Math.min(5000, 200 * 2 ** attempt));
    }
  }
  return false;
}

async function main(): Promise<void> {
  const config = readConfig();
  const log = createLogger({ level: config.logLevel, workerId: config.workerId });
  const fatal = (kind: string) => (error: unknown) => {
    log.fatal({ error: error instanceof Error ? error.stack : String(error) }, kind);
    void flushLogger(log).finally(() => process.exit(1));
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));

  const metrics = createMetrics(config.workerId);
  const db = createDb({
    config: config.db,
    log,
    applicationName: `counter-api/w${config.workerId}`,
    observe: metrics.observeQuery,
  });
  metrics.watchPool(() => db.stats());
  const known = await readState(config.journalDir);
  const lifecycle = { schemaReady: (known?.schemaVersion ?? 0) >= LATEST_SCHEMA, stopping: false };
  const rememberLast = (last: number) =>
    writeState(config.journalDir, {
      schemaVersion: lifecycle.schemaReady ? LATEST_SCHEMA : 0,
      lastCommitted: last,
    }).catch((error: unknown) => log.warn({ error: String(error) }, 'could not write the state file'));
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
    next: () =>
      lifecycle.schemaReady
        ? built.counter.next()
        : Promise.reject(new UnavailableError('starting: schema not migrated yet', 2)),
    close: () => built.counter.close(),
  };
  let lastPing = { at: 0, ok: false };
  const warmUp = createWarmUp({ budgetMs: config.warmUpMs, db, poolSize: config.db.poolSize, log, timeouts: config });
  const readiness = warmUp.gate(async (): Promise<Readiness> => {
    if (lifecycle.stopping) return { ready: false, status: 'stopping' };
    if (!lifecycle.schemaReady) return { ready: false, status: 'starting' };
    if (built.degraded !== undefined) return { ready: true, status: 'ready', mode: built.degraded.mode };
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
  });

  const app = createApp({
    counter,
    log,
    readiness,
    metrics,
    requestLogSample: config.requestLogSample,
    proxies: config,
    project: config.googleCloudProject,
    draining: () => lifecycle.stopping,
  });
  const specs: ListenSpec[] = [{ port: config.port, host: config.host }];
  if (config.httpsPort !== undefined && config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
    specs.push({
      port: config.httpsPort,
      host: config.host,
      tls: { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile },
    });
  }
  await warmUp.run(specs.find((spec) => spec.tls !== undefined)?.tls); // before listening: no request arrives cold, readiness waits for it
  const servers: http.Server[] = [];
  for (const spec of specs) {
    const server = createServer(app, spec, config, log, metrics.http.clientError);
    const port = await listen(server, spec);
    servers.push(server);
    log.info({ port, tls: spec.tls !== undefined }, 'listening');
  }
  let metricsServer: http.Server | undefined;
  if (config.metricsPort > 0) {
    const spec = { port: config.metricsPort + config.workerId, host: '127.0.0.1' };
    metricsServer = createServer(createAdminApp({ log, readiness, registry: metrics.registry }), spec, config, log);
    await listen(metricsServer, spec);
  }

  let announced = false;
  const announceReady = () => {
    if (announced) return;
    announced = true;
    log.info({ schemaKnownFromStateFile: known !== undefined }, 'ready');
    process.send?.('ready');
  };
  // With the schema known from this host's state file, the worker can serve
  // (in degraded mode if need be) before the database answers.
  if (lifecycle.schemaReady && built.degraded !== undefined) announceReady();

  const jobs: ScheduledTask[] = [];
  const shutdown = async (signal: string) => {
    if (lifecycle.stopping) return;
    lifecycle.stopping = true;
    const deadline = Date.now() + config.shutdownTimeoutMs;
    setTimeout(
      () => fatal('shutdown timed out')(new Error(`not drained within ${config.shutdownTimeoutMs} ms`)),
      config.shutdownTimeoutMs + 2000,
    ).unref();
    log.info({ signal }, 'shutting down: draining');
    await Promise.all(jobs.map((job) => Promise.resolve(job.stop())));
    await sleep(config.shutdownDelayMs);
    await Promise.all(servers.map((server) => drainAndClose(server, deadline)));
    await counter.close();
    if (built.degraded !== undefined) await rememberLast(built.degraded.lastCommitted);
    if (metricsServer !== undefined) await drainAndClose(metricsServer, deadline, 0);
    await db.close();
    log.info('drained; exiting');
    await flushLogger(log);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  if (await migrateUntilDone(db, log, () => lifecycle.stopping)) {
    lifecycle.schemaReady = true;
    await rememberLast(built.degraded?.lastCommitted ?? 0);
    jobs.push(startJob(pruneLedgerJob(db, config.ledgerRetentionHours, config.ledgerPruneSchedule), log));
    if (built.degraded !== undefined) {
      const replay = {
        db,
        log,
        dir: config.journalDir,
        maxReplayAgeMs: maxReplayAgeMs(config),
        onReplay: metrics.replayed,
        chunk: config.journalReplayChunk,
      };
      jobs.push(startJob(replayJournalsJob(replay, config.journalScanSchedule), log));
      replayOrphanedJournals(replay).catch((error: unknown) =>
        log.warn({ error: String(error) }, 'replay of orphaned journals failed; the job retries'),
      );
    }
    announceReady();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`fatal: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
