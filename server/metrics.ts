// Prometheus metrics for one worker (prom-client). Each pm2 worker keeps its
// own registry and labels its series with `worker`; the Ops Agent scrapes
// every worker on 127.0.0.1:METRICS_PORT + worker id (docs/runbooks.md).
// The service port does not serve them: it is what the load balancer forwards.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PoolStats } from './db.js';
import type { CounterMetrics } from './counter/types.js';

export interface DegradedGauges {
  readonly mode: () => number;
  readonly journalPending: () => number;
  readonly replayLagSeconds: () => number;
}

/** HTTP layer: accounting of counter values handed to clients (server/http/delivery.ts). */
export interface HttpMetrics {
  /** A value was taken from the counter for a request. */
  readonly handedOut: () => void;
  /** A value taken for a request whose response could not be written in full. */
  readonly undelivered: (reason: string) => void;
  /** A request refused by the HTTP parser layer (server/http/client-errors.ts). */
  readonly clientError: (status: number) => void;
}

export interface Metrics {
  readonly http: HttpMetrics;
  readonly registry: Registry;
  readonly counter: CounterMetrics;
  readonly observeRequest: (route: string, method: string, status: number, seconds: number) => void;
  readonly observeQuery: (statement: string, seconds: number, ok: boolean) => void;
  readonly journalFsync: (seconds: number, records: number) => void;
  readonly replayed: (entries: number, increments: number) => void;
  readonly watchPool: (stats: () => PoolStats) => void;
  readonly watchDegraded: (gauges: DegradedGauges) => void;
  /** Committed values held for the next requests (their own requests were answered 503 or had gone). */
  readonly watchSpares: (spares: () => number) => void;
  readonly quarantined: (entries: number, increments: number) => void;
}

const MAX_CACHED_SERIES = 1000;

