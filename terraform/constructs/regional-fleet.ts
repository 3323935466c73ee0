// The API fleet of one region: a regional MIG spread EVEN over the region's
// zones, autohealed on /healthz, autoscaled between one VM per zone and the
// N+1-zone maximum (sizing.ts), rolled PROACTIVE with zero unavailable and a
// surge of one VM per zone. An optional canary runs a second template at a
// fixed size or percentage next to the stable one.

import { Construct } from 'constructs';
import { ComputeHealthCheck } from '@cdktf/provider-google/lib/compute-health-check/index.js';
import { ComputeRegionAutoscaler } from '@cdktf/provider-google/lib/compute-region-autoscaler/index.js';
import {
  ComputeRegionInstanceGroupManager,
  type ComputeRegionInstanceGroupManagerVersion,
} from '@cdktf/provider-google/lib/compute-region-instance-group-manager/index.js';
import type { RegionConfig, Release } from '../config-schema.js';
import { APP_PORT, APP_PORT_NAME, type Names } from '../naming.js';
import { AUTOHEAL_CHECK, rolloutPolicy } from '../serving-policy.js';
import type { FleetSize } from '../sizing.js';
import { InstanceTemplate, type InstanceTemplateOptions } from './instance-template.js';

export interface RegionalFleetOptions {
  readonly names: Names;
  readonly region: RegionConfig;
  readonly release: Release;
  readonly size: FleetSize;
  readonly targetUtilization: number;
  readonly bootSeconds: number;
  /** Everything of a template but its name and image. */
  readonly template: Omit<InstanceTemplateOptions, 'namePrefix' | 'image'>;
}

/** `"10%"` → percent 10, `"2"` → fixed 2. */
export function canaryTarget(size: string): { percent: number } | { fixed: number } {
  return size.endsWith('%') ? { percent: Number(size.slice(0, -1)) } : { fixed: Number(size) };
}

export class RegionalFleet extends Construct {
  public readonly group: ComputeRegionInstanceGroupManager;
  public readonly autohealCheck: ComputeHealthCheck;

  constructor(scope: Construct, id: string, options: RegionalFleetOptions) {
    super(scope, id);
    const n = options.names;
    const region = options.region.region;
    const { release } = options;
    const template = (track: 'stable' | 'canary', image: string) =>
      new InstanceTemplate(this, track, { ...options.template, namePrefix: n.template(region, track), image }).template
        .selfLinkUnique;
    const versions: ComputeRegionInstanceGroupManagerVersion[] = [
      { name: 'stable', instanceTemplate: template('stable', release.image) },
    ];
    if (release.canary) {
      versions.push({
        name: 'canary',
        instanceTemplate: template('canary', release.canary.image),
        targetSize: canaryTarget(release.canary.size),
      });
    }
    // Liveness only: /healthz stays 200 in degraded mode, so a Cloud SQL outage never triggers mass repairs.
    this.autohealCheck = new ComputeHealthCheck(this, 'autoheal', {
      name: n.autohealCheck(region),
      checkIntervalSec: AUTOHEAL_CHECK.checkIntervalSec,
      timeoutSec: AUTOHEAL_CHECK.timeoutSec,
      healthyThreshold: AUTOHEAL_CHECK.healthyThreshold,
      unhealthyThreshold: AUTOHEAL_CHECK.unhealthyThreshold,
      httpHealthCheck: { port: AUTOHEAL_CHECK.port, requestPath: AUTOHEAL_CHECK.path },
    });
    this.group = new ComputeRegionInstanceGroupManager(this, 'group', {
      name: n.group(region),
      region,
      baseInstanceName: n.group(region),
      distributionPolicyZones: [...options.region.zones],
      distributionPolicyTargetShape: 'EVEN',
      namedPort: [{ name: APP_PORT_NAME, port: APP_PORT }],
      version: versions,
      autoHealingPolicies: { healthCheck: this.autohealCheck.id, initialDelaySec: options.bootSeconds },
      instanceLifecyclePolicy: { defaultActionOnFailure: 'REPAIR', forceUpdateOnRepair: 'YES' },
      updatePolicy: { ...rolloutPolicy(options.region.zones.length) },
      // Apply returns when every VM runs its target version, so the old template is unused when it is deleted.
      waitForInstances: true,
      waitForInstancesStatus: 'UPDATED',
      timeouts: { create: '45m', update: '45m', delete: '30m' },
    });
    new ComputeRegionAutoscaler(this, 'autoscaler', {
      name: n.autoscaler(region),
      region,
      target: this.group.id,
      autoscalingPolicy: {
        minReplicas: options.size.minReplicas,
        maxReplicas: options.size.maxReplicas,
        cooldownPeriod: options.bootSeconds,
        mode: 'ON',
        cpuUtilization: { target: options.targetUtilization },
        loadBalancingUtilization: { target: options.targetUtilization },
        // Scale in by at most one VM per zone per 10 minutes: a retry storm finds the capacity still there.
        scaleInControl: { maxScaledInReplicas: { fixed: options.region.zones.length }, timeWindowSec: 600 },
      },
    });
  }
}
