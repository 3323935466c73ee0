// Boots a baked root filesystem as a container (systemd-nspawn), so the image
// runs its real init, its real unit files and sandbox, as on a VM. Isolation
// from the build host: its own network namespace (loopback only, so its
// firewall and net.* sysctls apply to it alone), and no audit control (the
// kernel's audit rules are host-wide: auditd and audit-rules are masked for
// the boot, and CAP_AUDIT_CONTROL is dropped).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { run, waitFor, type RunResult } from './image-exec.js';

const MASKED_FOR_BOOT = ['auditd.service', 'audit-rules.service'];

export class BootedImage {
  private console = '';

  private constructor(
    readonly root: string,
    private readonly nspawn: ChildProcess,
    readonly leader: number,
  ) {
    nspawn.stdout?.on('data', (chunk: Buffer) => this.keep(chunk));
    nspawn.stderr?.on('data', (chunk: Buffer) => this.keep(chunk));
  }

  /** The units masked for a local boot, and why (see the class comment). */
  static readonly maskedUnits = MASKED_FOR_BOOT;

  static async boot(root: string, timeoutMs = 90_000): Promise<BootedImage> {
    const nspawn = spawn(
      'systemd-nspawn',
      [
        '--directory',
        root,
        '--boot',
        '--register=no', // no systemd-machined on the build host
        '--keep-unit',
        '--private-network',
        '--drop-capability=CAP_AUDIT_CONTROL',
        '--console=read-only',
        '--quiet',
        '--',
        ...MASKED_FOR_BOOT.map((unit) => `systemd.mask=${unit}`),
      ],
      // Without this nspawn mounts its own tmpfs on /tmp, and the image's
      // tmp.mount (nodev,nosuid,noexec) would never be what the audit sees.
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_NSPAWN_TMPFS_TMP: '0' } },
    );
    const exited = new Promise<never>((_, reject) =>
      nspawn.once('exit', (code) => reject(new Error(`systemd-nspawn exited (${code}) during boot`))),
    );
    exited.catch(() => undefined);
    const rootId = await fileId(root);
    const leader = await Promise.race([
      exited,
      waitFor('the container init', 30_000, async () => {
        const children = await fs.readFile(`/proc/${nspawn.pid}/task/${nspawn.pid}/children`, 'utf8').catch(() => '');
        for (const pid of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
          if ((await fileId(`/proc/${pid}/root/`).catch(() => '')) === rootId) return pid;
        }
        return undefined;
      }),
    ]);
    const image = new BootedImage(root, nspawn, leader);
    try {
      await Promise.race([
        exited,
        waitFor('the end of boot', timeoutMs, async () => {
          const state = (await image.exec(['systemctl', 'is-system-running'], 10_000)).stdout.trim();
          return ['running', 'degraded'].includes(state) ? state : undefined;
        }),
      ]);
    } catch (error) {
      await image.stop().catch(() => undefined);
      throw new Error(`${String(error)}\nconsole:\n${image.console.slice(-3000)}`);
    }
    return image;
  }

  /** Runs a command inside the container (all its namespaces and its root). */
  exec(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return run(
      'nsenter',
      [
        '--target',
        String(this.leader),
        '--mount',
        '--uts',
        '--ipc',
        '--net',
        '--pid',
        '--cgroup',
        '--root',
        '--wd',
        '--',
        ...args,
      ],
      {
        timeoutMs,
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' },
      },
    );
  }

  /** Runs a host program inside the container's network namespace only. */
  inNetwork(command: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return run('nsenter', [`--net=/proc/${this.leader}/ns/net`, '--', command, ...args], { timeoutMs });
  }

  /** Halts the container (SIGTERM to nspawn = clean shutdown); returns the seconds it took. */
  async stop(timeoutMs = 90_000): Promise<number> {
    const started = Date.now();
    if (this.nspawn.exitCode !== null || this.nspawn.signalCode !== null) return 0;
    const exited = new Promise<void>((resolve) => this.nspawn.once('exit', () => resolve()));
    this.nspawn.kill('SIGTERM');
    const timer = setTimeout(() => this.nspawn.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    return (Date.now() - started) / 1000;
  }

  get consoleTail(): string {
    return this.console.slice(-4000);
  }

  private keep(chunk: Buffer): void {
    this.console = (this.console + chunk.toString('utf8')).slice(-64_000);
  }
}

async function fileId(file: string): Promise<string> {
  const stat = await fs.stat(file);
  return `${stat.dev}:${stat.ino}`;
}
