// Runs the real service entry (server/main.ts, through tsx) as a child
// process, the way pm2 runs a worker: with its environment, an IPC channel for
// the `ready` message, and signals. Output is captured for assertions.

import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MAIN = path.join(root, 'server', 'main.ts');

export interface Service {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

export interface StartOptions {
  readonly env: Record<string, string>;
  readonly port: number;
  readonly waitForReady?: boolean;
  readonly timeoutMs?: number;
}

export function spawnMain(env: Record<string, string>): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | string>;
} {
  const child = fork(MAIN, [], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    execArgv: ['--import=tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return { child, output: () => output, exited };
}

export async function startService(options: StartOptions): Promise<Service> {
  const { child, output, exited } = spawnMain({ PORT: String(options.port), ...options.env });
  if (options.waitForReady !== false) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`service not ready within ${options.timeoutMs ?? 30_000} ms:\n${output()}`)),
        options.timeoutMs ?? 30_000,
      );
      child.on('message', (message) => {
        if (message === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`service exited (${code}) before ready:\n${output()}`));
      });
    });
  }
  return {
    child,
    port: options.port,
    url: `http://127.0.0.1:${options.port}/`,
    output,
    exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
  };
}
