// The patch path is a pipeline in the repo (issue 10, "Operating it"): a
// Cloud Build configuration that bakes, canaries, soaks, audits and promotes,
// started by a manual trigger that waits for an approval, running as an
// account with only the roles those steps need. These tests tie the trigger
// to the file, the file's commands to what the repo really has, and the
// steps to their order.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { PIPELINE_CONFIG, PIPELINE_ROLES } from '../../terraform/constructs/patch-pipeline.js';
import { at, oneRegionConfig, refTo, resources, synth, twoRegionConfig, type Block } from './helpers/synth.js';

const repo = new URL('../../', import.meta.url);
const { base } = synth(twoRegionConfig());
const triggers = resources(base, 'google_cloudbuild_trigger');

interface Step {
  readonly id?: string;
  readonly name: string;
  readonly entrypoint?: string;
  readonly args?: readonly string[];
  readonly script?: string;
  readonly waitFor?: readonly string[];
}
interface BuildConfig {
  readonly steps: readonly Step[];
  readonly options?: Record<string, unknown>;
  readonly timeout?: string;
  readonly substitutions?: Record<string, string>;
}

function loadBuild(): BuildConfig {
  // PyYAML (installed with Ansible) parses it: no YAML package for Node is a dependency.
  const r = spawnSync(
    'python3',
    ['-c', 'import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)', PIPELINE_CONFIG],
    { cwd: repo, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`${PIPELINE_CONFIG} does not parse: ${r.stderr}`);
  return JSON.parse(r.stdout) as BuildConfig;
}

/** Everything a step runs, as one text: its args and script. */
function body(step: Step): string {
  return [...(step.args ?? []), step.script ?? ''].join('\n');
}

test('pipeline: one manual trigger that waits for an approval and builds the committed config', (t) => {
  t.is(triggers.length, 1);
  const trigger = triggers[0] as Block;
  t.is(at(trigger, 'approval_config.approval_required'), true);
  t.is(at(trigger, 'git_file_source.path'), PIPELINE_CONFIG);
  t.true(existsSync(new URL(PIPELINE_CONFIG, repo)), `${PIPELINE_CONFIG} is in the repo`);
  // Manual: no event starts it (no push, pull request, Pub/Sub or webhook).
  for (const key of ['github', 'trigger_template', 'pubsub_config', 'webhook_config', 'repository_event_config'])
    t.is(trigger[key], undefined, key);
  t.is(at(trigger, 'source_to_build.ref'), 'refs/heads/main');
  t.is(at(trigger, 'git_file_source.revision'), 'refs/heads/main');
  t.regex(
    String(trigger['service_account']),
    /^projects\/counter-api-prod\/serviceAccounts\/\$\{google_service_account\./,
  );
});

test('pipeline: trigger enum values are ones the provider (6.50.0) accepts', (t) => {
  // hashicorp/google 6.50.0, google_cloudbuild_trigger: repo_type is one of these.
  const repoTypes = ['UNKNOWN', 'CLOUD_SOURCE_REPOSITORIES', 'GITHUB', 'BITBUCKET_SERVER'];
  const trigger = triggers[0] as Block;
  t.true(repoTypes.includes(String(at(trigger, 'source_to_build.repo_type'))));
  t.true(repoTypes.includes(String(at(trigger, 'git_file_source.repo_type'))));
  t.is(at(trigger, 'source_to_build.uri'), at(trigger, 'git_file_source.uri'));
  t.regex(String(at(trigger, 'source_to_build.uri')), /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/);
});

test('pipeline: the account has exactly the listed roles, never owner or editor, and acts only as the fleet and build VM accounts', (t) => {
  const account = resources(base, 'google_service_account').find((a) =>
    String(a['account_id']).endsWith('-patch'),
  ) as Block;
  t.truthy(account);
  const member = /\$\{(google_service_account\.[\w-]+)\./.exec(String((triggers[0] as Block)['service_account']))?.[1];
  const email = `serviceAccount:\${${member}.email}`;
  const roles = resources(base, 'google_project_iam_member')
    .filter((m) => m['member'] === email)
    .map((m) => String(m['role']));
  // Written out here, so a widened grant shows up as a change to this test too.
  const expected = [
    'roles/cloudsql.viewer',
    'roles/compute.instanceAdmin.v1',
    'roles/compute.networkViewer',
    'roles/compute.osAdminLogin',
    'roles/compute.storageAdmin',
    'roles/iam.securityReviewer',
    'roles/iam.serviceAccountViewer',
    'roles/iap.tunnelResourceAccessor',
    'roles/logging.logWriter',
    'roles/monitoring.viewer',
    'roles/secretmanager.viewer',
  ];
  t.deepEqual(roles.sort(), expected);
  t.deepEqual([...PIPELINE_ROLES].sort(), expected);
  for (const banned of ['roles/owner', 'roles/editor', 'roles/iam.serviceAccountUser'])
    t.false(roles.includes(banned), banned);
  const actsAs = resources(base, 'google_service_account_iam_member').filter((g) => g['member'] === email);
  t.deepEqual(
    actsAs.map((g) => g['role']),
    ['roles/iam.serviceAccountUser', 'roles/iam.serviceAccountUser'],
  );
  t.deepEqual(
    actsAs.map((g) => String(g['service_account_id'])).sort(),
    [
      'projects/counter-api-prod/serviceAccounts/counter-prod-vm@counter-api-prod.iam.gserviceaccount.com',
      refTo(
        base,
        'google_service_account',
        resources(base, 'google_service_account').find((a) => String(a['account_id']).endsWith('-build-vm')) as Block,
        'name',
      ),
    ].sort(),
  );
  const bucket = resources(base, 'google_storage_bucket_iam_member').filter((g) => g['member'] === email);
  t.deepEqual(
    bucket.map((g) => [g['bucket'], g['role']]),
    [['counter-api-prod-tfstate', 'roles/storage.objectUser']],
  );
});

test('pipeline: the Cloud Build API is enabled', (t) => {
  t.true(resources(base, 'google_project_service').some((s) => s['service'] === 'cloudbuild.googleapis.com'));
});

test('pipeline: single-region profile has the pipeline too', (t) => {
  t.is(resources(synth(oneRegionConfig()).base, 'google_cloudbuild_trigger').length, 1);
});

test('pipeline: every npm script, playbook and Packer template the config names exists', (t) => {
  const build = loadBuild();
  const scripts = (JSON.parse(readFileSync(new URL('package.json', repo), 'utf8')) as { scripts: object }).scripts;
  const text = build.steps.map(body).join('\n');
  const npm = [...text.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1] as string);
  t.true(npm.length >= 4);
  for (const name of npm) t.true(name in scripts, `npm run ${name}`);
  const playbooks = [...text.matchAll(/ansible-playbook\b[^\n]*?\b([\w-]+\.yml)/g)].map((m) => m[1] as string);
  t.true(playbooks.includes('audit.yml'));
  for (const p of playbooks) t.true(existsSync(new URL(`ansible/${p}`, repo)), `ansible/${p}`);
  const paths = [...text.matchAll(/\b((?:images|ansible|terraform|scripts)\/[\w./-]+)/g)].map((m) => m[1] as string);
  const written = new Set([...text.matchAll(/>\s*((?:images|terraform)\/[\w./-]+)/g)].map((m) => m[1] as string));
  written.add('images/manifest.json'); // written by npm run image:build (Packer's manifest post-processor)
  t.true(readFileSync(new URL('images/counter-api/build.pkr.hcl', repo), 'utf8').includes('manifest.json'));
  t.true(paths.length > 0);
  for (const p of paths.filter((x) => !written.has(x))) t.true(existsSync(new URL(p, repo)), p);
  // What a step writes into the tree is git-ignored, so images/build.sh still sees a clean tree.
  for (const p of written) {
    const ignored = spawnSync('git', ['check-ignore', '-q', p], { cwd: repo });
    t.is(ignored.status, 0, `${p} is git-ignored`);
  }
});

test("pipeline: the Packer variables the bake writes are the template's variables", (t) => {
  const bake = loadBuild().steps.find((s) => s.id === 'bake') as Step;
  const hcl = /<<HCL\n([\s\S]*?)\nHCL/.exec(body(bake))?.[1] ?? '';
  const keys = [...hcl.matchAll(/^(\w+)\s*=/gm)].map((m) => m[1] as string);
  t.deepEqual(keys, ['project_id', 'zone', 'subnetwork', 'build_service_account']);
  const template = readFileSync(new URL('images/counter-api/variables.pkr.hcl', repo), 'utf8');
  for (const key of keys) t.true(template.includes(`variable "${key}"`), key);
  t.regex(hcl, /subnetwork += "\$INFRA_PREFIX-build"/, 'the base stack names the build subnet <prefix>-build');
  t.regex(hcl, /"\$INFRA_PREFIX-build-vm@/, 'and the build VM account <prefix>-build-vm');
});

test('pipeline: dependency scan, bake, canary, soak, audit, promote, audit, in that order, each after the previous', (t) => {
  const build = loadBuild();
  const ids = build.steps.map((s) => s.id ?? '');
  const order = ['dependency-scan', 'bake', 'canary', 'soak', 'audit-canary', 'promote', 'audit-fleet'];
  const positions = order.map((id) => ids.indexOf(id));
  t.false(positions.includes(-1), `steps ${JSON.stringify(ids)}`);
  t.deepEqual(
    [...positions].sort((a, b) => a - b),
    positions,
  );
  const step = (id: string) => build.steps[ids.indexOf(id)] as Step;
  // Later steps run the repository's npm scripts: the first step installs what they need.
  // The npm advisory check cannot run in CI here (docs/security.md); it gates the bake instead.
  t.regex(body(step('dependency-scan')), /^npm ci /m);
  t.regex(body(step('dependency-scan')), /npm audit --omit=dev --audit-level=high/);
  t.regex(body(step('bake')), /npm run image:build/);
  t.regex(body(step('canary')), /npm run infra:roll -- --image "\$image" --canary/);
  t.regex(body(step('soak')), /npm run infra:soak/);
  t.regex(body(step('audit-canary')), /ansible-playbook[^\n]*audit\.yml/);
  t.regex(body(step('audit-canary')), /--limit/);
  t.regex(body(step('promote')), /npm run infra:roll -- --image "\$image" --apply/);
  t.notRegex(body(step('promote')), /--canary/);
  t.regex(body(step('audit-fleet')), /ansible-playbook[^\n]*audit\.yml/);
  // No step runs in parallel with an earlier one: waitFor is never '-'.
  for (const s of build.steps) t.false((s.waitFor ?? []).includes('-'), s.id ?? s.name);
});

test('pipeline: every step fails closed (bash -euo pipefail), rolls apply only with the build approval', (t) => {
  const build = loadBuild();
  for (const s of build.steps) {
    t.regex(body(s), /^set -euo pipefail$/m, `${s.id ?? s.name} stops on the first failure`);
    t.notRegex(body(s), /\|\| true/, `${s.id ?? s.name} swallows no failure`);
  }
  for (const s of build.steps.filter((x) => /infra:roll/.test(body(x))))
    t.regex(body(s), /--approved "\$BUILD_ID"/, `${s.id ?? ''} applies under the build's approval`);
  t.is(build.options?.['logging'], 'CLOUD_LOGGING_ONLY', 'a user-managed build account needs a logging choice');
});

test('pipeline: the trigger passes every variable the steps export, with the synthesized values', (t) => {
  const env = readFileSync(new URL('terraform/pipeline/patch-env.sh', repo), 'utf8');
  const loop = /for name in ([^;]+);/.exec(env)?.[1] ?? '';
  const exported = loop
    .replace(/\\\n/g, ' ')
    .split(/\s+/)
    .filter((n) => n !== '')
    .map((n) => `_${n}`);
  const subs = (triggers[0] as Block)['substitutions'] as Record<string, string>;
  t.deepEqual(Object.keys(subs).sort(), exported.sort());
  t.is(subs['_GCP_PROJECT'], 'counter-api-prod');
  t.is(subs['_INFRA_ENV'], 'prod');
  t.is(subs['_INFRA_STATE_BUCKET'], 'counter-api-prod-tfstate');
  t.is(subs['_INFRA_PREFIX'], 'counter-prod');
});

test('pipeline: every step script and the environment script are shellcheck-clean bash', (t) => {
  const files: [string, string][] = loadBuild().steps.map((s) => [s.id ?? s.name, s.script ?? '']);
  files.push(['patch-env.sh', readFileSync(new URL('terraform/pipeline/patch-env.sh', repo), 'utf8')]);
  for (const [name, script] of files) {
    t.regex(script, /^#!\/usr\/bin\/env bash\n/, `${name} runs bash, not sh`);
    // SC1091: patch-env.sh is sourced by a path shellcheck is not given here; it is checked on its own.
    const r = spawnSync('shellcheck', ['-s', 'bash', '-e', 'SC1091', '-'], { input: script, encoding: 'utf8' });
    t.is(r.status, 0, `${name}: ${r.stdout}${r.error?.message ?? ''}`);
  }
});
