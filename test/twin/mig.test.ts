// The MIG controller's state machine against a fake cloud and a fake clock:
// even spread, a proactive roll that never drops available capacity below
// the target (maxUnavailable 0) nor exceeds target + maxSurge, min_ready_sec,
// and autohealing after the initial delay only.

import test from 'ava';
import { Mig, type MigDeps, type MigEvent } from '../../twin/mig.js';
import { AUTOHEAL_CHECK } from '../../terraform/serving-policy.js';

interface FakeVm {
  version: string;
  bootedAt: number;
  running: boolean;
  healthy: boolean;
}

function fakeCloud(bootMs = 20_000) {
  let now = 1_000_000;
  const vms = new Map<string, FakeVm>();
  const events: MigEvent[] = [];
  const ipToName = new Map<string, string>();
  const deps: MigDeps = {
    create: (name, _zone, ip, version) => {
      vms.set(name, { version, bootedAt: now, running: true, healthy: true });
      ipToName.set(ip, name);
      return Promise.resolve();
    },
    lbAdd: () => Promise.resolve(),
    lbDrain: () => Promise.resolve(),
    stopAndDelete: (name) => Promise.resolve(void vms.delete(name)),
    probe: (ip) => {
      const vm = vms.get(ipToName.get(ip) ?? '');
      return Promise.resolve(vm !== undefined && vm.running && vm.healthy && now - vm.bootedAt >= bootMs);
    },
    running: (name) => Promise.resolve(vms.get(name)?.running ?? false),
    now: () => now,
    log: (e) => events.push(e),
  };
  return { deps, vms, events, advance: (ms: number) => (now += ms), now: () => now };
}

async function step(mig: Mig, cloud: ReturnType<typeof fakeCloud>, seconds: number, watch?: () => void) {
  for (let s = 0; s < seconds; s++) {
    await mig.tick();
    await mig.settle();
    watch?.();
    cloud.advance(1000);
  }
}

test('mig: target size is spread evenly and every instance becomes available', async (t) => {
  const cloud = fakeCloud();
  const mig = new Mig({ zones: ['a', 'b', 'c'], targetSize: 3, version: 'v1', initialDelaySec: 300 }, cloud.deps);
  await step(mig, cloud, 60);
  t.deepEqual([...cloud.vms.keys()].sort(), ['vm-a-1', 'vm-b-1', 'vm-c-1']);
  t.true(mig.isStable());
});

test('mig: target size not divisible by the zone count is refused', (t) => {
  const cloud = fakeCloud();
  t.throws(() => new Mig({ zones: ['a', 'b', 'c'], targetSize: 4, version: 'v1', initialDelaySec: 0 }, cloud.deps), {
    message: /evenly/,
  });
});

test('mig: a roll keeps available >= target and size <= target + surge, and ends on the new version', async (t) => {
  const cloud = fakeCloud();
  const mig = new Mig({ zones: ['a', 'b', 'c'], targetSize: 6, version: 'v1', initialDelaySec: 300 }, cloud.deps);
  await step(mig, cloud, 60);
  t.true(mig.isStable());
  mig.setTemplate('v2');
  let minAvailable = Infinity;
  let maxSize = 0;
  await step(mig, cloud, 300, () => {
    const all = [...mig.instances.values()];
    minAvailable = Math.min(minAvailable, all.filter((i) => mig.isAvailable(i)).length);
    maxSize = Math.max(maxSize, cloud.vms.size);
  });
  t.true(mig.isStable(), mig.describe());
  t.deepEqual(new Set([...cloud.vms.values()].map((v) => v.version)), new Set(['v2']));
  t.is(minAvailable, 6);
  t.is(maxSize, 6 + mig.maxSurge);
  t.is(mig.maxUnavailable, 0);
  // Next free address in the zone: the first new VM in zone a is vm-a-3.
  t.true(cloud.events.some((e) => e.type === 'create' && e.instance === 'vm-a-3'));
});

test('mig: min_ready_sec delays the removal of the old instance', async (t) => {
  const cloud = fakeCloud(0);
  const mig = new Mig({ zones: ['a'], targetSize: 1, version: 'v1', initialDelaySec: 0, minReadySec: 30 }, cloud.deps);
  await step(mig, cloud, 60);
  mig.setTemplate('v2');
  const rolledAt = cloud.now();
  await step(mig, cloud, 120);
  const healthy = cloud.events.find((e) => e.type === 'first-healthy' && e.instance === 'vm-a-2');
  const deleted = cloud.events.find((e) => e.type === 'delete' && e.instance === 'vm-a-1');
  t.truthy(healthy);
  t.truthy(deleted);
  t.true((deleted?.at ?? 0) - (healthy?.at ?? 0) >= 30_000);
  t.true((deleted?.at ?? 0) > rolledAt);
});

