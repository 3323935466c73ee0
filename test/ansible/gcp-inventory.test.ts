// The GCP inventory as the installed google.cloud.gcp_compute plugin reads
// it, offline: `npm run fleet:inventory` writes it, the plugin calls Google's
// APIs through a CONNECT proxy on loopback that answers for them
// (test/helpers/gce-stub.ts), and the audits run on what it found. The
// previous hand-written inventory sent `{{ lookup(...) }}` as the project and
// its audits passed on an empty fleet; these tests fail on that.

import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GceStub, type StubInstance } from '../helpers/gce-stub.js';
import { makeHostRoot } from '../helpers/fleet-fixture.js';
import { ansibleDir, describe, repoDir, run, runOk } from '../helpers/image-exec.js';

const PROJECT = 'acme-counter-42';
const LABELS = { app: 'counter-api', env: 'prod', managed_by: 'cdktf' };
const IMAGE = 'counter-api-3f9c2a1b4d5e-20261129t101500';
const fleet: StubInstance[] = [
  {
    name: 'counter-prod-a1',
    zone: 'europe-west1-b',
    id: '101',
    labels: { ...LABELS, image: IMAGE },
    template: 'counter-prod-europe-west1-stable-1',
  },
  {
    name: 'counter-prod-c1',
    zone: 'europe-west1-c',
    id: '102',
    labels: { ...LABELS, image: IMAGE },
    template: 'counter-prod-europe-west1-stable-1',
  },
  { name: 'counter-prod-d1', zone: 'europe-west1-d', id: '103', labels: { ...LABELS } },
];

/** prod: two regions of three zones, at least one VM per zone (the autoscalers' minimum). */
const EXPECTED_HOSTS = 6;

interface Inventory {
  readonly _meta: { readonly hostvars: Readonly<Record<string, Readonly<Record<string, unknown>>>> };
  readonly [group: string]: unknown;
}

async function generated(t: { teardown: (fn: () => Promise<void>) => void }, expected?: number): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gcp-inventory-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const args = ['tsx', 'terraform/inventory.ts', '--out', path.join(dir, 'inventory')];
  if (expected !== undefined) args.push('--expected', String(expected));
  await runOk('npx', args, {
    cwd: repoDir,
    env: { ...process.env, INFRA_ENV: 'prod', GCP_PROJECT: PROJECT },
    timeoutMs: 120_000,
  });
  return dir;
}

function ansibleEnv(stub: GceStub, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...stub.env(),
    ANSIBLE_CONFIG: path.join(ansibleDir, 'ansible.cfg'),
    ANSIBLE_NOCOLOR: '1',
    ...extra,
  };
}

const hostsOf = (inventory: Inventory, group: string) =>
  [...((inventory[group] as { hosts?: string[] } | undefined)?.hosts ?? [])].sort();

test('gcp inventory: the plugin asks for the real project, finds the fleet, groups it by image label', async (t) => {
  const dir = await generated(t);
  const stub = await GceStub.start({ project: PROJECT, instances: fleet });
  t.teardown(() => stub.stop());
  const result = await run('ansible-inventory', ['-i', path.join(dir, 'inventory'), '--list'], {
    cwd: ansibleDir,
    env: ansibleEnv(stub),
    timeoutMs: 120_000,
  });
  t.is(result.code, 0, describe(result));
  const calls = stub.requests.filter((r) => r.host === 'www.googleapis.com').map((r) => r.path);
  t.deepEqual(calls, [`/compute/v1/projects/${PROJECT}/aggregated/instances`]);
  const filter = stub.requests.find((r) => r.host === 'www.googleapis.com')?.query['filter'] ?? '';
  t.is(filter, '(status = RUNNING) (labels.app = counter-api) (labels.env = prod) (labels.managed_by = cdktf)');
  const inventory = JSON.parse(result.stdout) as Inventory;
  t.deepEqual(hostsOf(inventory, 'counter_api'), ['counter-prod-a1', 'counter-prod-c1', 'counter-prod-d1']);
  t.deepEqual(hostsOf(inventory, `image_${IMAGE.replaceAll('-', '_')}`), ['counter-prod-a1', 'counter-prod-c1']);
  t.deepEqual(hostsOf(inventory, 'image_missing'), ['counter-prod-d1']);
  t.deepEqual(hostsOf(inventory, 'zone_europe_west1_b'), ['counter-prod-a1']);
  t.like(inventory._meta.hostvars['counter-prod-a1'], {
    gce_image_label: IMAGE,
    gce_zone: 'europe-west1-b',
    gce_project: PROJECT,
    gce_instance_id: '101',
    audit_expected_hosts: EXPECTED_HOSTS,
  });
  t.like(inventory._meta.hostvars['counter-prod-d1'], { gce_image_label: '' });
});

