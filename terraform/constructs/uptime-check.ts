// A black-box check from outside Google's network: GET https://<domain>/healthz
// every minute from several regions, through DNS, certificate, Cloud Armor
// and the load balancer, i.e. the parts the LB's own metrics cannot see.
// It alerts when more than one checker region fails.

import { Construct } from 'constructs';
import { MonitoringAlertPolicy } from '@cdktf/provider-google/lib/monitoring-alert-policy/index.js';
import { MonitoringUptimeCheckConfig } from '@cdktf/provider-google/lib/monitoring-uptime-check-config/index.js';

export interface UptimeCheckOptions {
  readonly project: string;
  readonly domain: string;
  readonly notificationChannels: readonly string[];
  readonly path?: string;
}

export class UptimeCheck extends Construct {
  public readonly check: MonitoringUptimeCheckConfig;

  constructor(scope: Construct, id: string, options: UptimeCheckOptions) {
    super(scope, id);
    this.check = new MonitoringUptimeCheckConfig(this, 'check', {
      displayName: `counter-api https://${options.domain}${options.path ?? '/healthz'}`,
      period: '60s',
      timeout: '10s',
      httpCheck: {
        path: options.path ?? '/healthz',
        port: 443,
        useSsl: true,
        validateSsl: true,
        requestMethod: 'GET',
        acceptedResponseStatusCodes: [{ statusClass: 'STATUS_CLASS_2XX' }],
      },
      monitoredResource: { type: 'uptime_url', labels: { project_id: options.project, host: options.domain } },
    });
    new MonitoringAlertPolicy(this, 'alert', {
      displayName: `counter-api uptime check failing (${options.domain})`,
      combiner: 'OR',
      severity: 'CRITICAL',
      conditions: [
        {
          displayName: 'more than one checker region fails',
          conditionThreshold: {
            filter: `metric.type="monitoring.googleapis.com/uptime_check/check_passed" resource.type="uptime_url" metric.label.check_id="${this.check.uptimeCheckId}"`,
            comparison: 'COMPARISON_GT',
            thresholdValue: 1,
            duration: '60s',
            aggregations: [
              {
                alignmentPeriod: '1200s',
                perSeriesAligner: 'ALIGN_NEXT_OLDER',
                crossSeriesReducer: 'REDUCE_COUNT_FALSE',
                groupByFields: ['resource.label.*'],
              },
            ],
          },
        },
      ],
      notificationChannels: [...options.notificationChannels],
      documentation: {
        mimeType: 'text/markdown',
        content: 'External check of /healthz failing. Runbook: docs/sla.md.',
      },
    });
  }
}
