// The image build's infrastructure is in code (base stack): the Packer
// identity and its roles, the build VM's identity, the build subnet with
// Cloud NAT (Debian's mirrors are not reachable by Private Google Access),
// and the IAP SSH rule for the build VM's network tag.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { BUILD_TAG, BUILDER_ROLES } from '../../terraform/constructs/image-build.js';
import { oneRegionConfig, refTo, resources, synth, type Block } from './helpers/synth.js';

const { base } = synth(oneRegionConfig());
const accounts = resources(base, 'google_service_account');
const builder = accounts.find((a) => String(a['account_id']).endsWith('-builder')) as Block;
const buildVm = accounts.find((a) => String(a['account_id']).endsWith('-build-vm')) as Block;

test('image build: a builder account with exactly the roles Packer needs, acting only as the build VM account', (t) => {
  const email = refTo(base, 'google_service_account', builder, 'email');
  const roles = resources(base, 'google_project_iam_member')
    .filter((m) => m['member'] === `serviceAccount:${email}`)
    .map((m) => m['role']);
  t.deepEqual(roles.sort(), [...BUILDER_ROLES].sort());
  const actsAs = resources(base, 'google_service_account_iam_member').filter(
    (g) => g['member'] === `serviceAccount:${email}`,
  );
  t.deepEqual(
    actsAs.map((g) => [g['service_account_id'], g['role'], g['member']]),
    [
      [
        refTo(base, 'google_service_account', buildVm, 'name'),
        'roles/iam.serviceAccountUser',
        `serviceAccount:${email}`,
      ],
    ],
  );
});

test('image build: the build subnet in the primary region, NAT for it, IAP SSH for the Packer tag', (t) => {
  const subnet = resources(base, 'google_compute_subnetwork').find((s) => String(s['name']).endsWith('-build'));
  t.is(subnet?.['region'], 'europe-west1');
  t.is(subnet?.['private_ip_google_access'], true);
  const rule = resources(base, 'google_compute_firewall').find((f) => String(f['name']).endsWith('allow-iap-build'));
  t.deepEqual(rule?.['target_tags'], [BUILD_TAG]);
  t.deepEqual(rule?.['source_ranges'], ['35.235.240.0/20']);
  const packerVars = readFileSync(new URL('../../images/counter-api/variables.pkr.hcl', import.meta.url), 'utf8');
  t.true(packerVars.includes(`"${BUILD_TAG}"`), 'the tag Packer puts on the build VM');
});
