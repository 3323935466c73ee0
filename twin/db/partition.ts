// A silent database: packets between the fleet (10.89.0.11-39) and the stable
// address are dropped inside ctwin-sql, both ways, so connections neither
// fail nor answer (a network partition, not a refusal). The load generator
// and the drills' counter reads (from ctwin, 10.89.0.1) still get through.

import { nsExec, nsExecOk } from '../topology.js';
import { DB_HOSTS, FLEET_RANGE } from './settings.js';

const TABLE = 'ctwin_partition';
// Absolute: npm puts node_modules/.bin first on PATH, and @vercel/nft installs a `nft` there.
const NFT = '/usr/sbin/nft';

export async function partition(on: boolean): Promise<void> {
  if (!on) return healPartition();
  await healPartition();
  const rules = [
    `table inet ${TABLE} {`,
    '  chain input { type filter hook input priority -10; policy accept;',
    `    ip saddr ${FLEET_RANGE} drop; }`,
    '  chain output { type filter hook output priority -10; policy accept;',
    `    ip daddr ${FLEET_RANGE} drop; }`,
    '}',
    '',
  ].join('\n');
  await nsExecOk(DB_HOSTS.sql.name, NFT, ['-f', '-'], { input: rules, timeoutMs: 5000 });
}

export async function healPartition(): Promise<void> {
  await nsExec(DB_HOSTS.sql.name, NFT, ['delete', 'table', 'inet', TABLE], { timeoutMs: 5000 });
}

export async function isPartitioned(): Promise<boolean> {
  const result = await nsExec(DB_HOSTS.sql.name, NFT, ['list', 'table', 'inet', TABLE], { timeoutMs: 5000 });
  return result.code === 0;
}
