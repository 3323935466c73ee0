// Alerts on the service's own metrics and on the fleet and database, next to
// the SLO burn alerts: they say why the budget burns (or is about to). The
// service's Prometheus metrics (server/metrics.ts) reach Cloud Monitoring
// through the Ops Agent's Prometheus receiver, which names them
// `prometheus.googleapis.com/<metric>/<kind>` on resource `prometheus_target`.

import { Construct } from 'constructs';
import { MonitoringAlertPolicy } from '@cdktf/provider-google/lib/monitoring-alert-policy/index.js';
import type { RegionConfig } from '../config-schema.js';

/** A Prometheus metric of the service as the Ops Agent writes it. */
export function promMetric(name: string, kind: 'gauge' | 'counter' | 'histogram'): string {
  return `metric.type="prometheus.googleapis.com/${name}/${kind}" resource.type="prometheus_target"`;
}

/** Minutes a worker may stay degraded before on-call hears of it (a Cloud SQL failover takes < 1 min). */
export const DEGRADED_ALERT_MINUTES = 5;
/** Oldest unreplayed journal entry, seconds, that means replay is stuck while the database is up. */
export const REPLAY_LAG_ALERT_SEC = 300;
/** Cross-region replica lag, seconds: the RPO of a region loss. */
export const REPLICA_LAG_ALERT_SEC = 60;

export interface FleetAlertsOptions {
  readonly regions: readonly RegionConfig[];
  readonly notificationChannels: readonly string[];
  readonly hasReplica: boolean;
}

interface Threshold {
  readonly id: string;
  readonly title: string;
  readonly filter: string;
  readonly comparison: 'COMPARISON_GT' | 'COMPARISON_LT';
  readonly value: number;
  readonly seconds: number;
  readonly aligner: string;
  readonly reducer?: string;
  readonly groupBy?: readonly string[];
  readonly runbook: string;
  readonly severity: 'CRITICAL' | 'WARNING';
}

export class FleetAlerts extends Construct {
  public readonly policies: MonitoringAlertPolicy[] = [];

  constructor(scope: Construct, id: string, options: FleetAlertsOptions) {
    super(scope, id);
    const thresholds: Threshold[] = [
      {
        id: 'degraded',
        title: `a worker answered in degraded mode for more than ${DEGRADED_ALERT_MINUTES} min`,
        filter: promMetric('counter_degraded', 'gauge'),
        comparison: 'COMPARISON_GT',
        value: 0,
        seconds: DEGRADED_ALERT_MINUTES * 60,
        aligner: 'ALIGN_MIN',
        runbook: 'Counting is provisional: the database is unreachable from these VMs. docs/runbooks.md.',
        severity: 'CRITICAL',
      },
      {
        id: 'replay-lag',
        title: `journal replay lag above ${REPLAY_LAG_ALERT_SEC} s`,
        filter: promMetric('journal_replay_lag_seconds', 'gauge'),
        comparison: 'COMPARISON_GT',
        value: REPLAY_LAG_ALERT_SEC,
        seconds: 300,
        aligner: 'ALIGN_MAX',
        runbook: 'Journaled increments are not reaching the database. docs/runbooks.md.',
        severity: 'CRITICAL',
      },
      {
        // Entries older than the ledger retention cannot be replayed blindly;
        // each one is increments that need a person (server/counter/replay.ts).
        id: 'journal-quarantined',
        title: 'journal entries quarantined instead of replayed',
        filter: promMetric('journal_quarantined_entries_total', 'counter'),
        comparison: 'COMPARISON_GT',
        value: 0,
        seconds: 60,
        aligner: 'ALIGN_DELTA',
        runbook: 'Increments sit in a .stale journal file and are not in the database. docs/runbooks.md.',
        severity: 'CRITICAL',
      },
      {
        id: 'pool-waiters',
        title: 'callers waiting for a database connection for 5 min',
        filter: promMetric('db_pool_waiters', 'gauge'),
        comparison: 'COMPARISON_GT',
        value: 0,
        seconds: 300,
        aligner: 'ALIGN_MIN',
        runbook: 'The pool is saturated. docs/runbooks.md.',
        severity: 'WARNING',
      },
      ...options.regions.map((r): Threshold => ({
        id: `vms-${r.region}`,
        title: `fewer VMs running in ${r.region} than its ${r.zones.length} zones`,
        filter: `metric.type="compute.googleapis.com/instance/uptime" resource.type="gce_instance" metadata.user_labels."app"="counter-api" resource.label.zone=starts_with("${r.region}-")`,
        comparison: 'COMPARISON_LT',
        value: r.zones.length,
        seconds: 600,
        aligner: 'ALIGN_MEAN',
        reducer: 'REDUCE_COUNT',
        groupBy: [],
        runbook: 'A zone may have no VM: the N+1 sizing no longer holds. Check the MIG. docs/runbooks.md.',
        severity: 'CRITICAL',
      })),
      {
        id: 'database-down',
        title: 'Cloud SQL reports the database down (failover or outage)',
        filter: 'metric.type="cloudsql.googleapis.com/database/up" resource.type="cloudsql_database"',
        comparison: 'COMPARISON_LT',
        value: 1,
        seconds: 60,
        aligner: 'ALIGN_MIN',
        runbook: 'A failover or an outage; the fleet should be degraded, not failing. docs/runbook-region-loss.md.',
        severity: 'CRITICAL',
      },
      ...(options.hasReplica
        ? [
            {
              id: 'replica-lag',
              title: `cross-region replica lag above ${REPLICA_LAG_ALERT_SEC} s (the region-loss RPO)`,
              filter:
                'metric.type="cloudsql.googleapis.com/database/replication/replica_lag" resource.type="cloudsql_database"',
              comparison: 'COMPARISON_GT',
              value: REPLICA_LAG_ALERT_SEC,
              seconds: 300,
              aligner: 'ALIGN_MAX',
              runbook: 'Disaster recovery would lose this much. docs/runbook-region-loss.md.',
              severity: 'WARNING',
            } satisfies Threshold,
          ]
        : []),
    ];
    for (const x of thresholds) {
      this.policies.push(
        new MonitoringAlertPolicy(this, x.id, {
          displayName: `counter-api: ${x.title}`,
          combiner: 'OR',
          severity: x.severity,
          conditions: [
            {
              displayName: x.title,
              conditionThreshold: {
                filter: x.filter,
                comparison: x.comparison,
                thresholdValue: x.value,
                duration: `${x.seconds}s`,
                aggregations: [
                  {
                    alignmentPeriod: '60s',
                    perSeriesAligner: x.aligner,
                    ...(x.reducer === undefined
                      ? {}
                      : { crossSeriesReducer: x.reducer, groupByFields: [...(x.groupBy ?? [])] }),
                  },
                ],
              },
            },
          ],
          notificationChannels: [...options.notificationChannels],
          documentation: { mimeType: 'text/markdown', content: x.runbook },
        }),
      );
    }
  }
}
