// `npm run infra:roll -- --image <name> [--canary 10%] [--apply]`: points the
// fleet at another image and nothing else. It rewrites the environment's
// release file (terraform/envs/<env>.release.json, committed so every roll
// is a reviewed diff), re-synthesizes, and prints the plain terraform commands
// for the fleet stack. No credentials are needed up to that point; --apply
// runs init and plan when a terraform or tofu binary is on PATH, shows the
// plan, and applies the saved plan only after a typed "yes", or, in the patch
// pipeline (--approved <build id>), under that build's manual approval.

import { synthesize } from './app.js';
import { environmentName, envsDir, loadConfig, outdir, readRelease, writeRelease } from './config.js';
import { assertDeployable } from './deployable.js';
import { canaryInstances, describeRoll, parseRollArgs, rollRelease } from './release.js';
import { fleetSize } from './sizing.js';
import { stackName } from './stacks/layer-stack.js';
import { planThenApply, terraformBinary } from './terraform-cli.js';

async function main(): Promise<void> {
  const request = parseRollArgs(process.argv.slice(2));
  const env = environmentName();
  const dir = envsDir();
  const before = readRelease(env, dir);
  const after = rollRelease(before, request);
  writeRelease(env, after, dir);
  for (const line of describeRoll(before, after)) console.log(line);

  const config = loadConfig();
  if (after.canary !== null) {
    for (const region of config.regions) {
      const { minReplicas, maxReplicas } = fleetSize(config.fleet, region.zones.length);
      console.log(
        `canary in ${region.region}: ${canaryInstances(after.canary.size, minReplicas)} of ${minReplicas} VMs at the minimum, ${canaryInstances(after.canary.size, maxReplicas)} of ${maxReplicas} at the maximum (a percentage rounds up)`,
      );
    }
  }
  const out = outdir();
  synthesize(config, out);
  const chdir = `-chdir=${out}/stacks/${stackName('fleet', env)}`;
  const steps = [
    [chdir, 'init', '-input=false'],
    [chdir, 'plan', '-input=false', '-out=roll.tfplan'],
    [chdir, 'apply', 'roll.tfplan'],
  ];
  if (request.apply) assertDeployable(config);
  if (!request.apply) {
    console.log('\nNext (review the plan: only instance templates and the MIG version may change):');
    for (const step of steps) console.log(`  terraform ${step.join(' ')}`);
    return;
  }
  const bin = terraformBinary();
  if (bin === undefined)
    throw new Error('--apply needs terraform or tofu on PATH; run the commands above by hand instead');
  const applied = await planThenApply({
    bin,
    dir: `${out}/stacks/${stackName('fleet', env)}`,
    env,
    guardGroups: true,
    ...(request.approved === undefined ? {} : { approvedBy: request.approved }),
  });
  if (!applied) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
