// The private network: a custom-mode VPC, one subnet per region with Private
// Google Access (instances have no external IP yet reach Secret Manager,
// Logging and Monitoring), and the private services access peering that gives
// Cloud SQL a private IP in this VPC. Ingress is closed by a logged deny-all
// rule; the fleet opens exactly what it needs (see fleet-identity.ts).

import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall/index.js';
import { ComputeGlobalAddress } from '@cdktf/provider-google/lib/compute-global-address/index.js';
import { ComputeNetwork } from '@cdktf/provider-google/lib/compute-network/index.js';
import { ComputeSubnetwork } from '@cdktf/provider-google/lib/compute-subnetwork/index.js';
import { ServiceNetworkingConnection } from '@cdktf/provider-google/lib/service-networking-connection/index.js';
import type { RegionConfig } from '../config-schema.js';
import { splitCidr } from '../cidr.js';
import type { Names } from '../naming.js';

export interface NetworkOptions {
  readonly names: Names;
  readonly regions: readonly RegionConfig[];
  readonly servicesCidr: string;
  /** Share of flows sampled into VPC flow logs. */
  readonly flowSampling?: number;
  readonly dependsOn?: ITerraformDependable[];
}

export class Network extends Construct {
  public readonly network: ComputeNetwork;
  public readonly subnets: readonly ComputeSubnetwork[];
  public readonly servicesConnection: ServiceNetworkingConnection;

  constructor(scope: Construct, id: string, options: NetworkOptions) {
    super(scope, id);
    const n = options.names;
    this.network = new ComputeNetwork(this, 'vpc', {
      name: n.network,
      autoCreateSubnetworks: false,
      // GLOBAL so a second region's subnet reaches Cloud SQL in the primary region.
      routingMode: 'GLOBAL',
      dependsOn: options.dependsOn,
    });
    this.subnets = options.regions.map(
      (r) =>
        new ComputeSubnetwork(this, `subnet-${r.region}`, {
          name: n.subnet(r.region),
          region: r.region,
          network: this.network.id,
          ipCidrRange: r.subnetCidr,
          privateIpGoogleAccess: true,
          logConfig: {
            aggregationInterval: 'INTERVAL_5_SEC',
            flowSampling: options.flowSampling ?? 0.1,
            metadata: 'INCLUDE_ALL_METADATA',
          },
        }),
    );
    new ComputeFirewall(this, 'deny-all-ingress', {
      name: n.firewall('deny-all-ingress'),
      network: this.network.id,
      direction: 'INGRESS',
      priority: 65534,
      sourceRanges: ['0.0.0.0/0'],
      deny: [{ protocol: 'all' }],
      logConfig: { metadata: 'INCLUDE_ALL_METADATA' },
    });
    const range = splitCidr(options.servicesCidr);
    const servicesRange = new ComputeGlobalAddress(this, 'services-range', {
      name: n.servicesRange,
      purpose: 'VPC_PEERING',
      addressType: 'INTERNAL',
      address: range.address,
      prefixLength: range.prefixLength,
      network: this.network.id,
    });
    this.servicesConnection = new ServiceNetworkingConnection(this, 'services-connection', {
      network: this.network.id,
      service: 'servicenetworking.googleapis.com',
      reservedPeeringRanges: [servicesRange.name],
      // Deleting the peering fails while Cloud SQL still uses it; let the project teardown do it.
      deletionPolicy: 'ABANDON',
    });
  }
}
