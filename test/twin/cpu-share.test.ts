// The twin's stand-in for VMs having CPUs of their own (twin/instance.ts):
// every process of an instance (and of the operator's audit) starts inside
// its cgroups (its cpu cgroup, and for an instance one of its own in the
// hierarchies its systemd manages), and the share follows the instance in
// and out of service.
// The join is checked against a plain directory standing in for a cgroup, so
// this runs anywhere; test:twin checks the shares on the booted fleet.

import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { cpuSharesAfter, inCgroups, IN_SERVICE_CPU_SHARES, OUT_OF_SERVICE_CPU_SHARES } from '../../twin/instance.js';

const run = promisify(execFile);

async function fakeCgroup(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'twin-cgroup-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, 'cgroup.procs'), '');
  return dir;
}

test('inCgroups: the command itself (same pid, after exec) is what joins every cgroup', async (t) => {
  const dirs = [await fakeCgroup(t), await fakeCgroup(t), await fakeCgroup(t)];
  const [cmd = '', ...args] = inCgroups(dirs, ['sh', '-c', 'echo $$']);
  const { stdout } = await run(cmd, args);
  t.regex(stdout.trim(), /^\d+$/);
  for (const dir of dirs) t.is((await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8')).trim(), stdout.trim(), dir);
});

test('inCgroups: arguments pass through unchanged (a "--" among them too), and without a cgroup the command runs as is', async (t) => {
  const argv = ['printf', '%s|', 'a b', '$HOME', '"q"', '', '--', 'x'];
  const [cmd = '', ...args] = inCgroups([], argv);
  t.is((await run(cmd, args)).stdout, 'a b|$HOME|"q"||--|x|');
  const dir = await fakeCgroup(t);
  const [cmd2 = '', ...args2] = inCgroups([dir], argv);
  t.is((await run(cmd2, args2)).stdout, 'a b|$HOME|"q"||--|x|');
});

test('inCgroups: a cgroup that cannot be joined stops the command from running (exit 70), wherever it is in the list', async (t) => {
  const dir = await fakeCgroup(t);
  const marker = path.join(dir, 'ran');
  for (const dirs of [[path.join(dir, 'missing')], [dir, path.join(dir, 'missing')]]) {
    const [cmd = '', ...args] = inCgroups(dirs, ['touch', marker]);
    const error = await t.throwsAsync(run(cmd, args));
    t.is((error as { code?: number }).code, 70);
    await t.throwsAsync(fs.access(marker));
  }
});

test('cpuSharesAfter: a VM share from the first passing check, the low share once drained, nothing else moves it', (t) => {
  t.is(cpuSharesAfter('first-healthy'), IN_SERVICE_CPU_SHARES);
  t.is(cpuSharesAfter('drained'), OUT_OF_SERVICE_CPU_SHARES);
  for (const other of ['create', 'running', 'delete', 'deleted', 'repair', 'unhealthy', 'rollout-started'])
    t.is(cpuSharesAfter(other), undefined, other);
  t.true(IN_SERVICE_CPU_SHARES >= 16 * OUT_OF_SERVICE_CPU_SHARES);
});
