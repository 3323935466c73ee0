// One service process on a host of its own in the twin's network, for the
// database drills without the fleet: the API (server/main.ts, production
// defaults, degraded mode on) at 10.89.0.39, talking to the database through
// the stable address with the same connection settings an instance gets.
// The full drills go through the load balancer and the baked instances; this
// is what the CI test of the failover drill uses, and `--bare` on the CLI.

import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, rmSync } from 'node:fs';
import path from 'node:path';
import { attachHost, detachHost, nsArgv, nsExec, TWIN_NETNS } from '../topology.js';
import { databaseConnection } from '../db/index.js';

export const BARE_HOST = 'ctwin-app1';
export const BARE_IP = '10.89.0.39';
export const BARE_PORT = 8080;
const DIR = '/var/tmp/ctwin-app1';
const ROOT = path.resolve(import.meta.dirname, '..', '..');

export interface BareService {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startBareService(env: Record<string, string> = {}): Promise<BareService> {
  await attachHost(BARE_HOST, BARE_IP);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(path.join(DIR, 'journal'), { recursive: true });
  const log = openSync(path.join(DIR, 'service.log'), 'a');
  const argv = nsArgv(BARE_HOST, process.execPath, ['--import', 'tsx', path.join(ROOT, 'server', 'main.ts')]);
  const child = spawn(argv[0] ?? 'nsenter', argv.slice(1), {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      PATH: process.env.PATH,
      PORT: String(BARE_PORT),
      HOST: BARE_IP,
      JOURNAL_DIR: path.join(DIR, 'journal'),
      LOG_LEVEL: 'warn',
      REQUEST_LOG_SAMPLE: '0',
      ...databaseConnection().env,
      ...env,
    },
  });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await Promise.race([exited, sleep(5000)]);
      }
    }
    await detachHost(BARE_HOST);
    rmSync(DIR, { recursive: true, force: true });
  };
  const url = `http://${BARE_IP}:${BARE_PORT}/`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const probe = await nsExec(
      TWIN_NETNS,
      '/usr/bin/curl',
      ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '1', `${url}readyz`],
      {
        timeoutMs: 3000,
      },
    );
    if (probe.stdout === '200') break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`bare service not ready (see ${DIR}/service.log)`);
    }
    await sleep(250);
  }
  return { url, stop };
}
