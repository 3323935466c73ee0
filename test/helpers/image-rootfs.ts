// A Debian root filesystem for a local image bake, made, baked and sealed by
// scripts/image-bake-local.sh one step at a time (the same path the twin
// takes in one command), with the pseudo filesystems mounted by
// scripts/image-chroot.sh between steps, and removed safely (never through a
// bind mount) at the end.

import fs from 'node:fs/promises';
import path from 'node:path';
import { cacheDir, run, runOk, scriptsDir, type RunResult } from './image-exec.js';

const chrootScript = path.join(scriptsDir, 'image-chroot.sh');
const bakeScript = path.join(scriptsDir, 'image-bake-local.sh');

export type BakeStep = 'rootfs' | 'bake' | 'seal';

/** Runs steps of scripts/image-bake-local.sh on DIR; throws with its output on failure. */
export async function bakeLocal(
  dir: string,
  steps: readonly BakeStep[],
  options: { extraVars?: Readonly<Record<string, unknown>>; bundle?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return runOk('bash', [bakeScript, dir, JSON.stringify(options.extraVars ?? {})], {
    timeoutMs: options.timeoutMs ?? 50 * 60_000,
    env: {
      ...process.env,
      IMAGE_BAKE_STEPS: steps.join(' '),
      IMAGE_BAKE_KEEP: '1',
      IMAGE_BAKE_LOG_DIR: path.join(cacheDir, 'logs'),
      ...(options.bundle === undefined ? {} : { IMAGE_BUNDLE: options.bundle }),
    },
  });
}

export class Rootfs {
  private constructor(readonly dir: string) {}

  /** Makes a fresh tree under /var/tmp; `cached` says whether it came from the tarball. */
  static async create(): Promise<{ rootfs: Rootfs; cached: boolean; seconds: number; log: string }> {
    const parent = await fs.mkdtemp('/var/tmp/counter-api-image-');
    const dir = path.join(parent, 'root');
    const result = await bakeLocal(dir, ['rootfs'], { timeoutMs: 8 * 60_000 });
    const log = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('image-rootfs:'))
      .join('\n');
    return { rootfs: new Rootfs(dir), cached: log.includes('restored'), seconds: result.seconds, log };
  }

  file(relative: string): string {
    return path.join(this.dir, relative);
  }

  async mount(): Promise<void> {
    await runOk('bash', [chrootScript, 'mount', this.dir], { timeoutMs: 30_000 });
  }

  async umount(): Promise<void> {
    await runOk('bash', [chrootScript, 'umount', this.dir], { timeoutMs: 60_000 });
  }

  /** Runs a command inside the tree (chroot), bounded in time. */
  chroot(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return run('chroot', [this.dir, ...args], {
      timeoutMs,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
  }

  /** Unmounts everything below the tree and deletes it (and its temporary parent). */
  async remove(): Promise<void> {
    await runOk('bash', [chrootScript, 'remove', this.dir], { timeoutMs: 120_000 });
    await fs.rmdir(path.dirname(this.dir)).catch(() => undefined);
  }
}

/**
 * Lynis's hardening index of a tree, measured inside it (chroot) with the
 * build host's Lynis copied in, so the tree's own tools and files are audited
 * and nothing is installed into it. The copy is removed afterwards.
 */
export async function lynisIndex(
  rootfs: Rootfs,
): Promise<{ index: number; tests: number; seconds: number; suggestions: string[] }> {
  const work = rootfs.file('tmp/lynis-audit');
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(work, { recursive: true, mode: 0o700 });
  try {
    await fs.cp('/usr/share/lynis', work, { recursive: true, preserveTimestamps: true });
    await fs.cp('/etc/lynis/plugins', path.join(work, 'plugins'), { recursive: true });
    await fs.copyFile('/etc/lynis/default.prf', path.join(work, 'default.prf'));
    await fs.copyFile('/usr/sbin/lynis', path.join(work, 'lynis'));
    await fs.chmod(path.join(work, 'lynis'), 0o755);
    const script =
      'cd /tmp/lynis-audit && ./lynis audit system --quick --no-colors --logfile /tmp/lynis-audit/lynis.log --report-file /tmp/lynis-audit/report.dat';
    const result = await rootfs.chroot(['/bin/sh', '-c', script], 12 * 60_000);
    const report = await fs.readFile(path.join(work, 'report.dat'), 'utf8').catch(() => '');
    const index = /^hardening_index=(\d+)$/m.exec(report)?.[1];
    const tests = /^lynis_tests_done=(\d+)$/m.exec(report)?.[1];
    if (index === undefined || tests === undefined)
      throw new Error(`lynis produced no hardening index (exit ${result.code}):\n${result.stdout.slice(-2000)}`);
    const suggestions = [...report.matchAll(/^suggestion\[\]=([A-Z0-9-]+)\|/gm)].map((m) => m[1] ?? '');
    return { index: Number(index), tests: Number(tests), seconds: result.seconds, suggestions };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
