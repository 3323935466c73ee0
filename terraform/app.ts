// Builds every stack of one environment into an App. Shared by the synth
// entry point (main.ts), the roll command and the tests, so all three see
// exactly the same Terraform. Order is deploy order: base, fleet, edge, ops.

import { App } from 'cdktf';
import type { InfraConfig } from './config-schema.js';
import { BaseStack } from './stacks/base-stack.js';
import { EdgeStack } from './stacks/edge-stack.js';
import { FleetStack } from './stacks/fleet-stack.js';
import { OpsStack } from './stacks/ops-stack.js';

export interface Stacks {
  readonly base: BaseStack;
  readonly fleet: FleetStack;
  readonly edge: EdgeStack;
  readonly ops: OpsStack;
}

export function buildStacks(app: App, config: InfraConfig): Stacks {
  const base = new BaseStack(app, config);
  const fleet = new FleetStack(app, config);
  const edge = new EdgeStack(app, config);
  const ops = new OpsStack(app, config);
  // Ordering only (for `cdktf deploy '*'`): stacks share names, never state.
  fleet.addDependency(base);
  edge.addDependency(fleet);
  ops.addDependency(edge);
  return { base, fleet, edge, ops };
}

/** Writes <outdir>/stacks/<layer>-<env>/cdk.tf.json for every stack; returns the stack names. */
export function synthesize(config: InfraConfig, outdir: string): string[] {
  const app = new App({ outdir, stackTraces: false });
  const stacks = buildStacks(app, config);
  app.synth();
  return [stacks.base, stacks.fleet, stacks.edge, stacks.ops].map((s) => s.node.id);
}
