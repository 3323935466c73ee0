// The numbers that decide how traffic reaches a VM and how a roll replaces
// one: the load balancer's readiness check, connection draining, the MIG's
// autohealing check and its rolling-update settings. The stacks and the local
// twin (its HAProxy and MIG controller) both read them from here, so the twin
// cannot drift from what GCP is told.

import { APP_PORT } from './naming.js';

export interface HttpCheck {
  readonly path: string;
  readonly port: number;
  readonly checkIntervalSec: number;
  readonly timeoutSec: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

/** Backend service readiness: a VM gets traffic only while /readyz answers 200. */
export const READINESS_CHECK: HttpCheck = {
  path: '/readyz',
  port: APP_PORT,
  checkIntervalSec: 5,
  timeoutSec: 3,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
};

/**
 * MIG autohealing: liveness only. /healthz stays 200 in degraded mode, so a
 * Cloud SQL outage never triggers mass repairs.
 */
export const AUTOHEAL_CHECK: HttpCheck = {
  path: '/healthz',
  port: APP_PORT,
  checkIntervalSec: 10,
  timeoutSec: 5,
  healthyThreshold: 2,
  unhealthyThreshold: 5,
};

/** Longer than the app's own SIGTERM drain (~30 s) and its request timeout. */
export const DRAINING_TIMEOUT_SEC = 45;

export interface RolloutPolicy {
  readonly type: 'PROACTIVE';
  readonly minimalAction: 'REPLACE';
  readonly mostDisruptiveAllowedAction: 'REPLACE';
  readonly maxUnavailableFixed: number;
  readonly maxSurgeFixed: number;
  readonly replacementMethod: 'SUBSTITUTE';
  readonly instanceRedistributionType: 'PROACTIVE';
}

/** Zero unavailable, one surge VM per zone, so a roll never lowers serving capacity. */
export function rolloutPolicy(zones: number): RolloutPolicy {
  return {
    type: 'PROACTIVE',
    minimalAction: 'REPLACE',
    mostDisruptiveAllowedAction: 'REPLACE',
    maxUnavailableFixed: 0,
    maxSurgeFixed: zones,
    replacementMethod: 'SUBSTITUTE',
    instanceRedistributionType: 'PROACTIVE',
  };
}
