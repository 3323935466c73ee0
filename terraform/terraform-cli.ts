// Running terraform (or OpenTofu) for the roll and deploy commands: find the
// binary, run a step with its output shown, and apply a plan only after it
// was shown and a person typed "yes". Every apply goes through a saved plan
// file, so what is applied is exactly what was shown.

import { spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline/promises';
import { groupRemovalOrder, groupRemovals } from './plan-guard.js';

export function terraformBinary(): string | undefined {
  return ['terraform', 'tofu'].find((bin) => spawnSync(bin, ['-version'], { stdio: 'ignore' }).status === 0);
}

export function run(bin: string, args: readonly string[]): void {
  console.log(`$ ${bin} ${args.join(' ')}`);
  const result = spawnSync(bin, [...args], { stdio: 'inherit' });
  if (result.status !== 0)
    throw new Error(`${bin} ${args[1] ?? ''} failed with exit code ${result.status ?? 'signal'}`);
}

export function capture(bin: string, args: readonly string[]): string {
  const result = spawnSync(bin, [...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** True only for a typed "yes" (the answer terraform itself asks for). */
export function isYes(answer: string): boolean {
  return answer.trim() === 'yes';
}

export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    console.error('No terminal to confirm on: not applying. Apply the saved plan by hand after reading it.');
    return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return isYes(await rl.question(`${question} Only "yes" applies: `));
  } finally {
    rl.close();
  }
}

export interface PlanOptions {
  readonly bin: string;
  readonly dir: string;
  readonly env: string;
  readonly destroy?: boolean;
  /** Refuse a plan that deletes a MIG (fleet stack): the edge must release it first. */
  readonly guardGroups?: boolean;
  /** A Cloud Build run id whose manual approval replaces the typed "yes" (the pipeline has no terminal). */
  readonly approvedBy?: string;
}

/** init, plan to a file (terraform prints it), checks, a typed "yes", then apply of that file. */
export async function planThenApply(o: PlanOptions): Promise<boolean> {
  const chdir = `-chdir=${o.dir}`;
  const plan = 'deploy.tfplan';
  run(o.bin, [chdir, 'init', '-input=false']);
  run(o.bin, [chdir, 'plan', '-input=false', ...(o.destroy === true ? ['-destroy'] : []), `-out=${plan}`]);
  if (o.guardGroups === true && o.destroy !== true) {
    const removals = groupRemovals(JSON.parse(capture(o.bin, [chdir, 'show', '-json', plan])) as unknown);
    if (removals.length > 0) throw new Error(groupRemovalOrder(o.env, removals));
  }
  if (o.approvedBy !== undefined) console.log(`Applying: approved in Cloud Build run ${o.approvedBy}`);
  else if (!(await confirm(`Apply the plan above to ${o.dir}?`))) {
    console.log(`Not applied. The plan is saved: ${o.bin} ${chdir} apply ${plan}`);
    return false;
  }
  run(o.bin, [chdir, 'apply', plan]);
  return true;
}
