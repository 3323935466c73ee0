// Drill `zone`: every instance of one zone goes at once (SIGKILL, a zone
// outage) and GCE creates nothing there for TWIN_ZONE_OUTAGE_S (default 30 s);
// the regional MIG keeps its even target and does not move the zone's share
// elsewhere, so the other zones carry the full rate. Then the zone returns and
// the MIG recreates its instances. Goals: failures at most the requests in
// flight on the lost instances; p99 during the outage at most 50 ms.

import { crashInstance } from '../instance.js';
import { inFlightBound, listServers, rowsUntilOutOfRotation } from '../lb.js';
import type { Zone } from '../topology.js';
import { factGoal, maxFailures, p99DuringAtMost } from './goals.js';
import type { DrillSpec } from './harness.js';
import { startController, waitServing, type Controller } from './fleet-control.js';
import { EJECT_WINDOW_MS } from './kill.js';

let controller: Controller | undefined;
const zone = (process.env.TWIN_ZONE ?? 'c') as Zone;
const outageMs = Number(process.env.TWIN_ZONE_OUTAGE_S ?? 30) * 1000;

export const drill: DrillSpec = {
  name: 'zone',
  description: `Zone ${zone} lost: all its instances SIGKILLed and no VM creatable there for ${outageMs / 1000} s.`,
  rate: 1000,
  durationS: 150,
  faultAtS: 15,
  goals: [
    maxFailures(
      (f) => Number(f.sentToDeadBound ?? 0),
      "the requests in flight on the zone's instances or sent to them before they were ejected",
    ),
    p99DuringAtMost(50),
    factGoal('restored', 'the zone is back to its target after the outage', (f) => ({
      pass: typeof f.restoredMs === 'number',
      actual: typeof f.restoredMs === 'number' ? `after ${f.restoredMs} ms` : 'no',
    })),
  ],
  async setup(ctx) {
    controller = await startController(ctx);
    await waitServing(controller, 10 * 60_000);
    ctx.fact('instances', controller.mig.instances.size);
  },
  async fault(ctx) {
    const c = controller;
    if (c === undefined) throw new Error('no controller');
    const victims = [...c.mig.instances.values()].filter((i) => i.zone === zone).map((i) => i.name);
    const before = await listServers();
    c.unavailableZones.add(zone);
    const at = Date.now();
    await Promise.all(victims.map((v) => crashInstance(v)));
    const inFlight = inFlightBound(victims, before, await listServers());
    const sentToDead = inFlightBound(victims, before, await rowsUntilOutOfRotation(victims, EJECT_WINDOW_MS));
    ctx.fact('zone', zone);
    ctx.fact('lost', victims.join(' '));
    ctx.fact('inFlightAtKill', inFlight);
    ctx.fact('sentToDeadBound', sentToDead);
    ctx.log(`zone ${zone} lost: ${victims.join(', ')}`);
    await new Promise((r) => setTimeout(r, Math.max(0, at + outageMs - Date.now())));
    c.unavailableZones.delete(zone);
    ctx.log(`zone ${zone} back`);
  },
  async settle(ctx) {
    if (controller === undefined) return;
    const start = Date.now();
    await waitServing(controller, 5 * 60_000);
    ctx.fact('restoredMs', Date.now() - start + outageMs);
  },
  async cleanup() {
    await controller?.stop();
    controller = undefined;
  },
};
