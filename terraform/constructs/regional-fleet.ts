// The API fleet of one region: a regional MIG spread EVEN over the region's
// zones, autohealed on /readyz, autoscaled between one VM per zone and the
// N+1-zone maximum (sizing.ts), rolled PROACTIVE with zero unavailable, a
// surge of one VM per zone and min_ready_sec (serving-policy.ts). An optional
// canary runs a second template at a fixed size or percentage next to the
// stable one.
//
// The MIG comes from the google-beta provider (same 6.50.0 release) for
// min_ready_sec alone; everything else stays on hashicorp/google. Templates
// are keyed by image, not by track: promoting a canary keeps its template, so
// the canary VMs are not replaced a second time.

import { Construct } from 'constructs';
import type { ITerraformDependable, TerraformProvider } from 'cdktf';
import { ComputeHealthCheck } from '@cdktf/provider-google/lib/compute-health-check/index.js';
import { ComputeRegionAutoscaler } from '@cdktf/provider-google/lib/compute-region-autoscaler/index.js';
import {
  GoogleComputeRegionInstanceGroupManager,
  type GoogleComputeRegionInstanceGroupManagerVersion,
} from '@cdktf/provider-google-beta/lib/google-compute-region-instance-group-manager/index.js';
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
  /** The google-beta provider of the stack (the MIG needs min_ready_sec). */
  readonly betaProvider: TerraformProvider;
  /** What a VM needs before its first boot (the secret grant): the MIG waits for them. */
  readonly dependsOn?: ITerraformDependable[];
}

/** Construct id of the template of one image: the same image keeps the same template resource. */
export function templateId(image: string): string {
  return `template-${image}`;
}

/** `"10%"` → percent 10, `"2"` → fixed 2. */
export function canaryTarget(size: string): { percent: number } | { fixed: number } {
  return size.endsWith('%') ? { percent: Number(size.slice(0, -1)) } : { fixed: Number(size) };
}

export class RegionalFleet extends Construct {
  public readonly group: GoogleComputeRegionInstanceGroupManager;
  public readonly autohealCheck: ComputeHealthCheck;

  constructor(scope: Construct, id: string, options: RegionalFleetOptions) {
    super(scope, id);
    const n = options.names;
    const region = options.region.region;
    const { release } = options;
    const template = (image: string) =>
      new InstanceTemplate(this, templateId(image), { ...options.template, namePrefix: n.template(region), image })
        .template.selfLinkUnique;
    const versions: GoogleComputeRegionInstanceGroupManagerVersion[] = [
      { name: 'stable', instanceTemplate: template(release.image) },
    ];
    if (release.canary) {
      versions.push({
        name: 'canary',
        instanceTemplate: template(release.canary.image),
        targetSize: canaryTarget(release.canary.size),
      });
    }
    // Readiness, which stays 200 in degraded mode: see AUTOHEAL_CHECK.
    this.autohealCheck = new ComputeHealthCheck(this, 'autoheal', {
      name: n.autohealCheck(region),
      checkIntervalSec: AUTOHEAL_CHECK.checkIntervalSec,
      timeoutSec: AUTOHEAL_CHECK.timeoutSec,
      healthyThreshold: AUTOHEAL_CHECK.healthyThreshold,
      unhealthyThreshold: AUTOHEAL_CHECK.unhealthyThreshold,
      httpHealthCheck: { port: AUTOHEAL_CHECK.port, requestPath: AUTOHEAL_CHECK.path },
    });
    this.group = new GoogleComputeRegionInstanceGroupManager(this, 'group', {
      provider: options.betaProvider,
      dependsOn: options.dependsOn,
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
