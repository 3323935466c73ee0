// The only module that reads process.env. Every setting the service takes is
// declared here once: typed, validated, defaulted and frozen. A bad value stops
// start-up with a message naming the variable, so a typo in an instance's
// metadata fails the health check instead of running with a surprise.

import os from 'node:os';
import path from 'node:path';
import { validate as validateCron } from 'node-cron';
import { cidrProblem, GOOGLE_FRONT_ENDS } from './http/client-address.js';

export type AllocatorKind = 'coalescing' | 'naive' | 'constant';
export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface DatabaseConfig {
  readonly connectionString: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly database: string | undefined;
  readonly sslMode: SslMode | undefined;
  readonly sslRootCertFile: string | undefined;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
}

export interface Config {
  readonly port: number;
  readonly host: string | undefined;
  readonly httpsPort: number | undefined;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  readonly metricsPort: number;
  readonly workerId: number;
  readonly logLevel: LogLevel;
  readonly requestLogSample: number;
  readonly db: DatabaseConfig;
  readonly allocator: AllocatorKind;
  readonly maxBatch: number;
  readonly requestDeadlineMs: number;
  readonly degradedMode: boolean;
  readonly dbBudgetMs: number;
  readonly probeIntervalMs: number;
  readonly journalDir: string;
  readonly journalReplayChunk: number;
  readonly journalMaxEntries: number;
  readonly ledgerRetentionHours: number;
  readonly ledgerPruneSchedule: string;
  readonly journalScanSchedule: string;
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  // HTTP layer (server/http): warm-up before readiness, forwarding headers, trace.
  readonly warmUpMs: number;
  readonly trustedProxyRanges: readonly string[];
  readonly forwardedForHops: number;
  readonly googleCloudProject: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads typed values from an environment, collecting every problem at once. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  int(name: string, fallback: number, min: number, max: number): number {
    return this.optionalInt(name, min, max) ?? fallback;
  }

  optionalInt(name: string, min: number, max: number): number | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const parsed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${value}")`);
      return undefined;
    }
    return parsed;
  }

  fraction(name: string, fallback: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^\d*\.?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!(parsed >= 0 && parsed <= 1)) {
      this.problems.push(`${name} must be a number from 0 to 1 (got "${value}")`);
      return fallback;
    }
    return parsed;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: undefined): T | undefined;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T | undefined): T | undefined {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${value}")`);
    return fallback;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['1', 'true', 'on', 'yes'].includes(value)) return true;
    if (['0', 'false', 'off', 'no'].includes(value)) return false;
    this.problems.push(`${name} must be true or false (got "${value}")`);
    return fallback;
  }

  cron(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    if (!validateCron(value)) this.problems.push(`${name} must be a cron expression (got "${value}")`);
    return value;
  }
}

const MINUTE = 60_000;

/** TRUSTED_PROXY_RANGES: comma-separated CIDR ranges, `none`, or unset for Google's front ends. */
function proxyRanges(r: Reader): readonly string[] {
  const value = r.raw('TRUSTED_PROXY_RANGES');
  if (value === undefined) return GOOGLE_FRONT_ENDS;
  if (value === 'none') return [];
  const ranges = value.split(',').map((range) => range.trim());
  for (const problem of ranges.map(cidrProblem)) if (problem) r.problems.push(`TRUSTED_PROXY_RANGES: ${problem}`);
  return Object.freeze(ranges);
}

function readDatabase(r: Reader): DatabaseConfig {
  const connectionString = r.raw('DATABASE_URL');
  if (connectionString !== undefined && !/^postgres(ql)?:\/\//.test(connectionString)) {
    r.problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }
  return {
    connectionString,
    host: r.raw('PGHOST'),
    port: r.optionalInt('PGPORT', 1, 65535),
    user: r.raw('PGUSER'),
    password: r.raw('PGPASSWORD'),
    database: r.raw('PGDATABASE'),
    sslMode: r.oneOf<SslMode>('PGSSLMODE', ['disable', 'require', 'verify-ca', 'verify-full'], undefined),
    sslRootCertFile: r.raw('PGSSLROOTCERT'),
    poolSize: r.int('DB_POOL_SIZE', 4, 2, 100),
    connectTimeoutMs: r.int('DB_CONNECT_TIMEOUT_MS', 2000, 100, MINUTE),
    queryTimeoutMs: r.int('DB_QUERY_TIMEOUT_MS', 10_000, 100, 10 * MINUTE),
  };
}

