// `npm run fleet:inventory [-- --out DIR] [--expected N]`: writes the Ansible
// inventory of INFRA_ENV's fleet (default prod) from the environment files
// and override variables the stacks use, into ansible/inventories/gcp-<env>/
// (git-ignored: a GCP_PROJECT override must not be committed). Audits then
// run with `-i inventories/gcp-<env>`; see docs/runbooks.md.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './config.js';
import { expectedFleetHosts, renderInventory } from './fleet-inventory.js';

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface InventoryArgs {
  readonly out?: string;
  readonly expected?: number;
}

export function parseInventoryArgs(argv: readonly string[]): InventoryArgs {
  const args: { out?: string; expected?: number } = {};
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((flag === '--out' || flag === '--expected') && value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--out') args.out = value;
    else if (flag === '--expected') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--expected must be a positive integer, got ${value}`);
      args.expected = n;
    } else throw new Error(`unknown argument ${flag}; usage: fleet:inventory [--out DIR] [--expected N]`);
    i += 1;
  }
  return args;
}

function main(): void {
  const args = parseInventoryArgs(process.argv.slice(2));
  const config = loadConfig();
  const out = path.resolve(args.out ?? path.join(repoDir, 'ansible', 'inventories', `gcp-${config.env}`));
  const knownHostsFile = path.join(repoDir, '.cache', 'fleet', config.env, 'known_hosts');
  const files = renderInventory(config, {
    knownHostsFile,
    ...(args.expected === undefined ? {} : { expectedHosts: args.expected }),
  });
  for (const file of files) {
    const target = path.join(out, file.path);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, file.text);
  }
  console.log(`${out}: project ${config.project}, zones ${config.regions.flatMap((r) => r.zones).join(' ')}`);
  console.log(`expected hosts: ${args.expected ?? expectedFleetHosts(config)} (audits fail below that)`);
  console.log(
    `next: cd ansible && ansible-playbook -i ${path.relative(path.join(repoDir, 'ansible'), out)} known-hosts.yml`,
  );
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
