// Fleet sizing from three numbers: the peak to carry, what one instance
// carries, and the autoscaler's target utilization. The rule is N+1 zones:
// with one zone of a region lost, the remaining zones must still be able to
// grow to carry the whole peak at the target utilization, and at the moment of
// the loss they run at target * zones / (zones - 1) <= 100 % until they do.
// The load balancer advertises instanceCapacityRps per VM (balancing mode
// RATE), so the autoscaler's load-balancing target is a share of that.

import type { FleetConfig, InfraConfig } from './config-schema.js';

export interface FleetSize {
  /** One instance per zone: a zone is never empty. */
  readonly minReplicas: number;
  readonly maxReplicas: number;
}

export function fleetSize(fleet: FleetConfig, zoneCount: number): FleetSize {
  const surviving = zoneCount - 1;
  const perInstanceAtTarget = fleet.instanceCapacityRps * fleet.targetUtilization;
  const perZone = Math.ceil(fleet.peakRps / (surviving * perInstanceAtTarget));
  return { minReplicas: zoneCount, maxReplicas: perZone * zoneCount };
}

/**
 * What an audit of the environment should find, per region: at least `min`
 * VMs (the autoscaler never goes below it), at most `max`. Also a fleet-stack
 * output (`expected_fleet_size`), so an inventory generator can read it from
 * either the config or the state.
 */
export function expectedFleetSize(
  config: Pick<InfraConfig, 'fleet' | 'regions'>,
): Record<string, { min: number; max: number }> {
  return Object.fromEntries(
    config.regions.map((r) => {
      const size = fleetSize(config.fleet, r.zones.length);
      return [r.region, { min: size.minReplicas, max: size.maxReplicas }];
    }),
  );
}
