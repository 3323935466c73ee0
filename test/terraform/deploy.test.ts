// `npm run infra:deploy`: checks before anything is planned, stacks in
// dependency order, the reverse for destroy without touching base, and no
// apply of the example environment.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { bootstrapChecks, deployOrder } from '../../terraform/deploy-plan.js';
import { prodConfig } from './helpers/synth.js';

test('deploy: base, fleet, edge, ops; destroy is the reverse and never base', (t) => {
  t.deepEqual(deployOrder(false), ['base', 'fleet', 'edge', 'ops']);
  t.deepEqual(deployOrder(true), ['ops', 'edge', 'fleet']);
});

test('deploy: project, APIs, state bucket and image are checked before base; the secret before fleet', (t) => {
  const config = prodConfig();
  const checks = bootstrapChecks(config);
  t.deepEqual(
    checks.map((c) => [c.before, c.gcloud.slice(0, 2).join(' ')]),
    [
      ['base', 'projects describe'],
      ['base', 'services list'],
      ['base', 'storage buckets'],
      ['base', 'compute images'],
      ['fleet', 'secrets versions'],
    ],
  );
  t.true(checks[3]?.gcloud.includes(config.release.image));
  t.true(checks[2]?.gcloud.includes(`gs://${config.stateBucket}`));
});

test('deploy: the example environment is refused before any check or plan', (t) => {
  const run = spawnSync(process.execPath, ['--import=tsx', 'terraform/deploy.ts'], {
    env: { ...process.env, GCP_PROJECT: 'counter-api-example' },
    encoding: 'utf8',
  });
  t.is(run.status, 1);
  t.regex(run.stderr, /^Refusing to apply:/);
});
