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
const lynisScript = path.join(scriptsDir, 'image-lynis.sh');

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

  /** Makes a fresh tree under /var/tmp; `cached` says whether it came from the tarball, `tarball` which one. */
  static async create(): Promise<{ rootfs: Rootfs; cached: boolean; tarball?: string; seconds: number; log: string }> {
    const parent = await fs.mkdtemp('/var/tmp/counter-api-image-');
    const dir = path.join(parent, 'root');
    const result = await bakeLocal(dir, ['rootfs'], { timeoutMs: 8 * 60_000 });
    const log = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('image-rootfs:'))
      .join('\n');
    const tarball = /^image-rootfs: tarball (.+)$/m.exec(log)?.[1];
    return {
      rootfs: new Rootfs(dir),
      cached: log.includes('restored'),
      ...(tarball === undefined ? {} : { tarball }),
      seconds: result.seconds,
      log,
    };
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

export interface LynisScore {
  readonly index: number;
  readonly tests: number;
  readonly suggestions: readonly string[];
  readonly seconds: number;
  /** Lynis's version and a digest of its profile: two scores compare only when these are equal. */
  readonly scorer: string;
}

/**
 * Lynis's hardening index of a tree (mounted or not), measured inside it by
 * scripts/image-lynis.sh with this machine's Lynis copied in and removed after;
 * with `out`, also written there.
 */
export async function lynisIndex(rootfs: Rootfs, out?: string): Promise<LynisScore> {
  const result = await runOk('bash', [lynisScript, rootfs.dir, ...(out === undefined ? [] : [out])], {
    timeoutMs: 13 * 60_000,
  });
  return JSON.parse(out === undefined ? result.stdout : await fs.readFile(out, 'utf8')) as LynisScore;
}

/**
 * The Lynis score of the untouched tree a tarball unpacks to, as
 * scripts/image-rootfs.sh records it beside the tarball (IMAGE_ROOTFS_LYNIS=1):
 * undefined when there is none, or when it was made by another scorer.
 */
export async function cachedBaseline(tarball: string): Promise<LynisScore | undefined> {
  const file = `${tarball}.lynis.json`;
  const current = await run('bash', [lynisScript, '--current', file], { timeoutMs: 30_000 });
  if (current.code !== 0) return undefined;
  return JSON.parse(await fs.readFile(file, 'utf8')) as LynisScore;
}
