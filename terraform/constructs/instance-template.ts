// One instance template: one exact image, Shielded VM, no external IP, the
// fleet's service account, the boot metadata. Templates are immutable, so it
// is created under a name prefix with create_before_destroy: a new image
// yields a new template next to the old one, the MIG moves to it, and only
// then is the old one deleted.

import { Construct } from 'constructs';
import { ComputeInstanceTemplate } from '@cdktf/provider-google/lib/compute-instance-template/index.js';

export interface InstanceTemplateOptions {
  readonly namePrefix: string;
  readonly imageProject: string;
  readonly image: string;
  readonly machineType: string;
  readonly diskSizeGb: number;
  readonly subnetwork: string;
  readonly serviceAccountEmail: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly tags?: readonly string[];
}

export function imageSelfLink(project: string, image: string): string {
  return `projects/${project}/global/images/${image}`;
}

export class InstanceTemplate extends Construct {
  public readonly template: ComputeInstanceTemplate;

  constructor(scope: Construct, id: string, options: InstanceTemplateOptions) {
    super(scope, id);
    this.template = new ComputeInstanceTemplate(this, 'template', {
      namePrefix: options.namePrefix,
      description: `counter-api on image ${options.image}`,
      machineType: options.machineType,
      labels: { ...options.labels, image: options.image },
      tags: [...(options.tags ?? ['counter-api'])],
      disk: [
        {
          boot: true,
          autoDelete: true,
          sourceImage: imageSelfLink(options.imageProject, options.image),
          diskType: 'pd-balanced',
          diskSizeGb: options.diskSizeGb,
        },
      ],
      // No access_config block: the interface has a private address only.
      networkInterface: [{ subnetwork: options.subnetwork }],
      serviceAccount: { email: options.serviceAccountEmail, scopes: ['cloud-platform'] },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      scheduling: { automaticRestart: true, onHostMaintenance: 'MIGRATE', provisioningModel: 'STANDARD' },
      metadata: { ...options.metadata },
      lifecycle: { createBeforeDestroy: true },
    });
  }
}
