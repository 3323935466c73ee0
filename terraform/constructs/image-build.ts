// The image build's own infrastructure (images/, docs/image.md): the
// identity that runs Packer (the patch pipeline's service account), the
// identity of the throwaway build VM, a build subnet with Private Google
// Access and Cloud NAT (the bake installs from Debian's mirrors, which
// Private Google Access does not reach), and the IAP rule Packer's SSH uses.
// NAT serves the build subnet only: the fleet's subnets keep no route to the
// internet.

import { Construct } from 'constructs';
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall/index.js';
import { ComputeRouter } from '@cdktf/provider-google/lib/compute-router/index.js';
import { ComputeRouterNat } from '@cdktf/provider-google/lib/compute-router-nat/index.js';
import { ComputeSubnetwork } from '@cdktf/provider-google/lib/compute-subnetwork/index.js';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member/index.js';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member/index.js';
import type { Names } from '../naming.js';
import { IAP_SOURCE_RANGES } from './fleet-identity.js';

/** What running Packer needs: create and delete the build VM and its disk, make the image, SSH through IAP. */
export const BUILDER_ROLES: readonly string[] = [
  'roles/compute.instanceAdmin.v1',
  'roles/compute.storageAdmin',
  'roles/iap.tunnelResourceAccessor',
  'roles/compute.osAdminLogin',
  'roles/logging.logWriter',
];
/** The network tag Packer puts on the build VM (images/counter-api/variables.pkr.hcl, network_tags). */
export const BUILD_TAG = 'packer-build';

export interface ImageBuildOptions {
  readonly names: Names;
  readonly project: string;
  readonly region: string;
  readonly networkId: string;
  readonly cidr: string;
}

export class ImageBuild extends Construct {
  public readonly builder: ServiceAccount;
  public readonly buildVm: ServiceAccount;
  public readonly subnet: ComputeSubnetwork;

  constructor(scope: Construct, id: string, o: ImageBuildOptions) {
    super(scope, id);
    const n = o.names;
    this.builder = new ServiceAccount(this, 'builder', {
      accountId: n.builderAccount,
      displayName: 'counter-api image builder (Packer, patch pipeline)',
    });
    this.buildVm = new ServiceAccount(this, 'build-vm', {
      accountId: n.buildVmAccount,
      displayName: 'counter-api throwaway build VM',
    });
    for (const role of BUILDER_ROLES)
      new ProjectIamMember(this, `builder-${role.replace('roles/', '')}`, {
        project: o.project,
        role,
        member: `serviceAccount:${this.builder.email}`,
      });
    new ProjectIamMember(this, 'build-vm-logs', {
      project: o.project,
      role: 'roles/logging.logWriter',
      member: `serviceAccount:${this.buildVm.email}`,
    });
    // The builder attaches the build VM's account to the VM it creates, and nothing else.
    new ServiceAccountIamMember(this, 'builder-acts-as-build-vm', {
      serviceAccountId: this.buildVm.name,
      role: 'roles/iam.serviceAccountUser',
      member: `serviceAccount:${this.builder.email}`,
    });
    this.subnet = new ComputeSubnetwork(this, 'subnet', {
      name: n.buildSubnet,
      region: o.region,
      network: o.networkId,
      ipCidrRange: o.cidr,
      privateIpGoogleAccess: true,
      logConfig: { aggregationInterval: 'INTERVAL_5_SEC', flowSampling: 0.1, metadata: 'INCLUDE_ALL_METADATA' },
    });
    const router = new ComputeRouter(this, 'router', { name: n.buildRouter, region: o.region, network: o.networkId });
    new ComputeRouterNat(this, 'nat', {
      name: n.buildNat,
      region: o.region,
      router: router.name,
      natIpAllocateOption: 'AUTO_ONLY',
      sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
      subnetwork: [{ name: this.subnet.id, sourceIpRangesToNat: ['ALL_IP_RANGES'] }],
      logConfig: { enable: true, filter: 'ERRORS_ONLY' },
    });
    new ComputeFirewall(this, 'allow-iap-build', {
      name: n.firewall('allow-iap-build'),
      network: o.networkId,
      direction: 'INGRESS',
      priority: 1000,
      sourceRanges: [...IAP_SOURCE_RANGES],
      targetTags: [BUILD_TAG],
      allow: [{ protocol: 'tcp', ports: ['22'] }],
      logConfig: { metadata: 'INCLUDE_ALL_METADATA' },
    });
  }
}
