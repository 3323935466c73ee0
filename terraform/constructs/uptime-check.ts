// A black-box check from outside Google's network: POST https://<domain>/
// every minute from several regions, through DNS, certificate, Cloud Armor,
// the load balancer and the database, i.e. what a user does, including the
// parts the LB's own metrics cannot see. It alerts when more than one checker
// region fails. It is the API's one request, so every check raises the
// counter by one (about six per minute from the checker regions): the
// counter counts every 2xx, and the checks are among them.
// (The edge forwards only POST /: /healthz is not reachable from outside.)

import { Construct } from 'constructs';
import { MonitoringAlertPolicy } from '@cdktf/provider-google/lib/monitoring-alert-policy/index.js';
import { MonitoringUptimeCheckConfig } from '@cdktf/provider-google/lib/monitoring-uptime-check-config/index.js';

export interface UptimeCheckOptions {
  readonly project: string;
  readonly domain: string;
  readonly notificationChannels: readonly string[];
}

/** base64 of `{}`: a JSON body the API accepts (it ignores the body). */
export const UPTIME_BODY = Buffer.from('{}').toString('base64');

export class UptimeCheck extends Construct {
  public readonly check: MonitoringUptimeCheckConfig;

  constructor(scope: Construct, id: string, options: UptimeCheckOptions) {
    super(scope, id);
    this.check = new MonitoringUptimeCheckConfig(this, 'check', {
      displayName: `counter-api POST https://${options.domain}/`,
      period: '60s',
      timeout: '10s',
      httpCheck: {
        path: '/',
        port: 443,
        useSsl: true,
        validateSsl: true,
        requestMethod: 'POST',
        contentType: 'USER_PROVIDED',
        customContentType: 'application/json',
        body: UPTIME_BODY,
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
        content: 'External POST / failing from more than one region. Runbook: docs/sla.md.',
      },
    });
  }
}
