// Long-lived processes of the database tier (etcd, Patroni, HAProxy, the
// delaying relay): started detached inside their host's namespace so they
// outlive the command that started them, with a pid file and a log each, and
// stopped by pid. The sweep finds leftovers of a failed run by exact marks
// (the namespace they live in, the state directory in their command line),
// never by a process name.

import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exec, nsArgv } from '../topology.js';
import { STATE_DIR, logFile, pidFile } from './settings.js';

export interface DaemonOptions {
  /** Run as this user (setpriv); PostgreSQL refuses to run as root. */
  readonly user?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Starts `argv` inside `netns`, detached, output to its log; returns its pid. */
export function startDaemon(name: string, netns: string, argv: readonly string[], options: DaemonOptions = {}): number {
  mkdirSync(path.dirname(pidFile(name)), { recursive: true });
  mkdirSync(path.dirname(logFile(name)), { recursive: true });
  const command = options.user
    ? ['setpriv', `--reuid=${options.user}`, `--regid=${options.user}`, '--init-groups', ...argv]
    : [...argv];
  const full = nsArgv(netns, command[0] ?? 'true', command.slice(1));
  const log = openSync(logFile(name), 'a');
  try {
    const child = spawn(full[0] ?? 'nsenter', full.slice(1), {
      detached: true,
      stdio: ['ignore', log, log],
      env: options.env ?? process.env,
      cwd: options.cwd ?? STATE_DIR,
    });
    if (child.pid === undefined) throw new Error(`could not start ${name}`);
    child.unref();
    writeFileSync(pidFile(name), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** True while the process exists and is not a zombie (a zombie's parent may never reap it here). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Sends `sig`, waits up to `graceMs` for the process to exit, then SIGKILLs it. */
export async function stopPid(pid: number, sig: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (!alive(pid)) return;
  signal(pid, sig);
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    signal(pid, 'SIGKILL');
    const hard = Date.now() + 5000;
    while (alive(pid) && Date.now() < hard) await sleep(50);
  }
}

export async function stopDaemon(name: string, sig: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  const pid = readPid(pidFile(name));
  if (pid !== undefined) await stopPid(pid, sig, graceMs);
  rmSync(pidFile(name), { force: true });
}

/** Pids of every process living in a network namespace (empty if it does not exist). */
export async function namespacePids(netns: string): Promise<number[]> {
  const result = await exec('ip', ['netns', 'pids', netns], { timeoutMs: 5000 });
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

/** Pids whose command line mentions the database state directory (leftovers whose namespace is gone). */
export function stateDirPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(STATE_DIR)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** SIGKILLs the given pids and waits (bounded) until they are gone. */
export async function killAll(pids: readonly number[]): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
}
