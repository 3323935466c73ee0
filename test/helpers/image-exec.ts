// Child processes for the image suite (test/images, test/ansible): every
// command is bounded in time and killed with its whole process group when it
// overruns, and its output is kept for the assertion messages.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ansibleDir = path.join(repoDir, 'ansible');
export const scriptsDir = path.join(repoDir, 'scripts');
export const cacheDir = path.join(repoDir, '.cache', 'image');

export interface RunOptions {
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface RunResult {
  readonly command: string;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
  readonly timedOut: boolean;
}

/** Runs a command to completion (or to its deadline); never throws for a non-zero exit. */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoDir,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills the whole tree
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        command: [command, ...args].join(' '),
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        seconds: (Date.now() - started) / 1000,
        timedOut,
      });
    });
  });
}

/** Runs a command and throws (with the tail of its output) unless it exits 0. */
export async function runOk(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new Error(describe(result));
  return result;
}

/** A failure message: the command, how it ended, and the last lines of its output. */
export function describe(result: RunResult, lines = 40): string {
  const ending = result.timedOut ? `timed out after ${result.seconds.toFixed(0)} s` : `exited ${result.code}`;
  const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-lines).join('\n');
  return `${result.command} ${ending}:\n${tail}`;
}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${last}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Parses a YAML file with the PyYAML that ships with Debian's Ansible. */
export async function readYaml(file: string): Promise<unknown> {
  return (await readYamlFiles([file])).get(file);
}

/** Parses YAML files with PyYAML (what Ansible reads them with), all in one Python process. */
export async function readYamlFiles(files: readonly string[]): Promise<Map<string, unknown>> {
  const script = 'import json, sys, yaml; json.dump([yaml.safe_load(open(f)) for f in sys.argv[1:]], sys.stdout)';
  const result = await runOk('python3', ['-c', script, ...files], { timeoutMs: 20_000 });
  const documents = JSON.parse(result.stdout) as unknown[];
  return new Map(files.map((file, i) => [file, documents[i]]));
}
