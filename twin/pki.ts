// The twin's own certificate authority (made once per state directory with
// the openssl CLI): it signs the load balancer's certificate (standing in for
// the Google-managed one) and Secret Manager's, and the instances trust it
// the way a GCE image trusts Google's roots. Nothing outside the twin trusts
// it; the load generator connects with verification off, as the benchmark
// does.

import fs from 'node:fs/promises';
import path from 'node:path';
import { execOk } from './topology.js';

export interface CertPair {
  readonly key: string;
  readonly cert: string;
  /** key + cert in one PEM, as HAProxy's `crt` wants it. */
  readonly pemFile: string;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

export async function ensureCa(dir: string): Promise<{ key: string; cert: string }> {
  const key = path.join(dir, 'ca.key');
  const cert = path.join(dir, 'ca.pem');
  if (!(await exists(cert))) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await execOk('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '30',
      '-subj',
      '/CN=counter-api twin CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }
  return { key, cert };
}

/** A leaf certificate for `names` (DNS names and IPs), signed by the twin CA. */
export async function ensureLeaf(dir: string, label: string, names: readonly string[]): Promise<CertPair> {
  const ca = await ensureCa(dir);
  const key = path.join(dir, `${label}.key`);
  const cert = path.join(dir, `${label}.pem`);
  const pemFile = path.join(dir, `${label}.bundle.pem`);
  if (!(await exists(pemFile))) {
    const csr = path.join(dir, `${label}.csr`);
    const ext = path.join(dir, `${label}.ext`);
    const san = names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    await fs.writeFile(
      ext,
      `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n`,
    );
    await execOk('openssl', [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${names[0] ?? label}`,
    ]);
    await execOk('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '30',
      '-extfile',
      ext,
    ]);
    await fs.writeFile(pemFile, (await fs.readFile(cert, 'utf8')) + (await fs.readFile(key, 'utf8')), {
      mode: 0o600,
    });
  }
  return { key, cert, pemFile };
}
