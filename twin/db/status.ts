// Who is primary, who is the synchronous standby, and how far behind: read
// from Patroni's REST API (`GET /cluster`) from inside a database host's
// namespace, asking each node in turn so one dead node does not blind it.

import { setTimeout as sleep } from 'node:timers/promises';
import { nsExec } from '../topology.js';
import { NODES, PATRONI_REST_PORT, nodeName, type NodeName } from './settings.js';

export interface MemberStatus {
  readonly name: NodeName;
  /** Patroni's role: leader, sync_standby, replica. */
  readonly role: string;
  readonly state: string;
  readonly timeline: number | undefined;
  /** Replication lag in bytes (standbys). */
  readonly lagBytes: number | undefined;
}

export interface DatabaseStatus {
  readonly primary: NodeName | undefined;
  readonly syncStandby: NodeName | undefined;
  readonly members: readonly MemberStatus[];
}

interface ClusterAnswer {
  members?: { name: string; role: string; state: string; timeline?: number; lag?: number | string }[];
}

export async function databaseStatus(): Promise<DatabaseStatus> {
  for (const host of NODES) {
    const result = await nsExec(
      host.name,
      '/usr/bin/curl',
      ['-s', '--max-time', '1', `http://${host.ip}:${PATRONI_REST_PORT}/cluster`],
      { timeoutMs: 3000 },
    ).catch(() => undefined);
    if (result?.code !== 0 || result.stdout.trim() === '') continue;
    let answer: ClusterAnswer;
    try {
      answer = JSON.parse(result.stdout) as ClusterAnswer;
    } catch {
      continue;
    }
    const members: MemberStatus[] = (answer.members ?? []).map((m) => ({
      name: m.name as NodeName,
      role: m.role,
      state: m.state,
      timeline: m.timeline,
      lagBytes: typeof m.lag === 'number' ? m.lag : undefined,
    }));
    return {
      primary: members.find((m) => m.role === 'leader' && m.state === 'running')?.name,
      syncStandby: members.find((m) => m.role === 'sync_standby')?.name,
      members,
    };
  }
  return { primary: undefined, syncStandby: undefined, members: [] };
}

/** Polls the status until `test` holds; throws with the last status after `timeoutMs`. */
export async function waitForStatus(
  test: (s: DatabaseStatus) => boolean,
  timeoutMs: number,
  what: string,
): Promise<DatabaseStatus> {
  const deadline = Date.now() + timeoutMs;
  let last = await databaseStatus();
  while (!test(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    await sleep(200);
    last = await databaseStatus();
  }
  return last;
}

export const allNodes = (): NodeName[] => NODES.map(nodeName);
