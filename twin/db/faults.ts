// Faults the drills inject into the database tier. killPrimary SIGKILLs the
// primary: its postmaster only (a PostgreSQL crash; Patroni on that node
// hands over at once), or the whole node, Patroni included (a VM or zone
// loss; the leader key must expire first, ttl 6 s). restartNode brings a
// killed node back; Patroni rewinds it and it rejoins as the standby.

import path from 'node:path';
import { alive, readPid, signal } from './processes.js';
import { dataDir, pidFile, type NodeName } from './settings.js';
import { databaseStatus } from './status.js';
import { startNode } from './lifecycle.js';

export type KillScope = 'postgres' | 'node';

export interface Kill {
  readonly node: NodeName;
  readonly scope: KillScope;
  readonly at: number;
}

export async function killPrimary(scope: KillScope = 'node'): Promise<Kill> {
  const status = await databaseStatus();
  const node = status.primary;
  if (node === undefined) throw new Error(`no primary to kill: ${JSON.stringify(status)}`);
  const postmaster = readPid(path.join(dataDir(node), 'postmaster.pid'));
  const patroni = readPid(pidFile(`patroni-${node}`));
  if (postmaster === undefined || !alive(postmaster)) throw new Error(`primary ${node} has no running postmaster`);
  const at = Date.now();
  // Patroni first for a node kill, so it cannot restart or hand over cleanly.
  if (scope === 'node' && patroni !== undefined) signal(patroni, 'SIGKILL');
  signal(postmaster, 'SIGKILL');
  return { node, scope, at };
}

/** Starts Patroni again on a node whose Patroni was killed (no-op if it runs). */
export function restartNode(node: NodeName): void {
  const patroni = readPid(pidFile(`patroni-${node}`));
  if (patroni !== undefined && alive(patroni)) return;
  startNode(node);
}