test('mig: an unhealthy instance is recreated only after the initial delay and unhealthy threshold', async (t) => {
  const cloud = fakeCloud(0);
  const mig = new Mig({ zones: ['a'], targetSize: 1, version: 'v1', initialDelaySec: 120 }, cloud.deps);
  await step(mig, cloud, 5);
  const vm = cloud.vms.get('vm-a-1');
  if (vm === undefined) return t.fail('no vm');
  vm.healthy = false;
  const brokeAt = cloud.now();
  await step(mig, cloud, 200);
  const repair = cloud.events.find((e) => e.type === 'repair');
  t.truthy(repair);
  t.true(
    (repair?.at ?? 0) - brokeAt >= (AUTOHEAL_CHECK.unhealthyThreshold - 1) * AUTOHEAL_CHECK.checkIntervalSec * 1000,
  );
  t.true((repair?.at ?? 0) - (brokeAt - 5000) >= 120_000, 'not before the initial delay');
  t.true(cloud.vms.get('vm-a-1')?.healthy, 'recreated under the same name');
});

test('mig: a VM that stops running (crash) is recreated under the same name', async (t) => {
  const cloud = fakeCloud(0);
  const mig = new Mig({ zones: ['a', 'b'], targetSize: 2, version: 'v1', initialDelaySec: 300 }, cloud.deps);
  await step(mig, cloud, 20);
  const vm = cloud.vms.get('vm-b-1');
  if (vm === undefined) return t.fail('no vm');
  vm.running = false;
  // Recreated, then available only min_ready_sec after its first passing check.
  await step(mig, cloud, 30 + mig.minReadySec);
  t.true(cloud.events.some((e) => e.type === 'repair' && e.instance === 'vm-b-1' && e.detail === 'not running'));
  t.true(cloud.vms.get('vm-b-1')?.running);
  t.true(mig.isStable(), mig.describe());
});

test('mig: a canary puts exactly its size on the new version, keeping available >= target', async (t) => {
  const cloud = fakeCloud();
  const mig = new Mig({ zones: ['a', 'b', 'c'], targetSize: 3, version: 'v1', initialDelaySec: 300 }, cloud.deps);
  await step(mig, cloud, 60);
  mig.setCanary('v2', 1);
  t.false(mig.isStable(), 'a canary not yet placed is not stable');
  let minAvailable = Infinity;
  let maxSize = 0;
  await step(mig, cloud, 200, () => {
    minAvailable = Math.min(minAvailable, [...mig.instances.values()].filter((i) => mig.isAvailable(i)).length);
    maxSize = Math.max(maxSize, cloud.vms.size);
  });
  t.true(mig.isStable(), mig.describe());
  const byVersion = (v: string) => [...cloud.vms.entries()].filter(([, vm]) => vm.version === v).map(([n]) => n);
  t.deepEqual(byVersion('v2'), ['vm-a-2']);
  t.deepEqual(byVersion('v1').sort(), ['vm-b-1', 'vm-c-1']);
  t.is(minAvailable, 3);
  t.true(maxSize <= 3 + mig.maxSurge);
});

test('mig: rolling to the canary version keeps the canary instance and replaces the others', async (t) => {
  const cloud = fakeCloud();
  const mig = new Mig({ zones: ['a', 'b', 'c'], targetSize: 3, version: 'v1', initialDelaySec: 300 }, cloud.deps);
  await step(mig, cloud, 60);
  mig.setCanary('v2', 1);
  await step(mig, cloud, 200);
  const canary = cloud.vms.get('vm-a-2');
  mig.setTemplate('v2');
  t.is(mig.canary, undefined);
  await step(mig, cloud, 200);
  t.true(mig.isStable(), mig.describe());
  t.deepEqual([...cloud.vms.keys()].sort(), ['vm-a-2', 'vm-b-2', 'vm-c-2']);
  t.is(cloud.vms.get('vm-a-2'), canary, 'the canary VM was not recreated');
  t.false(cloud.events.some((e) => e.type === 'delete' && e.instance === 'vm-a-2'));
});

test('mig: a canary of zero, or of the whole group, is refused', (t) => {
  const cloud = fakeCloud();
  const mig = new Mig({ zones: ['a', 'b', 'c'], targetSize: 3, version: 'v1', initialDelaySec: 300 }, cloud.deps);
  t.throws(() => mig.setCanary('v2', 0), { message: /canary size/ });
  t.throws(() => mig.setCanary('v2', 3), { message: /canary size/ });
  t.is(mig.canary, undefined);
});
