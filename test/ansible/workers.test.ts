// Workers per VM come from one baked value: the service's unit pins the pm2
// cluster size to it and the Ops Agent scrapes exactly that many /metrics
// targets, and it matches the vCPUs of the fleet's default machine type.
// Before, the unit let the app pick one worker per vCPU at boot while the
// agent's targets were baked for two: on any other machine type workers went
// unscraped (or targets stayed down) and nothing said so.

import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { FLEET_DEFAULTS } from '../../terraform/config-schema.js';
import { renderTemplate } from '../helpers/image-ansible.js';
import { ansibleDir, readYaml } from '../helpers/image-exec.js';

interface Play {
  readonly roles?: readonly { readonly role: string; readonly vars?: Readonly<Record<string, unknown>> }[];
}

async function fleetWorkers(): Promise<unknown> {
  const vars = (await readYaml(path.join(ansibleDir, 'group_vars', 'all', 'fleet.yml'))) as Record<string, unknown>;
  return vars.fleet_workers_per_vm;
}

async function rendered(role: string, template: string, vars: Record<string, unknown>): Promise<string> {
  const file = await renderTemplate(role, template, vars);
  try {
    return await fs.readFile(file, 'utf8');
  } finally {
    await fs.rm(path.dirname(file), { recursive: true, force: true });
  }
}

test('workers per VM: one group variable, equal to the vCPUs of the fleet default machine type', async (t) => {
  const workers = Number(await fleetWorkers());
  t.true(Number.isInteger(workers) && workers > 0, `fleet_workers_per_vm = ${workers}`);
  // Predefined GCE types end in their vCPU count (n2d-standard-2, e2-highcpu-8).
  const vcpus = /-(\d+)$/.exec(FLEET_DEFAULTS.machineType)?.[1];
  t.is(Number(vcpus), workers, `${FLEET_DEFAULTS.machineType} vs fleet_workers_per_vm`);
});

test('workers per VM: bake.yml hands the same variable to the service and to the Ops Agent', async (t) => {
  const [play] = (await readYaml(path.join(ansibleDir, 'bake.yml'))) as Play[];
  const vars = (role: string) => play?.roles?.find((r) => r.role === role)?.vars ?? {};
  t.is(vars('service').service_workers, '{{ fleet_workers_per_vm }}');
  t.is(vars('ops_agent').ops_agent_metrics_workers, '{{ fleet_workers_per_vm }}');
});

test("workers per VM: the service's unit pins WEB_CONCURRENCY to the baked count", async (t) => {
  for (const workers of [2, 4]) {
    const unit = await rendered('service', 'etc/systemd/system/counter-api.service.j2', {
      service_workers: workers,
    });
    const set = unit.match(/^Environment=WEB_CONCURRENCY=.*$/gm) ?? [];
    t.deepEqual(set, [`Environment=WEB_CONCURRENCY=${workers}`]);
  }
});
