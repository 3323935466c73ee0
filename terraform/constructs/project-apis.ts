// The Google APIs the deployment calls. Enabled by the base stack, never
// disabled on destroy: turning an API off in a live project breaks every
// resource that depends on it, which is not what removing this stack means.

import { Construct } from 'constructs';
import { ProjectService } from '@cdktf/provider-google/lib/project-service/index.js';

export interface ProjectApisOptions {
  readonly services?: readonly string[];
}

export const REQUIRED_APIS: readonly string[] = [
  'cloudbuild.googleapis.com',
  'cloudresourcemanager.googleapis.com',
  'compute.googleapis.com',
  'dns.googleapis.com',
  'iam.googleapis.com',
  'iap.googleapis.com',
  'logging.googleapis.com',
  'monitoring.googleapis.com',
  'oslogin.googleapis.com',
  'secretmanager.googleapis.com',
  'servicenetworking.googleapis.com',
  'sqladmin.googleapis.com',
];

export class ProjectApis extends Construct {
  public readonly services: readonly ProjectService[];

  constructor(scope: Construct, id: string, options: ProjectApisOptions = {}) {
    super(scope, id);
    this.services = (options.services ?? REQUIRED_APIS).map(
      (service) => new ProjectService(this, service.split('.')[0] ?? service, { service, disableOnDestroy: false }),
    );
  }
}
