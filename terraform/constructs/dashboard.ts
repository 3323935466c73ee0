// One Cloud Monitoring dashboard for the service: the load balancer's view
// (rate, 5xx ratio, latency), the SLO's burn, VMs per zone, the service's own
// Prometheus metrics (batch size, database round trip, degraded mode, journal
// depth and replay lag, pool waiters) and Cloud SQL (CPU, connections,
// replication lag).

import { Construct } from 'constructs';
import { MonitoringDashboard } from '@cdktf/provider-google/lib/monitoring-dashboard/index.js';
import { promMetric } from './fleet-alerts.js';

export interface DashboardOptions {
  readonly urlMapName: string;
  /** Terraform reference to the SLO's name. */
  readonly sloName: string;
}

interface Chart {
  readonly title: string;
  readonly filter: string;
  readonly aligner: string;
  readonly reducer?: string;
  readonly groupBy?: readonly string[];
}

/** The dashboard's charts, in order (kept pure for the tests). */
export function dashboardCharts(o: DashboardOptions): Chart[] {
  const lb = `resource.type="https_lb_rule" resource.label.url_map_name="${o.urlMapName}"`;
  const requests = `metric.type="loadbalancing.googleapis.com/https/request_count" ${lb}`;
  const sql = (m: string) => `metric.type="cloudsql.googleapis.com/database/${m}" resource.type="cloudsql_database"`;
  return [
    {
      title: 'LB requests/s by response class',
      filter: requests,
      aligner: 'ALIGN_RATE',
      reducer: 'REDUCE_SUM',
      groupBy: ['metric.label.response_code_class'],
    },
    {
      title: 'LB 5xx/s',
      filter: `${requests} metric.label.response_code_class=500`,
      aligner: 'ALIGN_RATE',
      reducer: 'REDUCE_SUM',
    },
    {
      title: 'LB latency p99 (ms)',
      filter: `metric.type="loadbalancing.googleapis.com/https/total_latencies" ${lb}`,
      aligner: 'ALIGN_DELTA',
      reducer: 'REDUCE_PERCENTILE_99',
    },
    { title: 'SLO burn rate (1 h)', filter: `select_slo_burn_rate("${o.sloName}", "3600s")`, aligner: 'ALIGN_MEAN' },
    {
      title: 'VMs per zone',
      filter:
        'metric.type="compute.googleapis.com/instance/uptime" resource.type="gce_instance" metadata.user_labels."app"="counter-api"',
      aligner: 'ALIGN_MEAN',
      reducer: 'REDUCE_COUNT',
      groupBy: ['resource.label.zone'],
    },
    {
      title: 'Batch size (increments per statement)',
      filter: promMetric('counter_batch_size', 'histogram'),
      aligner: 'ALIGN_DELTA',
      reducer: 'REDUCE_PERCENTILE_50',
    },
    {
      title: 'Database round trip p99 (s)',
      filter: promMetric('db_query_duration_seconds', 'histogram'),
      aligner: 'ALIGN_DELTA',
      reducer: 'REDUCE_PERCENTILE_99',
    },
    {
      title: 'Workers in degraded mode',
      filter: promMetric('counter_degraded', 'gauge'),
      aligner: 'ALIGN_MAX',
      reducer: 'REDUCE_SUM',
      groupBy: ['resource.label.location'],
    },
    {
      title: 'Journal: pending increments',
      filter: promMetric('journal_pending_increments', 'gauge'),
      aligner: 'ALIGN_MAX',
      reducer: 'REDUCE_SUM',
    },
    {
      title: 'Journal: replay lag (s)',
      filter: promMetric('journal_replay_lag_seconds', 'gauge'),
      aligner: 'ALIGN_MAX',
      reducer: 'REDUCE_MAX',
    },
    {
      title: 'Pool waiters',
      filter: promMetric('db_pool_waiters', 'gauge'),
      aligner: 'ALIGN_MAX',
      reducer: 'REDUCE_SUM',
    },
    {
      title: 'Cloud SQL CPU',
      filter: sql('cpu/utilization'),
      aligner: 'ALIGN_MEAN',
      groupBy: ['resource.label.database_id'],
    },
    {
      title: 'Cloud SQL connections',
      filter: sql('postgresql/num_backends'),
      aligner: 'ALIGN_MEAN',
      reducer: 'REDUCE_SUM',
      groupBy: ['resource.label.database_id'],
    },
    {
      title: 'Cloud SQL replica lag (s)',
      filter: sql('replication/replica_lag'),
      aligner: 'ALIGN_MAX',
      groupBy: ['resource.label.database_id'],
    },
  ];
}

export class Dashboard extends Construct {
  public readonly dashboard: MonitoringDashboard;

  constructor(scope: Construct, id: string, options: DashboardOptions) {
    super(scope, id);
    const tiles = dashboardCharts(options).map((c, i) => ({
      xPos: (i % 2) * 24,
      yPos: Math.floor(i / 2) * 16,
      width: 24,
      height: 16,
      widget: {
        title: c.title,
        xyChart: {
          dataSets: [
            {
              plotType: 'LINE',
              timeSeriesQuery: {
                timeSeriesFilter: {
                  filter: c.filter,
                  aggregation: {
                    alignmentPeriod: '60s',
                    perSeriesAligner: c.aligner,
                    ...(c.reducer === undefined ? {} : { crossSeriesReducer: c.reducer }),
                    ...(c.groupBy === undefined ? {} : { groupByFields: [...c.groupBy] }),
                  },
                },
              },
            },
          ],
        },
      },
    }));
    this.dashboard = new MonitoringDashboard(this, 'dashboard', {
      dashboardJson: JSON.stringify({ displayName: 'counter-api', mosaicLayout: { columns: 48, tiles } }),
    });
  }
}
