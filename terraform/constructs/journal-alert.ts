// A log-match alert on the one line that means counter values may be lost:
// the shutdown script found journal entries still unreplayed when the VM was
// going away (terraform/scripts/shutdown.sh). The disk is usually deleted
// with the VM, so this needs a human within minutes, not a dashboard.
//
// Startup and shutdown script output reaches Cloud Logging through the guest
// agent as structured entries of the log `google_metadata_script_runner`,
// with the line in `jsonPayload.message` (not `textPayload`), so the filter
// matches that log and that field.

import { Construct } from 'constructs';
import { MonitoringAlertPolicy } from '@cdktf/provider-google/lib/monitoring-alert-policy/index.js';

export const JOURNAL_LOSS_LINE = 'counter-api-shutdown: ERROR journal not drained';
export const SCRIPT_RUNNER_LOG = 'google_metadata_script_runner';

export function journalLossFilter(): string {
  return `resource.type="gce_instance" log_id("${SCRIPT_RUNNER_LOG}") jsonPayload.message:"${JOURNAL_LOSS_LINE}"`;
}

export interface JournalAlertOptions {
  readonly notificationChannels: readonly string[];
}

export class JournalAlert extends Construct {
  constructor(scope: Construct, id: string, options: JournalAlertOptions) {
    super(scope, id);
    new MonitoringAlertPolicy(this, 'alert', {
      displayName: 'counter-api journal not drained at shutdown',
      combiner: 'OR',
      severity: 'CRITICAL',
      conditions: [
        {
          displayName: 'shutdown script reports unreplayed journal entries',
          conditionMatchedLog: { filter: journalLossFilter() },
        },
      ],
      alertStrategy: { notificationRateLimit: { period: '300s' }, autoClose: '1800s' },
      notificationChannels: [...options.notificationChannels],
      documentation: {
        mimeType: 'text/markdown',
        content: 'Increments may be lost. Runbook: docs/infrastructure.md ("Journal not drained").',
      },
    });
  }
}
