// Who the API instances are and what may reach them. A dedicated service
// account (never the default compute one) with three grants and nothing more:
// write logs, write metrics, read the one database password secret. OS Login
// users must also "act as" the account of a VM they log in to, so the
// configured operators get roles/iam.serviceAccountUser on this account only
// (never on the project). The
// firewall rules target this service account rather than a network tag, so
// only instances running as the fleet are opened, and only to the load
// balancer's probe/proxy ranges on the app port and to IAP on SSH.

import { Construct } from 'constructs';
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall/index.js';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member/index.js';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member/index.js';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member/index.js';
import type { ITerraformDependable } from 'cdktf';
import { APP_PORT, type Names } from '../naming.js';

/** Source ranges of Google's health checks and of the global external ALB's proxies (GFEs). */
export const LB_SOURCE_RANGES: readonly string[] = ['35.191.0.0/16', '130.211.0.0/22'];
/** Source range of Identity-Aware Proxy TCP forwarding. */
export const IAP_SOURCE_RANGES: readonly string[] = ['35.235.240.0/20'];
export const FLEET_PROJECT_ROLES: readonly string[] = ['roles/logging.logWriter', 'roles/monitoring.metricWriter'];

export interface FleetIdentityOptions {
  readonly names: Names;
  readonly project: string;
  readonly networkId: string;
  readonly passwordSecretId: string;
  /** IAM members (group:…, user:…) who SSH to the fleet through IAP with OS Login. */
  readonly operators: readonly string[];
}

export class FleetIdentity extends Construct {
  public readonly serviceAccount: ServiceAccount;
  /** The grants a VM needs at first boot; the MIG depends on them. */
  public readonly bootGrants: ITerraformDependable[] = [];

  constructor(scope: Construct, id: string, options: FleetIdentityOptions) {
    super(scope, id);
    const n = options.names;
    this.serviceAccount = new ServiceAccount(this, 'account', {
      accountId: n.fleetAccount,
      displayName: 'counter-api instances',
      description: 'Runs the counter-api VMs: logs, metrics and the DB password secret only.',
    });
    const member = `serviceAccount:${this.serviceAccount.email}`;
    for (const role of FLEET_PROJECT_ROLES) {
      this.bootGrants.push(
        new ProjectIamMember(this, role.replace('roles/', ''), { project: options.project, role, member }),
      );
    }
    this.bootGrants.push(
      new SecretManagerSecretIamMember(this, 'db-password-reader', {
        secretId: options.passwordSecretId,
        role: 'roles/secretmanager.secretAccessor',
        member,
      }),
    );
    options.operators.forEach((operator, i) => {
      new ServiceAccountIamMember(this, `operator-${i}`, {
        serviceAccountId: this.serviceAccount.name,
        role: 'roles/iam.serviceAccountUser',
        member: operator,
      });
    });
    new ComputeFirewall(this, 'allow-lb', {
      name: n.firewall('allow-lb-to-api'),
      network: options.networkId,
      direction: 'INGRESS',
      priority: 1000,
      sourceRanges: [...LB_SOURCE_RANGES],
      targetServiceAccounts: [this.serviceAccount.email],
      allow: [{ protocol: 'tcp', ports: [String(APP_PORT)] }],
    });
    new ComputeFirewall(this, 'allow-iap-ssh', {
      name: n.firewall('allow-iap-ssh'),
      network: options.networkId,
      direction: 'INGRESS',
      priority: 1000,
      sourceRanges: [...IAP_SOURCE_RANGES],
      targetServiceAccounts: [this.serviceAccount.email],
      allow: [{ protocol: 'tcp', ports: ['22'] }],
      logConfig: { metadata: 'INCLUDE_ALL_METADATA' },
    });
  }
}
