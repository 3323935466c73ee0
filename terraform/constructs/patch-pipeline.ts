// The patch pipeline (docs/runbook-patching.md as one approved run): a manual
// Cloud Build trigger that waits for an approval before it runs
// terraform/pipeline/patch.cloudbuild.yaml, and the account it runs as. The
// account gets what the steps need and nothing else: Packer's roles for the
// bake, the fleet stack's read and write for the rolls (a plan refreshes every
// resource of that stack), the IAP tunnel and OS Login for the audits, the
// Monitoring read for the soak, objects in the state bucket, and acting as
// exactly two accounts (the fleet's, attached by the instance templates, and
// the build VM's, attached by Packer).

import type { ITerraformDependable } from 'cdktf';
import { Construct } from 'constructs';
import { CloudbuildTrigger } from '@cdktf/provider-google/lib/cloudbuild-trigger/index.js';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member/index.js';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member/index.js';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member/index.js';
import type { InfraConfig } from '../config-schema.js';
import { OVERRIDES } from '../config.js';
import type { Names } from '../naming.js';

/** The build configuration the trigger runs, relative to the repository root. */
export const PIPELINE_CONFIG = 'terraform/pipeline/patch.cloudbuild.yaml';
/** The only branch the trigger builds: what was reviewed and merged. */
export const PIPELINE_REF = 'refs/heads/main';

export const PIPELINE_ROLES: readonly string[] = [
  // Bake (Packer: build VM, disk, image) and rolls (instance templates, MIGs, autoscalers, health checks).
  'roles/compute.instanceAdmin.v1',
  'roles/compute.storageAdmin',
  // The fleet stack's plan refreshes its firewalls and reads the network (compute.networkViewer),
  // the Cloud SQL instances (data sources), the fleet account and its project and secret grants.
  'roles/compute.networkViewer',
  'roles/cloudsql.viewer',
  'roles/iam.serviceAccountViewer',
  'roles/iam.securityReviewer',
  'roles/secretmanager.viewer',
  // SSH for Packer and the audits: through IAP, as an OS Login user with sudo.
  'roles/iap.tunnelResourceAccessor',
  'roles/compute.osAdminLogin',
  // The soak reads the load balancer's request counts; the build writes its logs.
  'roles/monitoring.viewer',
  'roles/logging.logWriter',
];

export interface PatchPipelineOptions {
  readonly names: Names;
  readonly project: string;
  readonly env: string;
  readonly stateBucket: string;
  /** `_<variable>` for INFRA_ENV and every override variable (terraform/pipeline/patch-env.sh exports them). */
  readonly substitutions: Readonly<Record<string, string>>;
  readonly repoUri: string;
  /** The build VM's account (Packer attaches it); the fleet account is found by name (fleet stack). */
  readonly buildVmAccountName: string;
  /** The project's APIs (the trigger needs Cloud Build's). */
  readonly dependsOn: readonly ITerraformDependable[];
}

export class PatchPipeline extends Construct {
  public readonly account: ServiceAccount;
  public readonly trigger: CloudbuildTrigger;

  constructor(scope: Construct, id: string, o: PatchPipelineOptions) {
    super(scope, id);
    const n = o.names;
    this.account = new ServiceAccount(this, 'account', {
      accountId: n.pipelineAccount,
      displayName: 'counter-api patch pipeline (Cloud Build)',
    });
    const member = `serviceAccount:${this.account.email}`;
    for (const role of PIPELINE_ROLES)
      new ProjectIamMember(this, role.replace('roles/', ''), { project: o.project, role, member });
    new StorageBucketIamMember(this, 'state', { bucket: o.stateBucket, role: 'roles/storage.objectUser', member });
    new ServiceAccountIamMember(this, 'acts-as-fleet', {
      serviceAccountId: `projects/${o.project}/serviceAccounts/${n.fleetAccountEmail}`,
      role: 'roles/iam.serviceAccountUser',
      member,
    });
    new ServiceAccountIamMember(this, 'acts-as-build-vm', {
      serviceAccountId: o.buildVmAccountName,
      role: 'roles/iam.serviceAccountUser',
      member,
    });
    this.trigger = new CloudbuildTrigger(this, 'trigger', {
      name: n.pipelineTrigger,
      location: 'global',
      description: `Patch ${o.env}: bake, canary, soak, audit, promote, audit (docs/runbook-patching.md)`,
      serviceAccount: `projects/${o.project}/serviceAccounts/${this.account.email}`,
      // Manual: started with `gcloud builds triggers run`, never by a push, and held until approved.
      approvalConfig: { approvalRequired: true },
      sourceToBuild: { uri: o.repoUri, ref: PIPELINE_REF, repoType: 'GITHUB' },
      gitFileSource: { path: PIPELINE_CONFIG, uri: o.repoUri, revision: PIPELINE_REF, repoType: 'GITHUB' },
      // The configuration this stack was synthesized with, so the pipeline's rolls synthesize the same.
      substitutions: o.substitutions,
      dependsOn: [...o.dependsOn],
    });
  }
}

/** The trigger's substitutions: INFRA_ENV and each override variable (terraform/config.ts) with its value. */
export function pipelineSubstitutions(config: InfraConfig): Record<string, string> {
  const subs: Record<string, string> = { _INFRA_ENV: config.env };
  for (const [variable, key] of Object.entries(OVERRIDES)) {
    const value = (config as unknown as Record<string, unknown>)[key];
    if (typeof value !== 'string') throw new Error(`override ${variable} names ${key}, which is not a string setting`);
    subs[`_${variable}`] = value;
  }
  return subs;
}
