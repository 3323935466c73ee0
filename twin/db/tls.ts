// TLS for the database, as Cloud SQL does it: the server presents a
// certificate signed by a per-instance CA, and clients verify it against
// that CA (PGSSLMODE=verify-ca; the certificate names the instance, not the
// IP address clients dial, so verify-full is not what production uses
// either). The twin generates its own CA at each start with openssl.

import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execOk } from '../topology.js';
import { DB_HOSTS, SQL_ADDRESS, caCertFile, tlsDir } from './settings.js';

export async function generateTls(postgres: { uid: number; gid: number }): Promise<void> {
  const dir = tlsDir();
  mkdirSync(dir, { recursive: true });
  const ca = { key: path.join(dir, 'ca.key'), crt: caCertFile() };
  const server = {
    key: path.join(dir, 'server.key'),
    csr: path.join(dir, 'server.csr'),
    crt: path.join(dir, 'server.crt'),
  };
  await execOk('/usr/bin/openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ca.key]);
  await execOk('/usr/bin/openssl', [
    ...['req', '-x509', '-new', '-key', ca.key, '-sha256', '-days', '30', '-out', ca.crt],
    ...['-subj', '/CN=ctwin Cloud SQL Server CA', '-addext', 'basicConstraints=critical,CA:TRUE'],
  ]);
  await execOk('/usr/bin/openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', server.key]);
  await execOk('/usr/bin/openssl', [
    'req',
    '-new',
    '-key',
    server.key,
    '-out',
    server.csr,
    '-subj',
    '/CN=ctwin:ctwin-sql',
  ]);
  const ext = path.join(dir, 'server.ext');
  writeFileSync(
    ext,
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n` +
      `subjectAltName=IP:${SQL_ADDRESS},IP:${DB_HOSTS.db1.ip},IP:${DB_HOSTS.db2.ip}\n`,
  );
  await execOk('/usr/bin/openssl', [
    ...['x509', '-req', '-in', server.csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial'],
    ...['-days', '30', '-sha256', '-extfile', ext, '-out', server.crt],
  ]);
  // PostgreSQL refuses a key readable by others; it must belong to its user.
  chownSync(server.key, postgres.uid, postgres.gid);
  chmodSync(server.key, 0o600);
  chmodSync(ca.key, 0o600);
  for (const file of [server.crt, ca.crt]) chmodSync(file, 0o644);
  if (!existsSync(server.crt)) throw new Error('server certificate was not written');
}
