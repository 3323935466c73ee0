// Role conventions, checked rather than hoped for: a thin tasks/main.yml that
// imports one file per concern, each tagged and switchable with
// <role>_<concern>_enabled; variables prefixed with the role name; an
// argument spec that documents exactly the role's defaults.

import test from 'ava';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ansibleDir, readYamlFiles } from '../helpers/image-exec.js';

const roles = ['app', 'hardening', 'manifest', 'ops_agent', 'runtime', 'service'];

interface ImportTask {
  readonly name?: string;
  readonly 'ansible.builtin.import_tasks'?: string;
  readonly when?: string;
  readonly tags?: readonly string[];
}

interface ArgumentSpecs {
  readonly argument_specs: {
    readonly main: {
      readonly options: Readonly<Record<string, { readonly type?: string; readonly description?: unknown }>>;
    };
  };
}

type Task = Readonly<Record<string, unknown>>;

const KEYWORDS = new Set([
  'name',
  'when',
  'tags',
  'register',
  'loop',
  'loop_control',
  'vars',
  'notify',
  'listen',
  'changed_when',
  'failed_when',
  'become',
  'become_user',
  'delegate_to',
  'run_once',
  'block',
  'rescue',
  'always',
  'until',
  'retries',
  'delay',
  'no_log',
  'environment',
  'check_mode',
  'args',
]);

/** The module (action) names used by a list of tasks, blocks included. */
function modulesOf(tasks: readonly Task[]): string[] {
  return tasks.flatMap((task) => [
    ...Object.keys(task).filter((key) => !KEYWORDS.has(key)),
    ...(['block', 'rescue', 'always'] as const).flatMap((key) =>
      Array.isArray(task[key]) ? modulesOf(task[key] as Task[]) : [],
    ),
  ]);
}

// Every role's YAML, parsed once by one Python process (a process per parse
// made this file 32 s of the image suite, against 3 s now).
const roleYaml = (async () => {
  const files: string[] = [];
  for (const role of roles)
    for (const sub of ['tasks', 'handlers', 'defaults', 'meta']) {
      const dir = path.join(ansibleDir, 'roles', role, sub);
      const names = await fs.readdir(dir).catch(() => [] as string[]);
      files.push(...names.filter((name) => name.endsWith('.yml')).map((name) => path.join(dir, name)));
    }
  return readYamlFiles(files);
})();

async function readYaml(file: string): Promise<unknown> {
  const documents = await roleYaml;
  if (!documents.has(file)) throw new Error(`${file} is not among the role files read`);
  return documents.get(file);
}

test('ansible/roles holds exactly the expected roles', async (t) => {
  t.deepEqual((await fs.readdir(path.join(ansibleDir, 'roles'))).sort(), roles);
});

for (const role of roles) {
  const dir = path.join(ansibleDir, 'roles', role);

  test(`${role}: tasks/main.yml imports one tagged, switchable file per concern`, async (t) => {
    const main = (await readYaml(path.join(dir, 'tasks', 'main.yml'))) as ImportTask[];
    const defaults = (await readYaml(path.join(dir, 'defaults', 'main.yml'))) as Record<string, unknown>;
    const files = (await fs.readdir(path.join(dir, 'tasks'))).filter((f) => f !== 'main.yml').sort();
    const imported = main.map((task) => task['ansible.builtin.import_tasks']);
    t.deepEqual([...imported].sort(), files, 'every task file is imported, and only task files are');
    for (const task of main) {
      const concern = (task['ansible.builtin.import_tasks'] ?? '').replace(/\.yml$/, '');
      const flag = `${role}_${concern}_enabled`;
      t.is(task.when, flag, `${concern} is switched by ${flag}`);
      t.is(defaults[flag], true, `${flag} defaults to true`);
      t.deepEqual(task.tags, [role, `${role}_${concern}`]);
      t.truthy(task.name);
    }
  });

  test(`${role}: every default is prefixed with the role name and documented in meta/argument_specs.yml`, async (t) => {
    const defaults = (await readYaml(path.join(dir, 'defaults', 'main.yml'))) as Record<string, unknown>;
    const specs = (await readYaml(path.join(dir, 'meta', 'argument_specs.yml'))) as ArgumentSpecs;
    const options = specs.argument_specs.main.options;
    t.deepEqual(
      Object.keys(defaults).filter((name) => !name.startsWith(`${role}_`)),
      [],
    );
    t.deepEqual(
      Object.keys(options).sort(),
      Object.keys(defaults).sort(),
      'the argument spec lists exactly the defaults',
    );
    for (const [name, option] of Object.entries(options)) {
      t.truthy(option.type, `${name} has a type`);
      t.true(typeof option.description === 'string' && option.description.length > 5, `${name} has a description`);
    }
    const commented = (await fs.readFile(path.join(dir, 'defaults', 'main.yml'), 'utf8'))
      .split('\n')
      .filter((line) => line.startsWith('#')).length;
    t.true(commented >= 3, 'defaults/main.yml is commented');
  });

  test(`${role}: templates mirror their target paths and every module is fully qualified`, async (t) => {
    const templates = path.join(dir, 'templates');
    const entries = await fs.readdir(templates, { recursive: true }).catch(() => [] as string[]);
    for (const entry of entries.filter((e) => e.endsWith('.j2'))) {
      t.regex(entry, /^(etc|usr)\//, `${entry} mirrors an absolute path`);
    }
    for (const file of await fs.readdir(path.join(dir, 'tasks'))) {
      const tasks = (await readYaml(path.join(dir, 'tasks', file))) as Task[];
      t.deepEqual(
        modulesOf(tasks).filter((module) => !module.includes('.')),
        [],
        `${file} uses fully qualified module names`,
      );
    }
    const handlers = path.join(dir, 'handlers', 'main.yml');
    if (existsSync(handlers))
      t.deepEqual(
        modulesOf((await readYaml(handlers)) as Task[]).filter((m) => !m.includes('.')),
        [],
      );
  });
}
