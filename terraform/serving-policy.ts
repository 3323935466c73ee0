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
 * MIG autohealing, and what the MIG counts as "available" during a roll. It
 * asks /readyz, not /healthz: /healthz answers before migrations, so a VM
 * counted available on it could still be out of the LB's rotation when the
 * roll deletes an old one. /readyz is 503 only while starting or stopping;
 * it stays 200 in degraded mode (server/main.ts, DEGRADED_MODE on, the
 * fleet's default), so a Cloud SQL outage does not trigger mass repairs. A
 * VM that boots during an outage never becomes ready and is repaired after
 * the initial delay: it was not serving anyway, and a roll stalls instead
 * of deleting serving VMs.
 */
export const AUTOHEAL_CHECK: HttpCheck = {
  path: '/readyz',
  port: APP_PORT,
  checkIntervalSec: 10,
  timeoutSec: 5,
  healthyThreshold: 2,
  unhealthyThreshold: 5,
};

/** Longer than the app's own SIGTERM drain (~30 s) and its request timeout. */
export const DRAINING_TIMEOUT_SEC = 45;

/**
 * Seconds the load balancer may need, at worst, to mark a VM healthy once its
 * /readyz answers 200: up to one interval until the next probe, then
 * healthyThreshold successes, the last one taking up to the timeout.
 */
export function readinessDetectionSec(check: HttpCheck = READINESS_CHECK): number {
  return check.checkIntervalSec * check.healthyThreshold + check.timeoutSec;
}

/**
 * MIG min_ready_sec (google-beta): after a new VM becomes available (the
 * autohealing check above passed, so /readyz is 200), the roll waits this long
 * before counting it and deleting an old VM. Reasoned, not measured: twice
 * the LB's worst-case detection (2 × 13 s) for the health state to reach
 * every Google front end, rounded up to 30 s. Re-check it on the first real
 * roll (the backend's health per VM against the MIG's "available" time).
 */
export const MIN_READY_SEC = 30;

export interface RolloutPolicy {
  readonly type: 'PROACTIVE';
  readonly minimalAction: 'REPLACE';
  readonly mostDisruptiveAllowedAction: 'REPLACE';
  readonly maxUnavailableFixed: number;
  readonly maxSurgeFixed: number;
  readonly replacementMethod: 'SUBSTITUTE';
  readonly instanceRedistributionType: 'PROACTIVE';
  readonly minReadySec: number;
}

/** Zero unavailable, one surge VM per zone, each counted only once ready plus MIN_READY_SEC. */
export function rolloutPolicy(zones: number): RolloutPolicy {
  return {
    type: 'PROACTIVE',
    minimalAction: 'REPLACE',
    mostDisruptiveAllowedAction: 'REPLACE',
    maxUnavailableFixed: 0,
    maxSurgeFixed: zones,
    replacementMethod: 'SUBSTITUTE',
    instanceRedistributionType: 'PROACTIVE',
    minReadySec: MIN_READY_SEC,
  };
}
