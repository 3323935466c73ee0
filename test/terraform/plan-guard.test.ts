// The checks run on a saved plan before apply: a fleet plan that deletes or
// replaces a MIG is stopped with the order that works (the edge stack's
// backend service must release the group first), and only a typed "yes"
// applies a plan.

import test from 'ava';
import { groupRemovalOrder, groupRemovals } from '../../terraform/plan-guard.js';
import { isYes } from '../../terraform/terraform-cli.js';

const change = (address: string, type: string, actions: string[]) => ({ address, type, change: { actions } });
const MIG = 'google_compute_region_instance_group_manager';

test('plan guard: finds MIG deletions and replacements (either order), ignores updates and other types', (t) => {
  const plan = {
    resource_changes: [
      change(`${MIG}.a`, MIG, ['update']),
      change(`${MIG}.b`, MIG, ['delete', 'create']),
      change(`${MIG}.c`, MIG, ['create', 'delete']),
      change(`${MIG}.d`, MIG, ['delete']),
      change('google_compute_instance_template.t', 'google_compute_instance_template', ['delete']),
      change(`${MIG}.e`, MIG, ['no-op']),
    ],
  };
  t.deepEqual(groupRemovals(plan), [`${MIG}.b`, `${MIG}.c`, `${MIG}.d`]);
  t.deepEqual(groupRemovals({ resource_changes: [] }), []);
  t.throws(() => groupRemovals({ format_version: '1.2' }), { message: /resource_changes is missing/ });
});

test('plan guard: the advice names the edge step first, then the fleet, then the edge again', (t) => {
  const text = groupRemovalOrder('prod', [`${MIG}.b`]);
  const steps = ['1. add the region to "edge.excludeRegions"', '2. apply fleet-prod', '3. remove the region'];
  const positions = steps.map((s) => text.indexOf(s));
  t.true(positions.every((p) => p > 0));
  t.deepEqual(
    [...positions].sort((a, b) => a - b),
    positions,
  );
});

test('apply confirmation: only a typed "yes" applies', (t) => {
  t.true(isYes('yes'));
  t.true(isYes('yes\n'));
  for (const answer of ['', 'y', 'Y', 'YES', 'no', 'yes please']) t.false(isYes(answer), answer);
});
