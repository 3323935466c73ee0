// The instance metadata that boots the app: OS Login on, project SSH keys
// off, guest attributes on (host keys), the startup/shutdown scripts from terraform/scripts/, and the app's
// non-secret environment. The password is not here: only the name of the
// secret that holds it, read at boot with the instance's service account.

import { readFileSync } from 'node:fs';
import { APP_PORT, DB_NAME, DB_USER } from './naming.js';

export const JOURNAL_DIR = '/var/lib/counter-api/journal';
export const PG_CA_FILE = '/etc/counter-api/pg-server-ca.pem';

export interface InstanceMetadataOptions {
  /** The writer's private DNS name (base stack's zone), never an instance IP. */
  readonly pgHost: string;
  /** PEM of every Cloud SQL server CA that may be the writer's (Terraform references); verify-ca. */
  readonly pgServerCa: string;
  readonly sslMode: 'require' | 'verify-ca';
  readonly passwordSecretId: string;
  readonly logLevel?: string;
  /** Part of the ~90 s shutdown window spent waiting for the journal to replay before the stop. */
  readonly journalWaitSeconds?: number;
}

/** Text that Terraform must take literally: `${` and `%{` would start an interpolation or a directive. */
export function literal(text: string): string {
  // Replacer functions: in a replacement string "$$" would itself collapse to "$".
  return text.replaceAll('${', () => '$${').replaceAll('%{', () => '%%{');
}

export function readScript(name: 'startup.sh' | 'shutdown.sh'): string {
  return literal(readFileSync(new URL(`./scripts/${name}`, import.meta.url), 'utf8'));
}

/** KEY=VALUE lines for /etc/counter-api/env (see server/config.ts for their meaning). */
export function appEnvironment(o: InstanceMetadataOptions): string {
  const env: Record<string, string> = {
    PORT: String(APP_PORT),
    PGHOST: o.pgHost,
    PGPORT: '5432',
    PGDATABASE: DB_NAME,
    PGUSER: DB_USER,
    PGSSLMODE: o.sslMode,
    ...(o.sslMode === 'verify-ca' ? { PGSSLROOTCERT: PG_CA_FILE } : {}),
    JOURNAL_DIR,
    LOG_LEVEL: o.logLevel ?? 'info',
  };
  return Object.entries(env)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
}

export function instanceMetadata(o: InstanceMetadataOptions): Record<string, string> {
  return {
    'enable-oslogin': 'TRUE',
    'block-project-ssh-keys': 'TRUE',
    // The guest agent publishes the VM's SSH host keys as guest attributes, so
    // operators can pin them (gcloud compute instances get-guest-attributes
    // --query-path=hostkeys/) instead of trusting on first use after a roll.
    'enable-guest-attributes': 'TRUE',
    'startup-script': readScript('startup.sh'),
    'shutdown-script': readScript('shutdown.sh'),
    'counter-api-env': appEnvironment(o),
    'counter-api-db-password-secret': o.passwordSecretId,
    ...(o.sslMode === 'verify-ca' ? { 'counter-api-pg-server-ca': o.pgServerCa } : {}),
    'counter-api-journal-wait-seconds': String(o.journalWaitSeconds ?? 20),
  };
}
