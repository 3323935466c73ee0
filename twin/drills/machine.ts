// What a drill ran on: reports record the machine, Node version and commit so
// a figure is never quoted without the conditions it was measured under.

import { execFileSync } from 'node:child_process';
import os from 'node:os';

export function machineInfo(): Record<string, unknown> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a checkout
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    commit,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