/** Builds the service configuration from an environment (process.env by default). */
export function loadConfig(env: Env = process.env): Config {
  const r = new Reader(env);
  // 0 or unset: no HTTPS listener (production: TLS ends at the load balancer).
  const httpsPort = r.optionalInt('HTTPS_PORT', 0, 65535) || undefined;
  const config: Config = {
    port: r.int('PORT', 8080, 0, 65535),
    host: r.raw('HOST'),
    httpsPort,
    tlsCertFile: r.raw('TLS_CERT_FILE'),
    tlsKeyFile: r.raw('TLS_KEY_FILE'),
    metricsPort: r.int('METRICS_PORT', 0, 0, 65535),
    workerId: r.int('NODE_APP_INSTANCE', 0, 0, 1023),
    logLevel: r.oneOf<LogLevel>('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info'),
    requestLogSample: r.fraction('REQUEST_LOG_SAMPLE', 1),
    db: readDatabase(r),
    allocator: r.oneOf<AllocatorKind>('COUNTER_ALLOCATOR', ['coalescing', 'naive', 'constant'], 'coalescing'),
    maxBatch: r.int('COUNTER_MAX_BATCH', 1000, 1, 100_000),
    requestDeadlineMs: r.int('REQUEST_DEADLINE_MS', 5000, 50, MINUTE),
    degradedMode: r.bool('DEGRADED_MODE', true),
    dbBudgetMs: r.int('DB_BUDGET_MS', 1000, 10, MINUTE),
    probeIntervalMs: r.int('PROBE_INTERVAL_MS', 500, 50, MINUTE),
    journalDir: path.resolve(r.raw('JOURNAL_DIR') ?? path.join('.data', 'journal')),
    journalReplayChunk: r.int('JOURNAL_REPLAY_CHUNK', 500, 1, 10_000),
    journalMaxEntries: r.int('JOURNAL_MAX_ENTRIES', 100_000, 1, 10_000_000),
    ledgerRetentionHours: r.int('LEDGER_RETENTION_HOURS', 24, 2, 24 * 365),
    ledgerPruneSchedule: r.cron('LEDGER_PRUNE_SCHEDULE', '*/10 * * * *'),
    journalScanSchedule: r.cron('JOURNAL_SCAN_SCHEDULE', '*/30 * * * * *'),
    // Above the Google Cloud load balancer's 600 s backend keep-alive, so the
    // backend never closes a connection the load balancer is about to reuse.
    keepAliveTimeoutMs: r.int('KEEP_ALIVE_TIMEOUT_MS', 620_000, 1000, 3600_000),
    headersTimeoutMs: r.int('HEADERS_TIMEOUT_MS', 10_000, 100, 10 * MINUTE),
    requestTimeoutMs: r.int('REQUEST_TIMEOUT_MS', 15_000, 100, 10 * MINUTE),
    shutdownDelayMs: r.int('SHUTDOWN_DELAY_MS', 0, 0, MINUTE),
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 20_000, 100, 10 * MINUTE),
    // HTTP layer (server/http): warm-up before readiness, forwarding headers, trace.
    warmUpMs: r.int('WARMUP_MS', 1000, 0, 10_000),
    trustedProxyRanges: proxyRanges(r),
    forwardedForHops: r.int('FORWARDED_FOR_HOPS', 2, 1, 10),
    googleCloudProject: r.raw('GOOGLE_CLOUD_PROJECT'),
  };
  checkRelations(config, r.problems);
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return Object.freeze({ ...config, db: Object.freeze(config.db) });
}

function checkRelations(c: Config, problems: string[]): void {
  if (c.httpsPort !== undefined && (c.tlsCertFile === undefined || c.tlsKeyFile === undefined)) {
    problems.push('HTTPS_PORT needs TLS_CERT_FILE and TLS_KEY_FILE');
  }
  if (c.degradedMode && c.dbBudgetMs >= c.requestDeadlineMs) {
    problems.push(`DB_BUDGET_MS (${c.dbBudgetMs}) must be below REQUEST_DEADLINE_MS (${c.requestDeadlineMs})`);
  }
  if (c.headersTimeoutMs > c.requestTimeoutMs) {
    problems.push(
      `HEADERS_TIMEOUT_MS (${c.headersTimeoutMs}) must not exceed REQUEST_TIMEOUT_MS (${c.requestTimeoutMs})`,
    );
  }
  if (c.shutdownDelayMs >= c.shutdownTimeoutMs) {
    problems.push(
      `SHUTDOWN_DELAY_MS (${c.shutdownDelayMs}) must be below SHUTDOWN_TIMEOUT_MS (${c.shutdownTimeoutMs})`,
    );
  }
}

/** Settings of the local launcher (`npm start`), which runs the embedded database. */
export interface LocalConfig {
  readonly dataDir: string;
  readonly pgPort: number;
  readonly httpsPort: number;
  readonly workers: number;
  readonly useExternalDatabase: boolean;
}

export function loadLocalConfig(env: Env = process.env): LocalConfig {
  const r = new Reader(env);
  const config: LocalConfig = {
    dataDir: path.resolve(r.raw('LOCAL_DATA_DIR') ?? '.data'),
    pgPort: r.int('LOCAL_PG_PORT', 54329, 1, 65535),
    httpsPort: r.int('HTTPS_PORT', 8443, 0, 65535),
    workers: r.int('WEB_CONCURRENCY', os.availableParallelism(), 1, 256),
    useExternalDatabase: r.raw('DATABASE_URL') !== undefined || r.raw('PGHOST') !== undefined,
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return Object.freeze(config);
}
