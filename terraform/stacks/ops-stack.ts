// Layer 4, observability: the notification channel, the external uptime
// check, the 99.99 % request-based SLO with its burn-rate alerts, the
// journal-loss alert, the alerts on the service's own metrics, the fleet and
// the database, and the dashboard. Tuning an alert plans here and touches nothing that
// serves traffic.

import { TerraformOutput } from 'cdktf';
import type { Construct } from 'constructs';
import { MonitoringNotificationChannel } from '@cdktf/provider-google/lib/monitoring-notification-channel/index.js';
import type { InfraConfig } from '../config-schema.js';
import { AvailabilitySlo } from '../constructs/availability-slo.js';
import { Dashboard } from '../constructs/dashboard.js';
import { FleetAlerts } from '../constructs/fleet-alerts.js';
import { JournalAlert } from '../constructs/journal-alert.js';
import { UptimeCheck } from '../constructs/uptime-check.js';
import { LayerStack } from './layer-stack.js';

export class OpsStack extends LayerStack {
  constructor(scope: Construct, config: InfraConfig) {
    super(scope, 'ops', config);
    const channel = new MonitoringNotificationChannel(this, 'oncall', {
      displayName: `counter-api on-call (${config.env})`,
      type: 'email',
      labels: { email_address: config.alertEmail },
    });
    const notificationChannels = [channel.name];
    new UptimeCheck(this, 'uptime', { project: config.project, domain: config.domain, notificationChannels });
    const slo = new AvailabilitySlo(this, 'availability', { names: this.names, notificationChannels });
    new JournalAlert(this, 'journal', { notificationChannels });
    new FleetAlerts(this, 'fleet', {
      regions: config.regions,
      notificationChannels,
      hasReplica: config.database.replicaRegion !== null,
    });
    new Dashboard(this, 'dashboard', { urlMapName: this.names.urlMap, sloName: slo.slo.name });
    new TerraformOutput(this, 'slo', { value: slo.slo.name });
  }
}
