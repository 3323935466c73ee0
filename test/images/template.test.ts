// The Packer template: what it must say (read from its text, since Debian's
// Packer 1.6.6 cannot load the plugin blocks), that images/validate.sh passes
// on it, and that validate.sh fails when the template is broken.

import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, repoDir, run } from '../helpers/image-exec.js';

const templateDir = path.join(repoDir, 'images', 'counter-api');
const exampleFile = path.join(repoDir, 'images', 'counter-api.pkrvars.hcl.example');

async function template(file: string): Promise<string> {
  return fs.readFile(path.join(templateDir, file), 'utf8');
}

/** The top-level blocks `<kind> "<name>" { … }` of an HCL file, by name (brace-matched). */
function blocks(hcl: string, kind: string): Map<string, string> {
  const found = new Map<string, string>();
  const opener = new RegExp(`^${kind}\\s+"([^"]+)"(?:\\s+"([^"]+)")?\\s*\\{`, 'gm');
  for (const match of hcl.matchAll(opener)) {
    let depth = 0;
    const start = match.index;
    for (let i = start; i < hcl.length; i += 1) {
      if (hcl[i] === '{') depth += 1;
      if (hcl[i] === '}' && --depth === 0) {
        found.set(match[2] ?? match[1] ?? '', hcl.slice(start, i + 1));
        break;
      }
    }
  }
  return found;
}

