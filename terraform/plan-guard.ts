// Checks on a saved Terraform plan (`terraform show -json <plan>`) before it
// is applied. A regional MIG cannot be deleted while the edge stack's backend
// service still lists it (the API answers "resource in use"), and its name,
// zones and base instance name force replacement, which is a delete. So a
// fleet plan that deletes or replaces a MIG is stopped here with the order
// that works: take the region out of the backend service first.

export const GROUP_TYPE = 'google_compute_region_instance_group_manager';

interface ResourceChange {
  readonly address?: unknown;
  readonly type?: unknown;
  readonly change?: { readonly actions?: unknown };
}

/** Addresses of the MIGs that the plan deletes (alone or as part of a replacement). */
export function groupRemovals(plan: unknown): string[] {
  const changes = (plan as { resource_changes?: unknown } | null)?.resource_changes;
  if (!Array.isArray(changes)) throw new Error('not a terraform plan in JSON: resource_changes is missing');
  return (changes as ResourceChange[])
    .filter((c) => c.type === GROUP_TYPE)
    .filter((c) => Array.isArray(c.change?.actions) && c.change.actions.includes('delete'))
    .map((c) => String(c.address));
}

/** The steps that remove a MIG safely, for the error message and the docs. */
export function groupRemovalOrder(env: string, addresses: readonly string[]): string {
  return [
    `This fleet plan deletes or replaces ${addresses.join(', ')}; the edge stack's backend service still uses it.`,
    'Apply in this order instead:',
    `  1. add the region to "edge.excludeRegions" in terraform/envs/${env}.json, synth, apply edge-${env}`,
    '     (the other regions carry the traffic; with one region this is an outage: add a region first)',
    `  2. apply fleet-${env} (the MIG is deleted or replaced)`,
    `  3. remove the region from "edge.excludeRegions" (unless it is gone from "regions"), synth, apply edge-${env}`,
  ].join('\n');
}
