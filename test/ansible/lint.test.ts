// ansible-lint at the production profile and a syntax check of every
// playbook: the cheap gate before any bake.

import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ansibleDir, describe, run } from '../helpers/image-exec.js';

const env = {
  ...process.env,
  ANSIBLE_CONFIG: path.join(ansibleDir, 'ansible.cfg'),
  ANSIBLE_NOCOLOR: '1',
  NO_COLOR: '1',
};

test('ansible-lint passes with the production profile', async (t) => {
  const config = await fs.readFile(path.join(ansibleDir, '.ansible-lint'), 'utf8');
  t.regex(config, /^profile: production$/m);
  const result = await run('ansible-lint', ['--profile', 'production', '--nocolor'], {
    cwd: ansibleDir,
    env,
    timeoutMs: 5 * 60_000,
  });
  t.is(result.code, 0, describe(result, 80));
  t.regex(result.stderr + result.stdout, /Passed with production profile: 0 failure\(s\), 0 warning\(s\)/);
});

const playbooks = [
  'bake.yml',
  'audit.yml',
  'audit-packages.yml',
  'audit-image.yml',
  'audit-service.yml',
  'audit-hardening.yml',
  'audit-report.yml',
  'audit-hosts.yml',
  'audit-drift.yml',
  'audit-cve.yml',
  'audit-verdict.yml',
  'known-hosts.yml',
  'smoke.yml',
  'seal.yml',
];

test('every playbook in ansible/ is covered by the syntax check', async (t) => {
  const found = (await fs.readdir(ansibleDir)).filter((name) => name.endsWith('.yml') && name !== 'requirements.yml');
  t.deepEqual(found.sort(), [...playbooks].sort());
});

// One ansible-playbook run checks every playbook: each run pays Ansible's
// start-up (1.1 s of CPU here) again, and fourteen runs made this file 23 s
// against 12 s now. A playbook that fails stops the run with a non-zero exit
// and names it; the listing shows that every one was reached.
test('ansible-playbook --syntax-check passes on every playbook, in one run', async (t) => {
  const result = await run('ansible-playbook', ['-i', 'inventories/local', '--syntax-check', ...playbooks], {
    cwd: ansibleDir,
    env,
    timeoutMs: 120_000,
  });
  t.is(result.code, 0, describe(result));
  const checked = [...result.stdout.matchAll(/^playbook: (\S+)$/gm)].map((m) => m[1]);
  t.deepEqual(checked, playbooks);
});
