// `npm run infra:roll -- --image <name> [--canary 10%] [--apply]`: points the
// fleet at another image and nothing else. It rewrites the environment's
// release file (terraform/envs/<env>.release.json, committed so every roll
// is a reviewed diff), re-synthesizes, and prints the plain terraform commands
// for the fleet stack. No credentials are needed up to that point; --apply
// runs those commands when a terraform or tofu binary is on PATH.

import { spawnSync } from 'node:child_process';
import { synthesize } from './app.js';
import { environmentName, envsDir, loadConfig, outdir, readRelease, writeRelease } from './config.js';
import { describeRoll, parseRollArgs, rollRelease } from './release.js';
import { stackName } from './stacks/layer-stack.js';

function terraformBinary(): string | undefined {
  return ['terraform', 'tofu'].find((bin) => spawnSync(bin, ['-version'], { stdio: 'ignore' }).status === 0);
}

function run(bin: string, args: string[]): void {
  console.log(`$ ${bin} ${args.join(' ')}`);
  const result = spawnSync(bin, args, { stdio: 'inherit' });
  if (result.status !== 0)
    throw new Error(`${bin} ${args[1] ?? ''} failed with exit code ${result.status ?? 'signal'}`);
}

function main(): void {
  const request = parseRollArgs(process.argv.slice(2));
  const env = environmentName();
  const dir = envsDir();
  const before = readRelease(env, dir);
  const after = rollRelease(before, request);
  writeRelease(env, after, dir);
  for (const line of describeRoll(before, after)) console.log(line);

  const out = outdir();
  synthesize(loadConfig(), out);
  const chdir = `-chdir=${out}/stacks/${stackName('fleet', env)}`;
  const steps = [
    [chdir, 'init', '-input=false'],
    [chdir, 'plan', '-input=false', '-out=roll.tfplan'],
    [chdir, 'apply', 'roll.tfplan'],
  ];
  if (!request.apply) {
    console.log('\nNext (review the plan: only instance templates and the MIG version may change):');
    for (const step of steps) console.log(`  terraform ${step.join(' ')}`);
    return;
  }
  const bin = terraformBinary();
  if (bin === undefined)
    throw new Error('--apply needs terraform or tofu on PATH; run the commands above by hand instead');
  for (const step of steps) run(bin, step);
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