/** `key = value` assignments of an HCL body, one per line (values as written). */
function assignments(body: string): Map<string, string> {
  return new Map([...body.matchAll(/^\s*([a-z0-9_]+)\s*=\s*(.+?)\s*$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/** The regex of a variable's validation rule, as JavaScript (HCL strings escape backslashes). */
function validationRegex(variable: string): RegExp {
  const source = /condition\s*=\s*can\(regex\("((?:[^"\\]|\\.)*)"/.exec(variable)?.[1];
  if (source === undefined) throw new Error(`no regex validation in:\n${variable}`);
  return new RegExp(source.replace(/\\\\/g, '\\'));
}

test('template: Packer and both plugins are pinned (required_version, required_plugins)', async (t) => {
  const plugins = await template('plugins.pkr.hcl');
  t.regex(plugins, /required_version\s*=\s*">= 1\.11\.0, < 2\.0\.0"/);
  t.regex(plugins, /googlecompute = \{\s*source\s*=\s*"github\.com\/hashicorp\/googlecompute"\s*version\s*=\s*"[^"]+"/);
  t.regex(plugins, /ansible = \{\s*source\s*=\s*"github\.com\/hashicorp\/ansible"\s*version\s*=\s*"[^"]+"/);
});

test('template: every variable is typed and described, and the example sets every variable without a default', async (t) => {
  const variables = blocks(await template('variables.pkr.hcl'), 'variable');
  t.true(variables.size >= 12, `${variables.size} variables`);
  for (const [name, body] of variables) {
    t.regex(body, /^\s*type\s*=\s*\S/m, `${name} has a type`);
    t.regex(body, /^\s*description\s*=\s*"[^"]{10,}"/m, `${name} has a description`);
  }
  const example = assignments(await fs.readFile(exampleFile, 'utf8'));
  for (const key of example.keys()) t.true(variables.has(key), `${key} in the example is a declared variable`);
  // build.sh passes these from the repository and gcloud; the rest must be in the example.
  const passedByBuild = new Set([
    'git_sha',
    'source_image',
    'app_bundle',
    'bundle_sha256',
    'bundle_tree_sha256',
    'image_version',
  ]);
  const required = [...variables].filter(([, body]) => !/^\s*default\s*=/m.test(body)).map(([name]) => name);
  t.deepEqual(
    required.filter((name) => !passedByBuild.has(name) && !example.has(name)),
    [],
  );
});

test('template: the validation rules (which Packer 1.6.6 cannot run) accept the example and reject malformed values', async (t) => {
  const variables = blocks(await template('variables.pkr.hcl'), 'variable');
  const example = assignments(await fs.readFile(exampleFile, 'utf8'));
  const value = (key: string) => JSON.parse(example.get(key) ?? '""') as string;
  const cases: [string, string, string[]][] = [
    ['project_id', value('project_id'), ['My_Project', 'ab', '1project', 'project-']],
    [
      'build_service_account',
      value('build_service_account'),
      ['123456-compute@developer.gserviceaccount.com', 'packer@example.com'],
    ],
    [
      'git_sha',
      '0123456789abcdef0123456789abcdef01234567',
      ['0123456', 'main', '0123456789ABCDEF0123456789ABCDEF01234567'],
    ],
    ['bundle_sha256', 'a'.repeat(64), ['a'.repeat(63), 'A'.repeat(64), 'sha256:' + 'a'.repeat(64)]],
    ['bundle_tree_sha256', '0'.repeat(64), ['', 'g'.repeat(64)]],
    ['image_version', '1.4.0', ['v1.4.0', '1.4', '1.4.0_rc1', 'latest']],
  ];
  t.true(validationRegex(variables.get('image_version') ?? '').test('1.4.0-rc.1'));
  for (const [name, good, bad] of cases) {
    const rule = validationRegex(variables.get(name) ?? '');
    t.true(rule.test(good), `${name} accepts ${good}`);
    for (const wrong of bad) t.false(rule.test(wrong), `${name} rejects ${wrong}`);
  }
});

test('template: the build VM is a Shielded VM from Debian 13, with no external IP, reached through IAP with OS Login, as a dedicated account', async (t) => {
  const sources = blocks(await template('sources.pkr.hcl'), 'source');
  const source = assignments(sources.get('counter_api') ?? '');
  const variables = blocks(await template('variables.pkr.hcl'), 'variable');
  t.regex(variables.get('source_image_family') ?? '', /default\s*=\s*"debian-13"/);
  t.regex(variables.get('source_image_project') ?? '', /default\s*=\s*"debian-cloud"/);
  t.regex(variables.get('image_family') ?? '', /default\s*=\s*"counter-api"/);
  const expected: Record<string, string> = {
    source_image_family: 'var.source_image_family',
    image_family: 'var.image_family',
    image_name: 'local.image_name',
    image_labels: 'local.image_labels',
    enable_secure_boot: 'true',
    enable_vtpm: 'true',
    enable_integrity_monitoring: 'true',
    omit_external_ip: 'true',
    use_internal_ip: 'true',
    use_iap: 'true',
    use_os_login: 'true',
    service_account_email: 'var.build_service_account',
  };
  for (const [key, want] of Object.entries(expected)) t.is(source.get(key), want, key);
  t.notRegex(sources.get('counter_api') ?? '', /\baccess_config|\baddress\s*=/);
});

test('template: the image name is unique per commit and time, and labels carry the SHA, build date and base image', async (t) => {
  const locals = await template('locals.pkr.hcl');
  t.regex(
    locals,
    /image_name\s*=\s*"\$\{var\.image_family\}-\$\{substr\(var\.git_sha, 0, 12\)\}-\$\{local\.build_stamp\}"/,
  );
  t.regex(locals, /build_stamp\s*=\s*lower\(formatdate\("YYYYMMDD'T'hhmmss", local\.build_time\)\)/);
  const labels = /image_labels = \{([^}]*)\}/.exec(locals)?.[1] ?? '';
  const keys = assignments(labels);
  t.is(keys.get('git_sha'), 'var.git_sha');
  t.is(keys.get('build_date'), 'local.build_stamp');
  t.is(keys.get('base_image'), 'local.base_image');
  // The bundle CI tested, by digest: the deployed tree's (the manifest's
  // bundle_sha256) and the artifact's, each split in two 32-digit halves
  // (label values hold at most 63 characters).
  t.is(keys.get('bundle_sha256_hi'), 'substr(var.bundle_tree_sha256, 0, 32)');
  t.is(keys.get('bundle_sha256_lo'), 'substr(var.bundle_tree_sha256, 32, 32)');
  t.is(keys.get('bundle_tar_sha256_hi'), 'substr(var.bundle_sha256, 0, 32)');
  t.is(keys.get('bundle_tar_sha256_lo'), 'substr(var.bundle_sha256, 32, 32)');
  t.is(keys.get('image_version'), 'replace(var.image_version, ".", "_")');
  for (const value of [...keys.values()]) t.false(value.startsWith('var.bundle'), 'no 64-digit label value');
  // What such a name looks like must be a valid GCE image name (<= 63, [a-z0-9-]).
  const sample = `counter-api-${'0123456789ab'}-${'20261129t021500'}`;
  t.regex(sample, /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
});

test('template: the ansible provisioner runs bake, audit, smoke and seal in that order, then a manifest is written', async (t) => {
  const build = await template('build.pkr.hcl');
  const playbooks = [...build.matchAll(/playbook_file\s*=\s*"\$\{local\.ansible_dir\}\/([^"]+)"/g)].map((m) => m[1]);
  t.deepEqual(playbooks, ['bake.yml', 'audit.yml', 'smoke.yml', 'seal.yml']);
  for (const playbook of playbooks) await fs.access(path.join(repoDir, 'ansible', playbook ?? ''));
  t.is([...build.matchAll(/provisioner "ansible"/g)].length, 4);
  t.is([...build.matchAll(/use_proxy\s*=\s*false/g)].length, 4);
  t.regex(build, /"bake_app_bundle=\$\{local\.app_bundle\}"/);
  t.regex(build, /"bake_git_sha=\$\{var\.git_sha\}"/);
  t.regex(build, /"bake_image_version=\$\{var\.image_version\}"/);
  t.regex(build, /"audit_expected_image=\$\{local\.image_name\}"/);
  t.regex(build, /post-processor "manifest" \{\s*output\s*=\s*"\$\{path\.root\}\/\.\.\/manifest\.json"/);
  t.true(build.indexOf('post-processor "manifest"') > build.lastIndexOf('provisioner "ansible"'));
});

test('image:validate passes on the committed template', async (t) => {
  const result = await run('bash', [path.join(repoDir, 'images', 'validate.sh')], { timeoutMs: 120_000 });
  t.is(result.code, 0, describe(result));
  t.regex(result.stdout, /image:validate passed/);
});

async function brokenCopy(
  t: { teardown: (fn: () => Promise<void>) => void },
  edit: (dir: string) => Promise<void>,
): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'counter-api-validate-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  for (const folder of ['images', 'ansible', 'scripts']) {
    await fs.cp(path.join(repoDir, folder), path.join(dir, folder), { recursive: true });
  }
  await edit(dir);
  return dir;
}

async function replaceIn(file: string, from: string, to: string): Promise<void> {
  const text = await fs.readFile(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${from} not in ${file}`);
  await fs.writeFile(file, text.replace(from, to));
}

test('image:validate fails on a misspelt builder argument', async (t) => {
  const dir = await brokenCopy(t, (d) =>
    replaceIn(path.join(d, 'images/counter-api/sources.pkr.hcl'), 'use_iap          = true', 'use_iapp         = true'),
  );
  const result = await run('bash', [path.join(dir, 'images', 'validate.sh')], { timeoutMs: 120_000 });
  t.not(result.code, 0);
  t.regex(result.stderr + result.stdout, /An argument named "use_iapp" is not expected here/);
});

test('image:validate fails when a provisioner points at a missing playbook', async (t) => {
  const dir = await brokenCopy(t, (d) =>
    replaceIn(path.join(d, 'images/counter-api/build.pkr.hcl'), '/seal.yml"', '/sael.yml"'),
  );
  const result = await run('bash', [path.join(dir, 'images', 'validate.sh')], { timeoutMs: 120_000 });
  t.not(result.code, 0);
  t.regex(result.stderr + result.stdout, /sael\.yml/);
});

test('image:validate fails on unformatted HCL', async (t) => {
  const dir = await brokenCopy(t, (d) =>
    replaceIn(path.join(d, 'images/counter-api/sources.pkr.hcl'), 'use_iap          = true', 'use_iap = true'),
  );
  const result = await run('bash', [path.join(dir, 'images', 'validate.sh')], { timeoutMs: 120_000 });
  t.not(result.code, 0);
  t.regex(result.stderr, /FAIL: template is not formatted/);
});
