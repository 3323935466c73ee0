// `npm run infra:deploy [-- --destroy]`: from a bootstrapped project to a
// deployed environment in one command. Checks first (project, APIs, state
// bucket, image, then the secret before the fleet), then every stack in
// order, each one planned, shown, and applied only after a typed "yes".
// --destroy goes the other way and stops before base (deletion protection).

import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { synthesize } from './app.js';
import { loadConfig, outdir } from './config.js';
import { assertDeployable } from './deployable.js';
import { bootstrapChecks, deployOrder, type Check } from './deploy-plan.js';
import { stackName } from './stacks/layer-stack.js';
import { planThenApply, terraformBinary } from './terraform-cli.js';

function passes(check: Check): boolean {
  const r = spawnSync('gcloud', [...check.gcloud], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '';
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { destroy: { type: 'boolean', default: false } }, strict: true });
  const destroy = values.destroy ?? false;
  const config = loadConfig();
  assertDeployable(config);
  const bin = terraformBinary();
  if (bin === undefined) throw new Error('infra:deploy needs terraform or tofu on PATH');
  if (spawnSync('gcloud', ['--version'], { stdio: 'ignore' }).status !== 0)
    throw new Error('infra:deploy needs gcloud on PATH (for its checks)');
  const checks = bootstrapChecks(config);
  const out = outdir();
  synthesize(config, out);
  for (const layer of deployOrder(destroy)) {
    if (!destroy) {
      for (const check of checks.filter((c) => c.before === layer)) {
        if (!passes(check)) throw new Error(`check failed: ${check.what}\n  fix: ${check.fix}`);
        console.log(`ok: ${check.what}`);
      }
    }
    const applied = await planThenApply({
      bin,
      dir: `${out}/stacks/${stackName(layer, config.env)}`,
      env: config.env,
      destroy,
      guardGroups: layer === 'fleet',
    });
    if (!applied) return;
  }
  if (destroy)
    console.log(
      `Stopped before base-${config.env}: Cloud SQL has deletion protection. Removing it is a deliberate, separate change.`,
    );
  else
    console.log(
      `Deployed. Point the domain's A record at: ${bin} -chdir=${out}/stacks/${stackName('edge', config.env)} output ip_address`,
    );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
