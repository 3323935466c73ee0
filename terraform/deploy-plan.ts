// The decisions of `npm run infra:deploy`, kept pure for testing: which
// checks run before anything is planned, and in which order the stacks are
// applied (base → fleet → edge → ops) or destroyed (the reverse, without
// base: Cloud SQL's deletion protection is respected, never bypassed).

import type { InfraConfig } from './config-schema.js';
import type { Layer } from './stacks/layer-stack.js';
import { names } from './naming.js';

export interface Check {
  readonly what: string;
  /** The gcloud arguments whose success means the check passed. */
  readonly gcloud: readonly string[];
  /** The layer before which it must pass (the secret exists only after base). */
  readonly before: Layer;
  readonly fix: string;
}

export function bootstrapChecks(config: InfraConfig): Check[] {
  const n = names(config);
  return [
    {
      what: `project ${config.project} exists and is reachable`,
      gcloud: ['projects', 'describe', config.project, '--format=value(projectId)'],
      before: 'base',
      fix: 'gcloud auth login, and check GCP_PROJECT',
    },
    {
      what: 'the Service Usage API is enabled (the base stack enables the rest)',
      gcloud: [
        'services',
        'list',
        '--enabled',
        `--project=${config.project}`,
        '--filter=config.name=serviceusage.googleapis.com',
        '--format=value(config.name)',
      ],
      before: 'base',
      fix: `gcloud services enable serviceusage.googleapis.com cloudresourcemanager.googleapis.com --project=${config.project}`,
    },
    {
      what: `state bucket gs://${config.stateBucket} exists`,
      gcloud: ['storage', 'buckets', 'describe', `gs://${config.stateBucket}`, '--format=value(name)'],
      before: 'base',
      fix: 'create it as in docs/infrastructure.md, "Bootstrap"',
    },
    {
      what: `image ${config.release.image} exists in ${config.imageProject}`,
      gcloud: [
        'compute',
        'images',
        'describe',
        config.release.image,
        `--project=${config.imageProject}`,
        '--format=value(name)',
      ],
      before: 'base',
      fix: 'npm run image:build, then npm run infra:roll -- --image <name>',
    },
    {
      what: `secret ${n.dbPasswordSecret} has a version (the database password)`,
      gcloud: [
        'secrets',
        'versions',
        'list',
        n.dbPasswordSecret,
        `--project=${config.project}`,
        '--limit=1',
        '--format=value(name)',
      ],
      before: 'fleet',
      fix: 'add the password and the database user as in docs/infrastructure.md, "Bootstrap"',
    },
    ...drReplicaCheck(config),
  ];
}

/**
 * With a DR replica: the primary must name it as its failover target, or the
 * region-loss runbook's `promote-replica --failover` has nothing designated.
 * The stack cannot set it when it creates both instances (the replica exists
 * only after the primary), so it is a step after base, checked here.
 */
function drReplicaCheck(config: InfraConfig): Check[] {
  const replicaRegion = config.database.replicaRegion;
  if (replicaRegion === null) return [];
  const n = names(config);
  const primary = n.sqlInstance(config.database.primaryRegion);
  const replica = n.sqlInstance(replicaRegion);
  return [
    {
      what: `Cloud SQL ${primary} names ${replica} as its disaster-recovery failover replica`,
      gcloud: [
        'sql',
        'instances',
        'list',
        `--project=${config.project}`,
        `--filter=name=${primary} AND replicationCluster.failoverDrReplicaName:${replica}`,
        '--format=value(name)',
      ],
      before: 'fleet',
      fix: `gcloud sql instances patch ${primary} --project=${config.project} --failover-dr-replica-name=${config.project}:${replica} (docs/runbook-region-loss.md)`,
    },
  ];
}

export function deployOrder(destroy: boolean): Layer[] {
  return destroy ? ['ops', 'edge', 'fleet'] : ['base', 'fleet', 'edge', 'ops'];
}
