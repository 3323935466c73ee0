// The ExecStop drain helper (ansible/…/counter-api-wait-journal-drained.j2),
// rendered with plain substitution and run against the compiled app: every
// way of not knowing that the journal is empty must reach the journal-loss
// alert, which fires on the words "still holds" (terraform/scripts/shutdown.sh).
// Its ordinary waiting and draining are covered in test/ansible/.

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { tempDir } from '../../helpers/temp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const template = path.join(
  root,
  'ansible/roles/service/templates/usr/local/libexec/counter-api-wait-journal-drained.j2',
);

function render(dir: string, appDir: string): string {
  const file = path.join(dir, 'counter-api-wait-journal-drained');
  writeFileSync(
    file,
    readFileSync(template, 'utf8')
      .replaceAll('{{ ansible_managed }}', 'rendered for a test')
      .replaceAll('{{ service_name }}', 'counter-api')
      .replaceAll('{{ service_app_dir }}', appDir),
  );
  chmodSync(file, 0o755);
  return file;
}

const add = (id: string, n: number) => `${JSON.stringify({ op: 'add', id, n, at: Date.now() })}\n`;

test.before(() => {
  if (!existsSync(path.join(root, 'dist/server/counter/journal.js')))
    spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'ignore' });
});

test('drain helper: increments quarantined in a .stale file are reported as still held', (t) => {
  const dir = tempDir(t);
  const journal = tempDir(t);
  writeFileSync(path.join(journal, 'journal-w0-p1-s1.jsonl.stale'), add('old', 4));
  const result = spawnSync(render(dir, root), [journal, '5'], { encoding: 'utf8', timeout: 30_000 });
  t.is(result.status, 0, 'never fails the stop');
  t.regex(result.stderr, /still holds 4 increments in quarantined \.stale files/);
  t.notRegex(result.stdout, /drained/);
});

test('drain helper: a parser that cannot be loaded is reported as still holding an unknown number', (t) => {
  const dir = tempDir(t);
  const journal = tempDir(t);
  writeFileSync(path.join(journal, 'journal-w0-p1-s1.jsonl'), add('a', 1));
  const result = spawnSync(render(dir, '/nonexistent/counter-api'), [journal, '5'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(result.status, 0);
  t.regex(result.stderr, /still holds an unknown number of increments: cannot load the journal parser/);
});
