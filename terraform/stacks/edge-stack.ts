// Layer 3, the public edge: address, certificate, TLS policy, Cloud Armor and
// the load balancer over every region's MIG. It changes when the domain or
// the edge policy changes, not when the fleet is patched. The MIGs of the
// fleet stack are found by name through data sources.

import { TerraformOutput } from 'cdktf';
import type { Construct } from 'constructs';
import { DataGoogleComputeRegionInstanceGroupManager } from '@cdktf/provider-google/lib/data-google-compute-region-instance-group-manager/index.js';
import type { InfraConfig } from '../config-schema.js';
import { ArmorPolicy } from '../constructs/armor-policy.js';
import { LoadBalancer } from '../constructs/load-balancer.js';
import { LayerStack } from './layer-stack.js';

export class EdgeStack extends LayerStack {
  public readonly loadBalancer: LoadBalancer;

  constructor(scope: Construct, config: InfraConfig) {
    super(scope, 'edge', config);
    const n = this.names;
    // A region named in edge.excludeRegions is left out: its MIG can then be replaced or removed.
    const served = config.regions.filter((r) => !config.edge.excludeRegions.includes(r.region));
    const groups = served.map(
      (r) =>
        new DataGoogleComputeRegionInstanceGroupManager(this, `group-${r.region}`, {
          name: n.group(r.region),
          region: r.region,
        }),
    );
    const armor = new ArmorPolicy(this, 'armor', {
      name: n.securityPolicy,
      requestsPerIpPerMinute: config.edge.rateLimitPerIpPerMinute,
    });
    this.loadBalancer = new LoadBalancer(this, 'lb', {
      names: n,
      prefix: config.prefix,
      domains: [config.domain, ...config.edge.additionalDomains],
      edge: config.edge,
      instanceGroups: groups.map((g) => g.instanceGroup),
      maxRatePerInstance: config.fleet.instanceCapacityRps,
      securityPolicy: armor.policy.id,
    });
    new TerraformOutput(this, 'ip_address', {
      value: this.loadBalancer.address.address,
      description: `Point an A record for ${config.domain} here; the managed certificate provisions once it resolves.`,
    });
  }
}
