// Layer 1, the long-lived foundation: APIs, network, Cloud SQL and the
// database password's secret. It changes rarely and is the most dangerous to
// change, so nothing that changes often (the fleet, the edge) lives here.

import { TerraformOutput } from 'cdktf';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config-schema.js';
import { Database } from '../constructs/database.js';
import { ImageBuild } from '../constructs/image-build.js';
import { PatchPipeline, pipelineSubstitutions } from '../constructs/patch-pipeline.js';
import { Network } from '../constructs/network.js';
import { ProjectApis } from '../constructs/project-apis.js';
import { LayerStack } from './layer-stack.js';

export class BaseStack extends LayerStack {
  public readonly network: Network;
  public readonly database: Database;

  constructor(scope: Construct, config: InfraConfig) {
    super(scope, 'base', config);
    const primary = config.regions.find((r) => r.region === config.database.primaryRegion);
    if (primary === undefined) throw new Error('database.primaryRegion is not one of config.regions');
    const replica = config.regions.find((r) => r.region === config.database.replicaRegion);
    const apis = new ProjectApis(this, 'apis');
    this.network = new Network(this, 'network', {
      names: this.names,
      regions: config.regions,
      servicesCidr: config.servicesCidr,
      dependsOn: [...apis.services],
    });
    this.database = new Database(this, 'database', {
      names: this.names,
      region: primary,
      ...(replica === undefined ? {} : { replicaRegion: replica }),
      settings: config.database,
      networkId: this.network.network.id,
      labels: this.labels,
      dependsOn: [this.network.servicesConnection, ...apis.services],
    });
    const build = new ImageBuild(this, 'image-build', {
      names: this.names,
      project: config.project,
      region: primary.region,
      networkId: this.network.network.id,
      cidr: config.buildCidr,
    });
    const pipeline = new PatchPipeline(this, 'patch-pipeline', {
      names: this.names,
      project: config.project,
      env: config.env,
      stateBucket: config.stateBucket,
      substitutions: pipelineSubstitutions(config),
      repoUri: config.pipelineRepo,
      buildVmAccountName: build.buildVm.name,
      dependsOn: [...apis.services],
    });
    new TerraformOutput(this, 'patch_trigger', { value: pipeline.trigger.name });
    new TerraformOutput(this, 'build_service_account', { value: build.buildVm.email });
    new TerraformOutput(this, 'builder_service_account', { value: build.builder.email });
    new TerraformOutput(this, 'build_subnet', { value: build.subnet.name });
    new TerraformOutput(this, 'network_name', { value: this.network.network.name });
    new TerraformOutput(this, 'sql_connection_name', { value: this.database.instance.connectionName });
    new TerraformOutput(this, 'sql_private_ip', { value: this.database.instance.privateIpAddress });
    if (this.database.replica !== undefined)
      new TerraformOutput(this, 'sql_replica_connection_name', { value: this.database.replica.connectionName });
    new TerraformOutput(this, 'db_host', { value: this.names.dbHost });
    new TerraformOutput(this, 'db_password_secret', { value: this.database.passwordSecret.id });
  }
}
