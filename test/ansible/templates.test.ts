// Templates whose output the local bake cannot exercise on its own: the
// ExecStop journal drain helper, run here against the app's real journal
// parser. (The Ops Agent configuration: image-ops-agent.test.ts.)

import test from 'ava';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { renderTemplate } from '../helpers/image-ansible.js';
import { describe, repoDir, run, runOk } from '../helpers/image-exec.js';

async function ensureBuilt(): Promise<void> {
  if (!existsSync(path.join(repoDir, 'dist', 'server', 'counter', 'journal.js'))) {
    await runOk('npm', ['run', 'build', '--silent'], { timeoutMs: 5 * 60_000 });
  }
}

async function drainHelper(
  t: { teardown: (fn: () => Promise<void>) => void },
  appDir: string,
): Promise<{ helper: string; journal: string }> {
  const helper = await renderTemplate('service', 'usr/local/libexec/counter-api-wait-journal-drained.j2', {
    service_app_dir: appDir,
  });
  const journal = await fs.mkdtemp(path.join(os.tmpdir(), 'counter-api-drain-test-'));
  t.teardown(async () => {
    await fs.rm(path.dirname(helper), { recursive: true, force: true });
    await fs.rm(journal, { recursive: true, force: true });
  });
  return { helper, journal };
}

const add = (id: string, n: number) => JSON.stringify({ op: 'add', id, n, at: Date.now() });
const done = (id: string, first: number, last: number) => JSON.stringify({ op: 'done', id, first, last });

test('drain helper: returns at once when the journal has nothing pending (empty, or every add done)', async (t) => {
  await ensureBuilt();
  const { helper, journal } = await drainHelper(t, repoDir);
  const empty = await run(helper, [journal, '10'], { timeoutMs: 20_000 });
  t.is(empty.code, 0, describe(empty));
  t.regex(empty.stdout, /drained \(waited 0\.\ds\)/);
  await fs.writeFile(path.join(journal, 'journal-w0-p123-s456.jsonl'), `${add('a', 2)}\n${done('a', 10, 11)}\n`);
  await fs.writeFile(path.join(journal, 'state.json'), '{"schemaVersion":3,"lastCommitted":11}');
  const replayed = await run(helper, [journal, '10'], { timeoutMs: 20_000 });
  t.regex(replayed.stdout, /drained \(waited 0\.\ds\)/);
  t.true(replayed.seconds < 5);
});

test('drain helper: waits up to its timeout while increments are pending, then lets the stop proceed', async (t) => {
  await ensureBuilt();
  const { helper, journal } = await drainHelper(t, repoDir);
  await fs.writeFile(
    path.join(journal, 'journal-w1-p123-s456.jsonl'),
    `${add('a', 2)}\n${done('a', 1, 2)}\n${add('b', 3)}\n`,
  );
  const result = await run(helper, [journal, '2'], { timeoutMs: 20_000 });
  t.is(result.code, 0, 'never fails the stop');
  t.regex(result.stderr, /still holds 3 increments after 2\.\ds; stopping anyway/);
  t.true(result.seconds >= 2 && result.seconds < 6, `${result.seconds} s`);
});

test('drain helper: returns as soon as the app replays the pending entries', async (t) => {
  await ensureBuilt();
  const { helper, journal } = await drainHelper(t, repoDir);
  const file = path.join(journal, 'journal-w0-p9-s9.jsonl');
  await fs.writeFile(file, `${add('x', 1)}\n`);
  const waiting = run(helper, [journal, '20'], { timeoutMs: 30_000 });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await fs.appendFile(file, `${done('x', 5, 5)}\n`);
  const result = await waiting;
  t.regex(result.stdout, /drained \(waited [1-4]\.\ds\)/);
});

test('drain helper: without the app parser it says so and does not block the stop', async (t) => {
  const { helper, journal } = await drainHelper(t, '/nonexistent/counter-api');
  await fs.writeFile(path.join(journal, 'journal-w0-p1-s1.jsonl'), `${add('a', 1)}\n`);
  const result = await run(helper, [journal, '10'], { timeoutMs: 20_000 });
  t.is(result.code, 0);
  t.regex(result.stderr, /cannot load the journal parser/);
  t.true(result.seconds < 5);
});
