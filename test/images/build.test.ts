// images/build.sh and images/check-vm.sh without Google Cloud: packer and
// gcloud are stubs on the PATH that log their arguments and answer as the
// real tools do, in a throwaway git repository holding copies of the scripts.
// What is checked: the image is baked only from the bundle artifact CI
// published (digest and commit verified before anything is created), the
// digests reach Packer as variables (image labels), and the sealed image is
// booted on a throwaway VM that is always deleted, its verdict labelled on
// the image (deprecated when it fails).

import test from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { repoDir, run, runOk, type RunResult } from '../helpers/image-exec.js';

const STUB = `#!/usr/bin/env bash
# Test stub: logs its arguments, answers like the real tool.
printf '%s\\n' "$(basename "$0") $*" >>"$STUB_LOG"
case "$(basename "$0") $*" in
  "packer version") echo "Packer v1.11.2" ;;
  "packer build"*)
    printf '{"last_run_uuid":"u1","builds":[{"packer_run_uuid":"u1","custom_data":{"image_name":"%s"}}]}' "$STUB_IMAGE" \\
      >"$STUB_REPO/images/manifest.json" ;;
  "gcloud compute images describe-from-family"*) echo "debian-13-trixie-v20261101" ;;
  "gcloud compute instances create"*)
    for arg in "$@"; do [[ $arg == startup-script=* ]] && cp "\${arg#startup-script=}" "$STUB_DIR/startup.sh"; done ;;
  *"--query-path=counter-api-check/result"*) echo "$STUB_RESULT" ;;
  *"--query-path=counter-api-check/report"*) echo "$STUB_REPORT" ;;
esac
exit 0
`;

interface Sandbox {
  readonly dir: string;
  readonly repo: string;
  readonly bundle: string;
  readonly tarSha: string;
  readonly gitSha: string;
}

async function sandbox(t: { teardown: (fn: () => Promise<void>) => void }, bundleGitSha?: string): Promise<Sandbox> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'counter-api-build-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const repo = path.join(dir, 'repo');
  await fs.mkdir(path.join(repo, 'images', 'counter-api'), { recursive: true });
  await fs.mkdir(path.join(repo, 'scripts'), { recursive: true });
  for (const file of ['images/build.sh', 'images/check-vm.sh', 'scripts/image-bundle-digest.sh'])
    await fs.copyFile(path.join(repoDir, file), path.join(repo, file));
  await fs.writeFile(
    path.join(repo, 'images', 'vars.pkrvars.hcl'),
    'project_id = "my-counter-project"\nzone = "europe-west1-b"\nsubnetwork = "counter-build"\n',
  );
  await fs.writeFile(path.join(repo, '.gitignore'), 'images/manifest.json\n.cache/\n');
  const git = (args: string[]) =>
    runOk('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { timeoutMs: 20_000, cwd: repo });
  await git(['init', '-q']);
  await git(['add', '.']);
  await git(['commit', '-q', '-m', 'fixture']);
  const gitSha = (await git(['rev-parse', 'HEAD'])).stdout.trim();
  const content = path.join(dir, 'content');
  await fs.mkdir(path.join(content, 'dist'), { recursive: true });
  await fs.writeFile(path.join(content, 'dist', 'main.js'), 'console.log(1);\n');
  await fs.writeFile(path.join(content, 'bundle.json'), JSON.stringify({ gitSha: bundleGitSha ?? gitSha }));
  const bundle = path.join(dir, 'counter-api-bundle.tar.gz');
  await runOk('tar', ['-C', content, '-czf', bundle, '.'], { timeoutMs: 20_000 });
  const tarSha = createHash('sha256')
    .update(await fs.readFile(bundle))
    .digest('hex');
  const bin = path.join(dir, 'bin');
  await fs.mkdir(bin);
  for (const tool of ['packer', 'gcloud']) await fs.writeFile(path.join(bin, tool), STUB, { mode: 0o755 });
  return { dir, repo, bundle, tarSha, gitSha };
}

