// Boot scripts: valid bash (shellcheck-clean where shellcheck is installed),
// embedded in the template byte for byte once Terraform's escapes are undone,
// and never mistaken by Terraform for an interpolation.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { appEnvironment, literal } from '../../terraform/instance-metadata.js';
import { at, one, oneRegionConfig, synth } from './helpers/synth.js';

const SCRIPTS = ['startup.sh', 'shutdown.sh'] as const;
const path = (name: string) => fileURLToPath(new URL(`../../terraform/scripts/${name}`, import.meta.url));
const template = one(synth(oneRegionConfig()).fleet, 'google_compute_instance_template');
const hasShellcheck = spawnSync('shellcheck', ['--version'], { stdio: 'ignore' }).status === 0;

for (const name of SCRIPTS) {
  test(`scripts: ${name} parses with bash -n`, (t) => {
    const result = spawnSync('bash', ['-n', path(name)], { encoding: 'utf8' });
    t.is(result.status, 0, result.stderr);
  });

  (hasShellcheck ? test : test.skip)(`scripts: ${name} is shellcheck-clean`, (t) => {
    const result = spawnSync('shellcheck', [path(name)], { encoding: 'utf8' });
    t.is(result.status, 0, result.stdout);
  });

  test(`scripts: ${name} is the template's ${name.replace('.sh', '-script')} after Terraform unescapes it`, (t) => {
    const embedded = String(at(template, `metadata.${name.replace('.sh', '-script')}`));
    t.is(embedded, literal(readFileSync(path(name), 'utf8')));
    t.is(embedded.replaceAll('$${', '${').replaceAll('%%{', '%{'), readFileSync(path(name), 'utf8'));
  });
}

test('scripts: literal() escapes interpolations and directives, and only those', (t) => {
  t.is(literal('echo ${HOME} %{if} $x %d'), 'echo $${HOME} %%{if} $x %d');
});

test('app environment: the LB port, the private database over TLS with the CA file, the durable journal', (t) => {
  const env = appEnvironment({
    pgHost: '10.100.0.3',
    pgServerCa: 'PEM',
    sslMode: 'verify-ca',
    passwordSecretId: 'projects/p/secrets/s',
  });
  t.deepEqual(env.split('\n'), [
    'PORT=8080',
    'PGHOST=10.100.0.3',
    'PGPORT=5432',
    'PGDATABASE=counter',
    'PGUSER=counter',
    'PGSSLMODE=verify-ca',
    'PGSSLROOTCERT=/etc/counter-api/pg-server-ca.pem',
    'JOURNAL_DIR=/var/lib/counter-api/journal',
    'LOG_LEVEL=info',
  ]);
  t.false(env.includes('PGPASSWORD'));
  t.regex(String(at(template, 'metadata.counter-api-env')), /^PORT=8080\nPGHOST=db\.counter-prod\.internal\n/);
  t.regex(String(at(template, 'metadata.counter-api-pg-server-ca')), /server_ca_cert\[0\]\.cert\}$/);
});