export function createMetrics(workerId: number): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ worker: String(workerId) });
  collectDefaultMetrics({ register: registry });
  const seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'],
    buckets: seconds,
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'counter_batch_size',
    help: 'Increments committed per batch statement',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [registry],
  });
  const batchOutcomes = new Counter({
    name: 'counter_batch_outcomes_total',
    help: 'Batch outcomes: committed, retried, fenced, handed_off, orphaned',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'counter_queue_depth',
    help: 'Requests waiting for the next batch',
    registers: [registry],
  });
  const queries = new Histogram({
    name: 'db_query_duration_seconds',
    help: 'Database round-trip time by statement',
    labelNames: ['statement', 'ok'],
    buckets: seconds,
    registers: [registry],
  });
  const fsyncs = new Histogram({
    name: 'journal_fsync_duration_seconds',
    help: 'Journal group-commit write+fsync time',
    buckets: seconds,
    registers: [registry],
  });
  const journaled = new Counter({
    name: 'journal_records_total',
    help: 'Increments made durable in the local journal',
    registers: [registry],
  });
  const replayedEntries = new Counter({
    name: 'journal_replayed_entries_total',
    help: 'Journal entries applied to the database',
    registers: [registry],
  });
  const replayedIncrements = new Counter({
    name: 'journal_replayed_increments_total',
    help: 'Increments applied to the database by replay',
    registers: [registry],
  });

  // --- Counter accounting (server/counter/): values counted but not handed
  // out, and journal entries quarantined instead of replayed. Both should
  // stay at 0; each increase is also an ERROR log line.
  const unhanded = new Counter({
    name: 'counter_unhanded_increments_total',
    help: 'Increments counted for requests answered 503: spare (handed to later requests), journal_surplus or lost (never handed out)',
    labelNames: ['where'],
    registers: [registry],
  });
  const quarantinedEntries = new Counter({
    name: 'journal_quarantined_entries_total',
    help: 'Journal entries older than the ledger retention, moved to a .stale file instead of replayed',
    registers: [registry],
  });
  const quarantinedIncrements = new Counter({
    name: 'journal_quarantined_increments_total',
    help: 'Increments in journal entries moved to a .stale file instead of replayed',
    registers: [registry],
  });
  // --- end of counter accounting

  // --- HTTP layer (server/http) ---
  const handedOut = new Counter({
    name: 'http_counter_values_handed_out_total',
    help: 'Counter values taken for POST / requests (each is a database increment)',
    registers: [registry],
  });
  const undelivered = new Counter({
    name: 'http_counter_values_undelivered_total',
    help: 'Counter values whose response could not be written in full (client gone)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const clientErrors = new Counter({
    name: 'http_client_errors_total',
    help: 'Requests refused before routing (malformed, oversized headers, timeouts, Expect)',
    labelNames: ['status'],
    registers: [registry],
  });
  const http: HttpMetrics = {
    handedOut: () => handedOut.inc(),
    undelivered: (reason) => undelivered.inc({ reason }),
    clientError: (status) => clientErrors.inc({ status: String(status) }),
  };
  // --- end of the HTTP layer block ---

  // Each request's two series, looked up by one string key instead of
  // prom-client hashing a labels object per call (a measurable share of a
  // request's CPU, docs/benchmarks.md). Routes, methods and statuses are few;
  // the bound only keeps a flood of odd methods from growing the map.
  const requestSeries = new Map<
    string,
    { readonly count: { inc(): void }; readonly latency: { observe(value: number): void } }
  >();

  return {
    registry,
    http,
    counter: {
      batchSize: (n) => batchSize.observe(n),
      batchOutcome: (outcome) => batchOutcomes.inc({ outcome }),
      queueDepth: (n) => queueDepth.set(n),
      unhanded: (n, where) => unhanded.inc({ where }, n),
    },
    quarantined: (entries, increments) => {
      quarantinedEntries.inc(entries);
      quarantinedIncrements.inc(increments);
    },
    observeRequest: (route, method, status, s) => {
      const key = `${route} ${method} ${status}`;
      let series = requestSeries.get(key);
      if (series === undefined) {
        series = { count: requests.labels(route, method, String(status)), latency: latency.labels(route) };
        if (requestSeries.size < MAX_CACHED_SERIES) requestSeries.set(key, series);
      }
      series.count.inc();
      series.latency.observe(s);
    },
    observeQuery: (statement, s, ok) => queries.observe({ statement, ok: String(ok) }, s),
    journalFsync: (s, records) => {
      fsyncs.observe(s);
      journaled.inc(records);
    },
    replayed: (entries, increments) => {
      replayedEntries.inc(entries);
      replayedIncrements.inc(increments);
    },
    watchPool: (stats) => {
      const gauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
        new Gauge({
          name,
          help,
          registers: [registry],
          collect() {
            this.set(pick(stats()));
          },
        });
      gauge('db_pool_connections', 'Open database connections', (s) => s.total);
      gauge('db_pool_idle', 'Idle database connections', (s) => s.idle);
      gauge('db_pool_waiters', 'Callers waiting for a database connection', (s) => s.waiting);
    },
    watchSpares: (spares) => {
      new Gauge({
        name: 'counter_spare_values',
        help: 'Committed counter values held for the next requests (their own requests got no value)',
        registers: [registry],
        collect() {
          this.set(spares());
        },
      });
    },
    watchDegraded: (g) => {
      new Gauge({
        name: 'counter_degraded',
        help: '1 while answering from the local journal (provisional), 0 when exact',
        registers: [registry],
        collect() {
          this.set(g.mode());
        },
      });
      new Gauge({
        name: 'journal_pending_increments',
        help: 'Journaled increments not yet applied to the database',
        registers: [registry],
        collect() {
          this.set(g.journalPending());
        },
      });
      new Gauge({
        name: 'journal_replay_lag_seconds',
        help: 'Age of the oldest unapplied journal entry',
        registers: [registry],
        collect() {
          this.set(g.replayLagSeconds());
        },
      });
    },
  };
}
