// What every stack shares: one environment's provider settings, a GCS backend
// whose prefix is the layer, and labels on everything. A stack is one layer
// (base, fleet, edge, ops) of one environment, named `<layer>-<env>`, so each
// has its own state file, its own plan and its own blast radius.

import { GcsBackend, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { GoogleBetaProvider } from '@cdktf/provider-google-beta/lib/provider/index.js';
import type { InfraConfig } from '../config-schema.js';
import { names, type Names } from '../naming.js';

export type Layer = 'base' | 'fleet' | 'edge' | 'ops';

export function stackName(layer: Layer, env: string): string {
  return `${layer}-${env}`;
}

export class LayerStack extends TerraformStack {
  readonly names: Names;
  readonly labels: Readonly<Record<string, string>>;

  constructor(
    scope: Construct,
    readonly layer: Layer,
    readonly config: InfraConfig,
  ) {
    super(scope, stackName(layer, config.env));
    this.names = names(config);
    this.labels = { ...config.labels, layer };
    const primary = config.regions[0]?.region ?? '';
    new GoogleProvider(this, 'google', { project: config.project, region: primary, defaultLabels: this.labels });
    new GcsBackend(this, { bucket: config.stateBucket, prefix: `${config.prefix}/${layer}` });
    // Explicit for plain terraform and OpenTofu alike (cdktf writes the bare type name).
    this.addOverride('terraform.required_providers.google.source', 'hashicorp/google');
    this.addOverride('terraform.required_version', '>= 1.5.0');
  }

  private beta: GoogleBetaProvider | undefined;

  /**
   * The hashicorp/google-beta provider, same settings, added only to a stack
   * that asks for it; a resource must name it (`provider:`), or terraform
   * would map its google_* type to hashicorp/google.
   */
  betaProvider(): GoogleBetaProvider {
    if (this.beta === undefined) {
      this.beta = new GoogleBetaProvider(this, 'google-beta', {
        project: this.config.project,
        region: this.config.regions[0]?.region ?? '',
        defaultLabels: this.labels,
      });
      this.addOverride('terraform.required_providers.google-beta.source', 'hashicorp/google-beta');
    }
    return this.beta;
  }
}
