// The availability SLO, measured where users meet the service: requests at
// the load balancer (HTTPS URL map only, so redirects do not count), bad =
// 5xx, including the ones the load balancer itself returns when no backend
// is healthy. Two multi-window burn-rate alerts page on it (SRE workbook):
// fast burn 14.4x over 1 h and 5 min (2 % of the budget in an hour), slow
// burn 6x over 6 h and 30 min (5 % in six hours). The short window makes an
// alert reset soon after the burn stops.
//
// The compliance period is the calendar month, not a rolling 28 days: the
// SLA promises 99.99 % per calendar month, so the budget the alerts protect
// is the one that month has left (it resets on the 1st, as the SLA does).

import { Construct } from 'constructs';
import { MonitoringAlertPolicy } from '@cdktf/provider-google/lib/monitoring-alert-policy/index.js';
import { MonitoringCustomService } from '@cdktf/provider-google/lib/monitoring-custom-service/index.js';
import { MonitoringSlo } from '@cdktf/provider-google/lib/monitoring-slo/index.js';
import type { Names } from '../naming.js';

export interface BurnRateWindow {
  readonly name: 'fast' | 'slow';
  readonly longWindowSeconds: number;
  readonly shortWindowSeconds: number;
  readonly burnRate: number;
  readonly severity: 'CRITICAL' | 'WARNING';
}

export const BURN_RATE_WINDOWS: readonly BurnRateWindow[] = [
  { name: 'fast', longWindowSeconds: 3600, shortWindowSeconds: 300, burnRate: 14.4, severity: 'CRITICAL' },
  { name: 'slow', longWindowSeconds: 21600, shortWindowSeconds: 1800, burnRate: 6, severity: 'CRITICAL' },
];

export interface AvailabilitySloOptions {
  readonly names: Names;
  readonly notificationChannels: readonly string[];
  readonly goal?: number;
}

export const SLO_CALENDAR_PERIOD = 'MONTH';

export function requestFilters(urlMapName: string): { total: string; bad: string } {
  const total = `metric.type="loadbalancing.googleapis.com/https/request_count" resource.type="https_lb_rule" resource.label.url_map_name="${urlMapName}"`;
  return { total, bad: `${total} metric.label.response_code_class=500` };
}

export class AvailabilitySlo extends Construct {
  public readonly slo: MonitoringSlo;

  constructor(scope: Construct, id: string, options: AvailabilitySloOptions) {
    super(scope, id);
    const n = options.names;
    const service = new MonitoringCustomService(this, 'service', {
      serviceId: n.monitoringService,
      displayName: 'counter-api',
    });
    const filters = requestFilters(n.urlMap);
    this.slo = new MonitoringSlo(this, 'slo', {
      service: service.serviceId,
      sloId: n.slo,
      displayName: 'counter-api availability (LB requests, non-5xx)',
      goal: options.goal ?? 0.9999,
      calendarPeriod: SLO_CALENDAR_PERIOD,
      requestBasedSli: { goodTotalRatio: { totalServiceFilter: filters.total, badServiceFilter: filters.bad } },
    });
    for (const w of BURN_RATE_WINDOWS) {
      const condition = (seconds: number) => ({
        displayName: `burn rate > ${w.burnRate} over ${seconds / 60} min`,
        conditionThreshold: {
          filter: `select_slo_burn_rate("${this.slo.name}", "${seconds}s")`,
          comparison: 'COMPARISON_GT',
          thresholdValue: w.burnRate,
          duration: '0s',
        },
      });
      new MonitoringAlertPolicy(this, `${w.name}-burn`, {
        displayName: `counter-api SLO ${w.name} burn (${w.burnRate}x)`,
        combiner: 'AND',
        severity: w.severity,
        conditions: [condition(w.longWindowSeconds), condition(w.shortWindowSeconds)],
        notificationChannels: [...options.notificationChannels],
        documentation: {
          mimeType: 'text/markdown',
          content: 'Error budget burning. Runbook: docs/sla.md ("When the SLO alert fires").',
        },
      });
    }
  }
}
