// What the benchmark reads about its own processes from /proc: CPU seconds
// and resident memory of a process tree (the service's pm2 and workers, the
// PostgreSQL postmaster and its backends). By tree, not by command name, so
// that other services running on the same machine are never counted.

import { readdirSync, readFileSync } from 'node:fs';
import { procStatFields } from '../../server/proc-stat.js';

const TICKS_PER_SECOND = 100;
const PAGE_KIB = 4;

export interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly cpuSeconds: number;
  readonly rssMiB: number;
}

function read(pid: number): Proc | undefined {
  const fields = procStatFields(pid);
  if (fields === undefined) return undefined; // It ended meanwhile.
  return {
    pid,
    ppid: Number(fields[1]),
    // Own user + system time, plus that of children already reaped (a
    // PostgreSQL backend that ended is no longer in the tree, but its CPU
    // is in its parent's cutime/cstime), so a tree's sum never goes down.
    cpuSeconds: (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND,
    rssMiB: (Number(fields[21]) * PAGE_KIB) / 1024,
  };
}

/** The process and all its descendants. */
export function tree(rootPid: number): Proc[] {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => read(Number(d)))
    .filter((p): p is Proc => p !== undefined);
  const found = all.filter((p) => p.pid === rootPid);
  for (let i = 0; i < found.length; i += 1) {
    const parent = (found[i] as Proc).pid;
    found.push(...all.filter((p) => p.ppid === parent));
  }
  return found;
}

export function cpuSecondsOf(rootPid: number | undefined): number {
  return rootPid === undefined ? 0 : tree(rootPid).reduce((sum, p) => sum + p.cpuSeconds, 0);
}

/** Resident memory of each direct child (the pm2 cluster workers), MiB. */
export function childrenRssMiB(rootPid: number): number[] {
  return tree(rootPid)
    .filter((p) => p.ppid === rootPid)
    .sort((a, b) => a.pid - b.pid)
    .map((p) => Math.round(p.rssMiB * 10) / 10);
}

export function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
}