test('gcp inventory: an API error fails the inventory instead of yielding an empty fleet', async (t) => {
  const dir = await generated(t);
  const stub = await GceStub.start({ project: PROJECT, instances: fleet, status: 403 });
  t.teardown(() => stub.stop());
  const result = await run('ansible-inventory', ['-i', path.join(dir, 'inventory'), '--list'], {
    cwd: ansibleDir,
    env: ansibleEnv(stub),
    timeoutMs: 120_000,
  });
  t.not(result.code, 0, describe(result));
  t.regex(result.stderr, /Required compute\.instances\.list|Failed to parse/);
});

for (const [title, instances, seen] of [
  ['no instance (wrong project, empty fleet)', [] as StubInstance[], 0],
  ['two of the three instances', fleet.slice(0, 2), 2],
] as const) {
  test(`audit: fails before connecting anywhere when the inventory holds ${title}`, async (t) => {
    const dir = await generated(t);
    const stub = await GceStub.start({ project: PROJECT, instances });
    t.teardown(() => stub.stop());
    const result = await run('ansible-playbook', ['-i', path.join(dir, 'inventory'), 'audit.yml'], {
      cwd: ansibleDir,
      env: ansibleEnv(stub, { AUDIT_REPORT_DIR: path.join(dir, 'report') }),
      timeoutMs: 240_000,
    });
    t.not(result.code, 0, describe(result));
    t.regex(
      result.stdout,
      new RegExp(`This audit targets ${seen} host\\(s\\) .*\\sbut\\s+the fleet has at least\\s+${EXPECTED_HOSTS}`, 's'),
    );
    t.notRegex(result.stdout, /UNREACHABLE|Read the image release file/, 'no host was contacted');
  });
}

test("audit: a --limit to the canaries fails while the expected count is the whole fleet's", async (t) => {
  const dir = await generated(t);
  const stub = await GceStub.start({ project: PROJECT, instances: fleet });
  t.teardown(() => stub.stop());
  const limit = `image_${IMAGE.replaceAll('-', '_')}`;
  const result = await run('ansible-playbook', ['-i', path.join(dir, 'inventory'), 'audit.yml', '--limit', limit], {
    cwd: ansibleDir,
    env: ansibleEnv(stub, { AUDIT_REPORT_DIR: path.join(dir, 'report') }),
    timeoutMs: 240_000,
  });
  t.not(result.code, 0, describe(result));
  t.regex(
    result.stdout,
    new RegExp(`This audit targets 2 host\\(s\\) .*\\sbut\\s+the fleet has at least\\s+${EXPECTED_HOSTS}`, 's'),
  );
  t.regex(
    result.stdout,
    /fatal: \[counter-prod-a1\]/,
    'with localhost left out by --limit, a fleet host runs the count',
  );
});

