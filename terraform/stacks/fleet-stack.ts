// Layer 2, what changes on every patch: the fleet's identity and one regional
// MIG per configured region. `npm run infra:roll` changes only this stack.
// The network, subnets and Cloud SQL instance of the base stack are found by
// name through data sources, so this JSON plans alone with plain terraform.

import { TerraformOutput } from 'cdktf';
import type { Construct } from 'constructs';
import { DataGoogleComputeNetwork } from '@cdktf/provider-google/lib/data-google-compute-network/index.js';
import { DataGoogleComputeSubnetwork } from '@cdktf/provider-google/lib/data-google-compute-subnetwork/index.js';
import { DataGoogleSqlDatabaseInstance } from '@cdktf/provider-google/lib/data-google-sql-database-instance/index.js';
import type { InfraConfig } from '../config-schema.js';
import { FleetIdentity } from '../constructs/fleet-identity.js';
import { RegionalFleet } from '../constructs/regional-fleet.js';
import { instanceMetadata } from '../instance-metadata.js';
import { expectedFleetSize, fleetSize } from '../sizing.js';
import { LayerStack } from './layer-stack.js';

export class FleetStack extends LayerStack {
  public readonly fleets: readonly RegionalFleet[];

  constructor(scope: Construct, config: InfraConfig) {
    super(scope, 'fleet', config);
    const n = this.names;
    const network = new DataGoogleComputeNetwork(this, 'network', { name: n.network });
    // Every instance that may be the writer: the primary and, with DR, the replica. The VMs trust
    // both server CAs and connect to the writer's DNS name, so a promotion needs no new template.
    const sqlInstances = [config.database.primaryRegion, config.database.replicaRegion]
      .filter((r): r is string => r !== null)
      .map((r) => new DataGoogleSqlDatabaseInstance(this, `database-${r}`, { name: n.sqlInstance(r) }));
    const identity = new FleetIdentity(this, 'identity', {
      names: n,
      project: config.project,
      networkId: network.id,
      passwordSecretId: n.dbPasswordSecretId,
      operators: config.operators,
    });
    const betaProvider = this.betaProvider();
    const metadata = instanceMetadata({
      pgHost: n.dbHost,
      pgServerCa: sqlInstances.map((sql) => sql.serverCaCert.get(0).cert).join('\n'),
      sslMode: config.database.sslMode,
      passwordSecretId: n.dbPasswordSecretId,
    });
    this.fleets = config.regions.map((region) => {
      const subnet = new DataGoogleComputeSubnetwork(this, `subnet-${region.region}`, {
        name: n.subnet(region.region),
        region: region.region,
      });
      return new RegionalFleet(this, `fleet-${region.region}`, {
        names: n,
        region,
        release: config.release,
        size: fleetSize(config.fleet, region.zones.length),
        targetUtilization: config.fleet.targetUtilization,
        bootSeconds: config.fleet.bootSeconds,
        betaProvider,
        dependsOn: identity.bootGrants,
        template: {
          imageProject: config.imageProject,
          machineType: config.fleet.machineType,
          diskSizeGb: config.fleet.diskSizeGb,
          subnetwork: subnet.selfLink,
          serviceAccountEmail: identity.serviceAccount.email,
          metadata,
          labels: this.labels,
        },
      });
    });
    new TerraformOutput(this, 'service_account', { value: identity.serviceAccount.email });
    new TerraformOutput(this, 'instance_groups', { value: this.fleets.map((f) => f.group.instanceGroup) });
    new TerraformOutput(this, 'expected_fleet_size', {
      value: expectedFleetSize(config),
      description:
        'Per region: the fewest VMs the fleet runs (autoscaler minimum) and the most. Audits fail below min.',
    });
  }
}
