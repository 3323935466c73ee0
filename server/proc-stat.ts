// The one reader of /proc/<pid>/stat (Linux): the fields after the command
// name, which may itself hold spaces and parentheses. Used by the journal
// (a process's start time, so pid reuse is detectable) and by the benchmark
// (CPU time and resident memory of a process tree).

import { readFileSync } from 'node:fs';

/**
 * The stat fields of `pid` from the state on, so index i is field i + 3 of
 * proc(5) (0: state, 1: ppid, 11: utime, 19: starttime, 21: rss); undefined
 * if the process is gone.
 */
export function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
