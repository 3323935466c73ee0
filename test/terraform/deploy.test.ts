// `npm run infra:deploy`: checks before anything is planned, stacks in
// dependency order, the reverse for destroy without touching base, and no
// apply of the example environment.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { bootstrapChecks, deployOrder } from '../../terraform/deploy-plan.js';
import { oneRegionConfig, prodConfig } from './helpers/synth.js';

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
      ['fleet', 'sql instances'],
    ],
  );
  t.true(checks[3]?.gcloud.includes(config.release.image));
  t.true(checks[2]?.gcloud.includes(`gs://${config.stateBucket}`));
});

test('deploy: with a DR replica, the fleet waits until the replica is the designated failover target', (t) => {
  const config = prodConfig();
  const check = bootstrapChecks(config).find((c) => c.gcloud.slice(0, 2).join(' ') === 'sql instances');
  t.truthy(check);
  t.is(check?.before, 'fleet');
  // Passes only when the primary names exactly this replica (a filter, so an empty answer fails).
  t.deepEqual(check?.gcloud, [
    'sql',
    'instances',
    'list',
    '--project=counter-api-prod',
    '--filter=name=counter-prod-pg-europe-west1 AND replicationCluster.failoverDrReplicaName:counter-prod-pg-europe-west4',
    '--format=value(name)',
  ]);
  t.is(
    check?.fix,
    'gcloud sql instances patch counter-prod-pg-europe-west1 --project=counter-api-prod --failover-dr-replica-name=counter-api-prod:counter-prod-pg-europe-west4 (docs/runbook-region-loss.md)',
  );
  const single = bootstrapChecks(oneRegionConfig());
  t.false(
    single.some((c) => c.gcloud[0] === 'sql'),
    'no replica, nothing to designate',
  );
});

test('deploy: the example environment is refused before any check or plan', (t) => {
  const run = spawnSync(process.execPath, ['--import=tsx', 'terraform/deploy.ts'], {
    env: { ...process.env, GCP_PROJECT: 'counter-api-example' },
    encoding: 'utf8',
  });
  t.is(run.status, 1);
  t.regex(run.stderr, /^Refusing to apply:/);
});
