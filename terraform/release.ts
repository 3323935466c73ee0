// The roll command's decisions, kept pure for testing. A release is the
// stable image plus an optional canary. Rolling to an image without --canary
// makes it the stable image for every VM and drops any canary: that one form
// is the full roll, the canary promotion, the canary abort and the rollback.
// With --canary SIZE the stable image stays and the new one runs on SIZE VMs.

import { parseArgs } from 'node:util';
import { CANARY_SIZE, IMAGE_NAME, type Release } from './config-schema.js';

export interface RollRequest {
  readonly image: string;
  readonly canary: string | undefined;
  readonly apply: boolean;
  /** With --apply: the Cloud Build run whose manual approval stands for the typed "yes" (no terminal there). */
  readonly approved?: string;
}

export const ROLL_USAGE =
  'usage: npm run infra:roll -- --image <exact-image-name> [--canary <N%|N>] [--apply [--approved <build id>]]';
/** A Cloud Build id (a UUID): the approved run that applies without a terminal. */
export const BUILD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function parseRollArgs(argv: readonly string[]): RollRequest {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      image: { type: 'string' },
      canary: { type: 'string' },
      apply: { type: 'boolean', default: false },
      approved: { type: 'string' },
    },
    strict: true,
  });
  const problems: string[] = [];
  if (values.image === undefined || !IMAGE_NAME.test(values.image)) {
    problems.push(
      `--image must be an exact image name such as counter-api-3f9c2a1b4d5e-20261129t101500, not a family (got ${JSON.stringify(values.image)})`,
    );
  }
  if (values.canary !== undefined && !CANARY_SIZE.test(values.canary)) {
    problems.push(`--canary must be a percentage such as 10% or an instance count (got "${values.canary}")`);
  }
  if (values.approved !== undefined && (values.apply !== true || !BUILD_ID.test(values.approved))) {
    problems.push(
      `--approved takes the id of the approved Cloud Build run and goes with --apply (got ${JSON.stringify(values.approved)})`,
    );
  }
  if (problems.length > 0) throw new Error([...problems, ROLL_USAGE].join('\n'));
  return {
    image: values.image ?? '',
    canary: values.canary,
    apply: values.apply ?? false,
    ...(values.approved === undefined ? {} : { approved: values.approved }),
  };
}

export function rollRelease(current: Release, request: Pick<RollRequest, 'image' | 'canary'>): Release {
  if (request.canary === undefined) return { image: request.image, canary: null };
  if (request.image === current.image) {
    throw new Error(`${request.image} is already the stable image; a canary must run a different one`);
  }
  return { image: current.image, canary: { image: request.image, size: request.canary } };
}

/** Human summary of a release change, with the rollback: every VM back on the previous stable image. */
export function describeRoll(before: Release, after: Release): string[] {
  const show = (r: Release) => (r.canary ? `${r.image} + canary ${r.canary.image} on ${r.canary.size}` : r.image);
  if (show(before) === show(after)) return [`unchanged: ${show(after)}`];
  return [
    `before:   ${show(before)}`,
    `after:    ${show(after)}`,
    `rollback: npm run infra:roll -- --image ${before.image}`,
  ];
}

/**
 * VMs a canary of `size` gets in a group of `groupSize`: a fixed count as
 * given (at most the group), a percentage rounded up by the MIG, so 10 % of 3
 * VMs is 1 VM (33 %). Promotion keeps the canary's template (templates are
 * keyed by image), so those VMs are not replaced again.
 */
export function canaryInstances(size: string, groupSize: number): number {
  if (!size.endsWith('%')) return Math.min(Number(size), groupSize);
  return Math.ceil((Number(size.slice(0, -1)) * groupSize) / 100);
}