async function build(box: Sandbox, env: Record<string, string>): Promise<{ result: RunResult; calls: string[] }> {
  const result = await run('bash', [path.join(box.repo, 'images', 'build.sh')], {
    cwd: box.repo,
    timeoutMs: 120_000,
    env: {
      PATH: `${path.join(box.dir, 'bin')}:${process.env.PATH ?? ''}`,
      HOME: box.dir,
      STUB_LOG: path.join(box.dir, 'calls.log'),
      STUB_DIR: box.dir,
      STUB_REPO: box.repo,
      STUB_IMAGE: 'counter-api-0123456789ab-20261129t080000',
      IMAGE_VAR_FILE: path.join(box.repo, 'images', 'vars.pkrvars.hcl'),
      IMAGE_CHECK_TIMEOUT: '5',
      ...env,
    },
  });
  const calls = (await fs.readFile(path.join(box.dir, 'calls.log'), 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean);
  return { result, calls };
}

async function treeSha(box: Sandbox): Promise<string> {
  const out = await runOk('bash', [path.join(repoDir, 'scripts', 'image-bundle-digest.sh'), box.bundle], {
    timeoutMs: 30_000,
  });
  return /^tree ([0-9a-f]{64})$/m.exec(out.stdout)?.[1] ?? '';
}

test('build.sh: without the CI artifact it refuses, and creates nothing', async (t) => {
  const box = await sandbox(t);
  const { result, calls } = await build(box, { IMAGE_VERSION: '1.4.0' });
  t.not(result.code, 0);
  t.regex(result.stderr, /IMAGE_BUNDLE is not set: bake the bundle CI built and tested/);
  t.deepEqual(calls, []);
});

test('build.sh: a bundle whose SHA-256 is not the one CI published is refused before packer or gcloud run', async (t) => {
  const box = await sandbox(t);
  const { result, calls } = await build(box, {
    IMAGE_BUNDLE: box.bundle,
    IMAGE_BUNDLE_SHA256: 'f'.repeat(64),
    IMAGE_VERSION: '1.4.0',
  });
  t.not(result.code, 0);
  t.regex(result.stderr, new RegExp(`SHA-256 is ${box.tarSha}, not the f{64} CI published`));
  t.deepEqual(calls, []);
});

test('build.sh: a bundle built from another commit is refused', async (t) => {
  const box = await sandbox(t, '1'.repeat(40));
  const { result, calls } = await build(box, {
    IMAGE_BUNDLE: box.bundle,
    IMAGE_BUNDLE_SHA256: box.tarSha,
    IMAGE_VERSION: '1.4.0',
  });
  t.not(result.code, 0);
  t.regex(result.stderr, /the bundle was built from 1{40}, this checkout is/);
  t.deepEqual(calls, []);
});

test('build.sh: the verified artifact and its digests go to Packer, and the sealed image passes a throwaway-VM boot, which is deleted', async (t) => {
  const box = await sandbox(t);
  const tree = await treeSha(box);
  const report = JSON.stringify({ image_name: 'counter-api-0123456789ab-20261129t080000', bundle_sha256: tree });
  const { result, calls } = await build(box, {
    IMAGE_BUNDLE: box.bundle,
    IMAGE_BUNDLE_SHA256: box.tarSha,
    IMAGE_VERSION: '1.4.0',
    STUB_RESULT: 'ok',
    STUB_REPORT: report,
  });
  t.is(result.code, 0, `${result.stdout}\n${result.stderr}`);
  const packer = calls.find((c) => c.startsWith('packer build')) ?? '';
  for (const v of [
    `bundle_sha256=${box.tarSha}`,
    `bundle_tree_sha256=${tree}`,
    'image_version=1.4.0',
    `git_sha=${box.gitSha}`,
  ])
    t.true(packer.includes(`-var ${v}`), v);
  t.regex(packer, new RegExp(`-var app_bundle=\\S+/counter-api-bundle-${box.tarSha}\\.tar\\.gz`));
  const create = calls.find((c) => c.startsWith('gcloud compute instances create')) ?? '';
  t.regex(create, /--image counter-api-0123456789ab-20261129t080000 /);
  for (const flag of ['--no-address', '--no-service-account', '--shielded-secure-boot', 'enable-guest-attributes=TRUE'])
    t.true(create.includes(flag), flag);
  t.true(calls.some((c) => c.startsWith('gcloud compute instances delete counter-api-check-')));
  t.true(
    calls.some(
      (c) =>
        c.includes('images add-labels counter-api-0123456789ab-20261129t080000') && c.includes('boot_check=passed'),
    ),
  );
  t.false(calls.some((c) => c.includes('images deprecate')));
  const startup = await fs.readFile(path.join(box.dir, 'startup.sh'), 'utf8');
  t.regex(startup, /\/etc\/counter-api\/env/);
  t.regex(startup, /systemd-run --unit counter-api-check/);
  const syntax = await run('bash', ['-n', path.join(box.dir, 'startup.sh')], { timeoutMs: 10_000 });
  t.is(syntax.code, 0, syntax.stderr);
  t.regex(result.stdout, /booted sealed: passed/);
});

test('check-vm.sh: a failed boot check (or a manifest naming another bundle) deprecates the image, labels it failed, exits 1, and still deletes the VM', async (t) => {
  const box = await sandbox(t);
  for (const [stubResult, report, why] of [
    [
      'fail',
      { image_name: 'counter-api-0123456789ab-20261129t080000', bundle_sha256: await treeSha(box) },
      /on-VM checks: fail/,
    ],
    [
      'ok',
      { image_name: 'counter-api-0123456789ab-20261129t080000', bundle_sha256: '0'.repeat(64) },
      /manifest bundle_sha256 0{64}/,
    ],
  ] as const) {
    await fs.rm(path.join(box.dir, 'calls.log'), { force: true });
    const { result, calls } = await build(box, {
      IMAGE_BUNDLE: box.bundle,
      IMAGE_BUNDLE_SHA256: box.tarSha,
      IMAGE_VERSION: '1.4.0',
      STUB_RESULT: stubResult,
      STUB_REPORT: JSON.stringify(report),
    });
    t.is(result.code, 1);
    t.regex(result.stderr, why);
    t.true(
      calls.some(
        (c) => c.includes('images deprecate counter-api-0123456789ab-20261129t080000') && c.includes('DEPRECATED'),
      ),
    );
    t.true(calls.some((c) => c.includes('boot_check=failed')));
    t.true(calls.some((c) => c.startsWith('gcloud compute instances delete counter-api-check-')));
  }
});
