// Layer 4, observability: the notification channel, the external uptime
// check, the 99.99 % request-based SLO with its burn-rate alerts, and the
// journal-loss alert. Tuning an alert plans here and touches nothing that
// serves traffic.

import { TerraformOutput } from 'cdktf';
import type { Construct } from 'constructs';
import { MonitoringNotificationChannel } from '@cdktf/provider-google/lib/monitoring-notification-channel/index.js';
import type { InfraConfig } from '../config-schema.js';
import { AvailabilitySlo } from '../constructs/availability-slo.js';
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
    new TerraformOutput(this, 'slo', { value: slo.slo.name });
  }
}
