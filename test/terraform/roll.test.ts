// Roll: `npm run infra:roll` changes the image and nothing else. Unit tests
// of the release arithmetic, a diff of the synthesized stacks before and
// after, and the command run end to end against a scratch environment folder.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRoll, parseRollArgs, rollRelease } from '../../terraform/release.js';
import { at, LAYERS, one, PROD_FILE, oneRegionConfig, resources, synth } from './helpers/synth.js';

const STABLE = { image: 'counter-api-3f9c2a1b4d5e-20261129t101500', canary: null };
const NEXT = 'counter-api-8d0e7c6b5a49-20261201t090000';

test('roll: --image alone makes it the stable image and ends any canary', (t) => {
  t.deepEqual(rollRelease(STABLE, { image: NEXT, canary: undefined }), { image: NEXT, canary: null });
  const canarying = { image: STABLE.image, canary: { image: NEXT, size: '10%' } };
  t.deepEqual(rollRelease(canarying, { image: NEXT, canary: undefined }), { image: NEXT, canary: null }, 'promote');
  t.deepEqual(rollRelease(canarying, { image: STABLE.image, canary: undefined }), STABLE, 'abort');
});

test('roll: --canary keeps the stable image and adds the new one at the size given', (t) => {
  t.deepEqual(rollRelease(STABLE, { image: NEXT, canary: '10%' }), {
    image: STABLE.image,
    canary: { image: NEXT, size: '10%' },
  });
  t.throws(() => rollRelease(STABLE, { image: STABLE.image, canary: '1' }), { message: /already the stable image/ });
});

test('roll: arguments are validated and the rollback command names the previous stable image', (t) => {
  t.deepEqual(parseRollArgs(['--image', NEXT, '--canary', '10%']), { image: NEXT, canary: '10%', apply: false });
  t.throws(() => parseRollArgs([]), { message: /--image must be an exact image name/ });
  t.throws(() => parseRollArgs(['--image', NEXT, '--canary', '150%']), { message: /--canary must be a percentage/ });
  t.throws(() => parseRollArgs(['--image', NEXT, '--force']), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  t.deepEqual(
    describeRoll(STABLE, { image: NEXT, canary: null }).at(-1),
    `rollback: npm run infra:roll -- --image ${STABLE.image}`,
  );
});

test('roll: --approved takes a Cloud Build id and only goes with --apply', (t) => {
  const id = '0f1e2d3c-4b5a-4697-8877-665544332211';
  t.deepEqual(parseRollArgs(['--image', NEXT, '--apply', '--approved', id]), {
    image: NEXT,
    canary: undefined,
    apply: true,
    approved: id,
  });
  t.throws(() => parseRollArgs(['--image', NEXT, '--approved', id]), { message: /goes with --apply/ });
  t.throws(() => parseRollArgs(['--image', NEXT, '--apply', '--approved', '']), { message: /goes with --apply/ });
  t.throws(() => parseRollArgs(['--image', NEXT, '--apply', '--approved', '$BUILD_ID']), {
    message: /goes with --apply/,
  });
});

test("roll: a new image changes only the fleet stack, and there only the templates' image", (t) => {
  const before = synth(oneRegionConfig({ release: STABLE }));
  const after = synth(oneRegionConfig({ release: { image: NEXT, canary: null } }));
  for (const layer of LAYERS.filter((l) => l !== 'fleet')) t.deepEqual(after[layer], before[layer], layer);
  const strip = (template: Record<string, unknown>) => ({
    ...template,
    disk: undefined,
    description: undefined,
    labels: undefined,
  });
  const [old, fresh] = [before, after].map((s) => one(s.fleet, 'google_compute_instance_template'));
  t.deepEqual(strip(fresh ?? {}), strip(old ?? {}));
  t.is(at(fresh, 'disk.0.source_image'), `projects/counter-api-prod/global/images/${NEXT}`);
  t.is(at(fresh, 'labels.image'), NEXT);
  // The MIG changes only in the template its stable version points at (templates are keyed by image).
  const group = (s: typeof before) => one(s.fleet, 'google_compute_region_instance_group_manager');
  t.deepEqual({ ...group(after), version: undefined }, { ...group(before), version: undefined });
  t.is(
    at(group(after), 'version.0.instance_template'),
    `\${${Object.keys(after.fleet.resource?.['google_compute_instance_template'] ?? {}).map((k) => `google_compute_instance_template.${k}`)[0]}.self_link_unique}`,
  );
  const others = (s: typeof before) => ({
    ...s.fleet.resource,
    google_compute_instance_template: undefined,
    google_compute_region_instance_group_manager: undefined,
  });
  t.deepEqual(others(after), others(before));
  t.is(resources(after.fleet, 'google_compute_instance_template').length, 1);
});

test('roll: the command rewrites the release file, re-synthesizes and prints the fleet plan without credentials', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roll-'));
  try {
    writeFileSync(join(dir, 'prod.json'), JSON.stringify(PROD_FILE));
    writeFileSync(join(dir, 'prod.release.json'), JSON.stringify(STABLE));
    const out = join(dir, 'out');
    const env = {
      ...process.env,
      INFRA_ENV: 'prod',
      INFRA_ENVS_DIR: dir,
      CDKTF_OUTDIR: out,
      GCP_PROJECT: 'counter-api-prod',
    };
    const run = spawnSync(process.execPath, ['--import=tsx', 'terraform/roll.ts', '--image', NEXT, '--canary', '10%'], {
      env,
      encoding: 'utf8',
    });
    t.is(run.status, 0, run.stderr);
    t.deepEqual(JSON.parse(readFileSync(join(dir, 'prod.release.json'), 'utf8')), {
      image: STABLE.image,
      canary: { image: NEXT, size: '10%' },
    });
    t.true(readFileSync(join(out, 'stacks', 'fleet-prod', 'cdk.tf.json'), 'utf8').includes(`images/${NEXT}`));
    t.regex(run.stdout, new RegExp(`terraform -chdir=${out}/stacks/fleet-prod plan`));
    t.regex(run.stdout, new RegExp(`rollback: npm run infra:roll -- --image ${STABLE.image}`));
    t.regex(
      run.stdout,
      /canary in europe-west1: 1 of 3 VMs at the minimum, 1 of 6 at the maximum \(a percentage rounds up\)/,
    );
    const bad = spawnSync(process.execPath, ['--import=tsx', 'terraform/roll.ts', '--image', 'family/counter-api'], {
      env,
      encoding: 'utf8',
    });
    t.is(bad.status, 1);
    t.regex(bad.stderr, /--image must be an exact image name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('roll: --apply refuses the example environment before it plans anything', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roll-'));
  try {
    writeFileSync(join(dir, 'prod.json'), JSON.stringify(PROD_FILE));
    writeFileSync(join(dir, 'prod.release.json'), JSON.stringify(STABLE));
    const env = {
      ...process.env,
      INFRA_ENVS_DIR: dir,
      CDKTF_OUTDIR: join(dir, 'out'),
      GCP_PROJECT: 'counter-api-prod',
    };
    const run = spawnSync(process.execPath, ['--import=tsx', 'terraform/roll.ts', '--image', NEXT, '--apply'], {
      env,
      encoding: 'utf8',
    });
    t.is(run.status, 1);
    t.regex(run.stderr, /Refusing to apply:\n {2}- domain api\.counter\.example\.com is a placeholder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