test('audit: an instance without an image label fails the image audit; labelled ones pass it', async (t) => {
  const dir = await generated(t, 3);
  const root = path.join(dir, 'root');
  makeHostRoot(root, { image: IMAGE, kernel: '6.12.0-fixture', nodeVersion: process.version });
  const stub = await GceStub.start({ project: PROJECT, instances: fleet });
  t.teardown(() => stub.stop());
  // Every instance is reached locally and reads the same fixture tree.
  const vars = {
    ansible_connection: 'local',
    ansible_become: false,
    ansible_python_interpreter: '/usr/bin/python3',
    audit_root: root,
  };
  const report = path.join(dir, 'report');
  const result = await run(
    'ansible-playbook',
    ['-i', path.join(dir, 'inventory'), 'audit.yml', '--tags', 'audit_image', '--extra-vars', JSON.stringify(vars)],
    { cwd: ansibleDir, env: ansibleEnv(stub, { AUDIT_REPORT_DIR: report }), timeoutMs: 300_000 },
  );
  t.not(result.code, 0, describe(result));
  const check = async (host: string, name: string) => {
    const data = JSON.parse(await fs.readFile(path.join(report, `${host}.json`), 'utf8')) as {
      checks: { check: string; ok: boolean }[];
    };
    return data.checks.find((c) => c.check === name)?.ok;
  };
  const hasLabel = 'the instance has an image label (set by the instance template)';
  const labelMatches = "the instance's image label names the image the host says it runs";
  t.is(await check('counter-prod-a1', hasLabel), true);
  t.is(await check('counter-prod-a1', labelMatches), true);
  t.is(await check('counter-prod-d1', hasLabel), false);
  t.is(await check('counter-prod-d1', labelMatches), false);
  const summary = JSON.parse(await fs.readFile(path.join(report, 'fleet-summary.json'), 'utf8')) as {
    image_labels: Record<string, string[]>;
    hosts_with_failures: Record<string, string[]>;
  };
  t.deepEqual(Object.keys(summary.hosts_with_failures), ['counter-prod-d1']);
  t.deepEqual(summary.image_labels[IMAGE], ['counter-prod-a1', 'counter-prod-c1']);
});

test('known-hosts.yml: writes the guest-attribute host keys under the alias SSH uses, fails for a VM without keys', async (t) => {
  const dir = await generated(t);
  const stub = await GceStub.start({ project: PROJECT, instances: fleet });
  t.teardown(() => stub.stop());
  // gcloud stand-in: answers get-guest-attributes like gcloud does (JSON list of key/namespace/value).
  const bin = path.join(dir, 'bin');
  await fs.mkdir(bin);
  const calls = path.join(dir, 'gcloud-calls');
  await fs.writeFile(
    path.join(bin, 'gcloud'),
    `#!/bin/sh
echo "$*" >> '${calls}'
case "$4" in
  counter-prod-a1) echo '[{"key":"ssh-ed25519","namespace":"hostkeys","value":"AAAAC3NzaC1lZDI1NTE5AAAAIA1"},{"key":"ecdsa-sha2-nistp256","namespace":"hostkeys","value":"AAAAE2VjZHNh1"}]' ;;
  counter-prod-c1) echo '[{"key":"ssh-ed25519","namespace":"hostkeys","value":"AAAAC3NzaC1lZDI1NTE5AAAAIC2"}]' ;;
  *) echo '[]' ;;
esac
`,
    { mode: 0o755 },
  );
  const knownHosts = path.join(dir, 'known_hosts');
  const result = await run(
    'ansible-playbook',
    ['-i', path.join(dir, 'inventory'), 'known-hosts.yml', '-e', `fleet_known_hosts_file=${knownHosts}`],
    { cwd: ansibleDir, env: ansibleEnv(stub, { PATH: `${bin}:${process.env['PATH'] ?? ''}` }), timeoutMs: 240_000 },
  );
  t.not(result.code, 0, 'counter-prod-d1 published no key');
  t.regex(result.stdout, /counter-prod-d1 published no host key/);
  t.deepEqual(
    (await fs.readFile(knownHosts, 'utf8')).split('\n').filter((l) => l && !l.startsWith('#')),
    [
      'compute.101 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1',
      'compute.101 ecdsa-sha2-nistp256 AAAAE2VjZHNh1',
      'compute.102 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2',
    ],
  );
  t.regex(
    await fs.readFile(calls, 'utf8'),
    new RegExp(
      `get-guest-attributes counter-prod-a1 --project=${PROJECT} --zone=europe-west1-b --query-path=hostkeys/ --format=json`,
    ),
  );
});
