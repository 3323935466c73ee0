// Unit: the environment configuration. Defaults make the committed files
// synthesize anywhere; a bad value fails with a message naming its key; the
// rules that keep the fleet N+1 and the networks apart are enforced here.

import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../terraform/config.js';
import { parseConfig } from '../../terraform/config-parse.js';
import { InfraConfigError } from '../../terraform/config-schema.js';
import { fleetSize } from '../../terraform/sizing.js';
import { deployProblems } from '../../terraform/deployable.js';
import { PROD_FILE, PROD_RELEASE, prodConfig, TEST_PROJECT } from './helpers/synth.js';

const REGION = (PROD_FILE['regions'] as Record<string, unknown>[])[0] ?? {};

function problems(file: Record<string, unknown>, release: unknown = PROD_RELEASE): string[] {
  try {
    parseConfig({ env: 'prod', file: { project: TEST_PROJECT, ...PROD_FILE, ...file }, release });
  } catch (error) {
    if (error instanceof InfraConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

test('config: the committed prod environment loads from terraform/envs with GCP_PROJECT set', (t) => {
  const config = loadConfig({ GCP_PROJECT: 'counter-api-prod' });
  t.is(config.env, 'prod');
  t.is(config.project, 'counter-api-prod');
  t.is(config.stateBucket, 'counter-api-prod-tfstate');
  t.is(config.imageProject, config.project);
  t.deepEqual(config.release, PROD_RELEASE);
  t.true(Object.isFrozen(config.regions[0]));
});

test('config: without GCP_PROJECT the synth fails naming the variable, instead of using a placeholder project', (t) => {
  const error = t.throws(() => loadConfig({}), { instanceOf: InfraConfigError });
  t.deepEqual(error.problems, ['project is not set: set GCP_PROJECT to the project id']);
  t.false('project' in PROD_FILE, 'the committed environment file names no project');
});

test('deploy: the example domain, alert address and operators are refused for an apply, not for a synth', (t) => {
  const example = prodConfig();
  t.deepEqual(deployProblems(example), [
    'domain api.counter.example.com is a placeholder: set INFRA_DOMAIN',
    'alertEmail oncall@counter.example.com is a placeholder: set INFRA_ALERT_EMAIL',
    'operator group:counter-oncall@counter.example.com is a placeholder: edit "operators" in the environment file',
  ]);
  const real = prodConfig({
    file: { domain: 'api.acme.dev', alertEmail: 'sre@acme.dev', operators: ['group:sre@acme.dev'] },
  });
  t.deepEqual(deployProblems(real), []);
});

test('config: retained backups must exceed the transaction-log retention days (Cloud SQL rejects it otherwise)', (t) => {
  // Cloud SQL: "the number of retained backups must be greater than the transaction log retention days"
  // (cloud.google.com/sql/docs/postgres/backup-recovery/backups#retained-backups); provider 6.50.0,
  // website/docs/r/sql_database_instance.html.markdown: transaction_log_retention_days 1-35 on Enterprise Plus.
  t.regex(
    problems({ database: { ...(PROD_FILE['database'] as object), retainedBackups: 7, logRetentionDays: 7 } }).join(
      '\n',
    ),
    /database\.retainedBackups \(7\) must exceed database\.logRetentionDays \(7\)/,
  );
  t.regex(
    problems({ database: { ...(PROD_FILE['database'] as object), retainedBackups: 14, logRetentionDays: 30 } }).join(
      '\n',
    ),
    /must exceed/,
  );
  t.deepEqual(
    problems({ database: { ...(PROD_FILE['database'] as object), retainedBackups: 8, logRetentionDays: 7 } }),
    [],
  );
});

test('config: operators must be IAM members; excluded edge regions must exist and leave one behind', (t) => {
  t.regex(problems({ operators: ['alice@acme.dev'] }).join('\n'), /^operators must be a list/);
  t.regex(
    problems({ edge: { excludeRegions: ['us-east1'] } }).join('\n'),
    /edge\.excludeRegions names us-east1, which is not in regions/,
  );
  t.regex(
    problems({ regions: [REGION], database: {}, edge: { excludeRegions: ['europe-west1'] } }).join('\n'),
    /must leave at least one region behind the load balancer/,
  );
});

test('config: GCP_PROJECT and the INFRA_* variables override the file, and the bucket follows the project', (t) => {
  const config = loadConfig({
    GCP_PROJECT: 'acme-counter-1',
    INFRA_DOMAIN: 'counter.acme.dev',
    INFRA_ALERT_EMAIL: 'sre@acme.dev',
  });
  t.is(config.project, 'acme-counter-1');
  t.is(config.domain, 'counter.acme.dev');
  t.is(config.alertEmail, 'sre@acme.dev');
  t.is(config.stateBucket, 'acme-counter-1-tfstate');
});

test('config: INFRA_ENV selects another environment file and names a missing one', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'envs-'));
  try {
    writeFileSync(
      join(dir, 'stage.json'),
      JSON.stringify({ ...PROD_FILE, project: 'counter-api-stage', prefix: 'counter-stage' }),
    );
    writeFileSync(join(dir, 'stage.release.json'), JSON.stringify(PROD_RELEASE));
    t.is(loadConfig({ INFRA_ENV: 'stage', INFRA_ENVS_DIR: dir }).prefix, 'counter-stage');
    const error = t.throws(() => loadConfig({ INFRA_ENV: 'qa', INFRA_ENVS_DIR: dir }), {
      instanceOf: InfraConfigError,
    });
    t.regex(error.message, /qa\.json is missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config: a region with fewer than three zones is rejected by key', (t) => {
  const bad = problems({ regions: [{ ...REGION, zones: ['europe-west1-b', 'europe-west1-c'] }] });
  t.regex(bad[0] ?? '', /^regions\[0\]\.zones must list at least 3 distinct zones of europe-west1/);
  t.regex(
    problems({ regions: [{ ...REGION, zones: ['europe-west1-b', 'europe-west1-c', 'us-east1-b'] }] })[0] ?? '',
    /regions\[0\]\.zones/,
  );
});

test('config: a target utilization that one zone loss would push past 100 % is rejected', (t) => {
  t.regex(
    problems({ fleet: { targetUtilization: 0.7 } }).join('\n'),
    /fleet\.targetUtilization \(0\.7\) must be at most 0\.667/,
  );
  t.deepEqual(problems({ fleet: { targetUtilization: 0.66 } }), []);
});

test('config: overlapping or public address ranges are rejected', (t) => {
  t.regex(
    problems({ servicesCidr: '10.10.8.0/22' }).join('\n'),
    /servicesCidr \(10\.10\.8\.0\/22\) overlaps regions\[0\]\.subnetCidr/,
  );
  t.regex(problems({ servicesCidr: '8.8.8.0/24' }).join('\n'), /servicesCidr must be a private IPv4 CIDR/);
  t.regex(problems({ servicesCidr: '10.100.0.1/20' }).join('\n'), /servicesCidr must be a private IPv4 CIDR/);
});

test('config: a database tier that is not Enterprise Plus dedicated-core is rejected', (t) => {
  t.regex(problems({ database: { tier: 'db-custom-2-8192' } }).join('\n'), /database\.tier must be an Enterprise Plus/);
  t.regex(
    problems({ database: { sslMode: 'disable' } }).join('\n'),
    /database\.sslMode must be one of require, verify-ca/,
  );
});

test('config: the release must pin an exact image; a family or a canary equal to stable is rejected', (t) => {
  t.regex(
    problems({}, { image: 'family/counter-api', canary: null }).join('\n'),
    /release\.image must be an exact image name/,
  );
  t.regex(
    problems({}, { image: 'counter-api-1', canary: { image: 'counter-api-1', size: '10%' } }).join('\n'),
    /canary\.image must differ/,
  );
  t.regex(
    problems({}, { image: 'counter-api-1', canary: { image: 'counter-api-2', size: '0%' } }).join('\n'),
    /canary\.size/,
  );
});

test('config: every problem is reported at once', (t) => {
  t.is(problems({ domain: 'not a domain', alertEmail: 'nobody', fleet: { peakRps: -1 } }).length, 3);
});

test('sizing: min one VM per zone; max lets two zones carry 1,000 req/s at the target utilization', (t) => {
  const fleet = prodConfig().fleet;
  t.deepEqual(fleetSize({ ...fleet, instanceCapacityRps: 300, peakRps: 1000, targetUtilization: 0.6 }, 3), {
    minReplicas: 3,
    maxReplicas: 9,
  });
  // 1000 / (2 zones * 250 * 0.6) = 3.33 → 4 per zone.
  t.is(fleetSize({ ...fleet, instanceCapacityRps: 250, peakRps: 1000, targetUtilization: 0.6 }, 3).maxReplicas, 12);
});

test('config: the database primary must be a configured region, and the replica another one', (t) => {
  const db = PROD_FILE['database'] as object;
  t.regex(
    problems({ database: { ...db, primaryRegion: 'us-east1' } }).join('\n'),
    /database\.primaryRegion must be one of europe-west1, europe-west4/,
  );
  t.regex(
    problems({ database: { ...db, replicaRegion: 'europe-west1' } }).join('\n'),
    /database\.replicaRegion must be one of , europe-west4/,
  );
  t.is(prodConfig({ file: { database: { ...db, replicaRegion: null } } }).database.replicaRegion, null);
});
