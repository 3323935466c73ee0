// Drill `kill`: SIGKILL of one instance's whole container under load (a VM
// crash). The load balancer's readiness check ejects it, the MIG sees the VM
// is gone and recreates it (same name and address, as autohealing does), and
// the new VM comes back into rotation. Goals: failures at most the requests
// in flight on it at the kill or sent to it before the load balancer ejected
// it (rowsUntilOutOfRotation); ejected within the readiness check's window;
// back in rotation, time reported.

import { READINESS_CHECK } from '../../terraform/serving-policy.js';
import { crashInstance } from '../instance.js';
import { inFlightBound, listServers, rowsUntilOutOfRotation } from '../lb.js';
import { factGoal, maxFailures } from './goals.js';
import type { DrillSpec } from './harness.js';
import { lbChangeAfter, startController, waitServing, type Controller } from './fleet-control.js';

let controller: Controller | undefined;
/** Interval x unhealthy threshold + one timeout, plus 1 s for the watcher's own polling. */
export const EJECT_WINDOW_MS =
  (READINESS_CHECK.checkIntervalSec * READINESS_CHECK.unhealthyThreshold + READINESS_CHECK.timeoutSec + 1) * 1000;

export const drill: DrillSpec = {
  name: 'kill',
  description: "SIGKILL of one instance's whole container (a VM crash) under load; autohealing recreates it.",
  rate: 1000,
  durationS: 150,
  faultAtS: 15,
  goals: [
    maxFailures(
      (f) => Number(f.sentToDeadBound ?? 0),
      'the requests in flight on the instance or sent to it before it was ejected',
    ),
    factGoal('ejected', `ejected from the load balancer within ${EJECT_WINDOW_MS / 1000} s`, (f) => ({
      pass: typeof f.ejectedMs === 'number' && f.ejectedMs <= EJECT_WINDOW_MS,
      actual: `${String(f.ejectedMs)} ms`,
    })),
    factGoal('back', 'autohealed and back in rotation', (f) => ({
      pass: typeof f.backInRotationMs === 'number',
      actual: typeof f.backInRotationMs === 'number' ? `after ${f.backInRotationMs} ms` : 'no',
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
    const victim = process.env.TWIN_KILL ?? [...c.mig.instances.keys()].sort()[0];
    if (victim === undefined) throw new Error('no instance to kill');
    const before = await listServers();
    const at = Date.now();
    await crashInstance(victim);
    const inFlight = inFlightBound([victim], before, await listServers());
    const sentToDead = inFlightBound([victim], before, await rowsUntilOutOfRotation([victim], EJECT_WINDOW_MS));
    ctx.fact('victim', victim);
    ctx.fact('inFlightAtKill', inFlight);
    ctx.fact('sentToDeadBound', sentToDead);
    ctx.log(`killed ${victim} (${inFlight} requests in flight)`);
    const deadline = at + 10 * 60_000;
    for (;;) {
      const ejected = lbChangeAfter(c, victim, ['DOWN', 'MAINT', 'DRAIN', 'REMOVED'], at);
      if (ejected !== undefined && typeof ctx !== 'undefined') ctx.fact('ejectedMs', ejected.at - at);
      const back = ejected === undefined ? undefined : lbChangeAfter(c, victim, ['UP'], ejected.at);
      if (back !== undefined) {
        ctx.fact('backInRotationMs', back.at - at);
        break;
      }
      if (Date.now() > deadline) throw new Error(`${victim} not back in rotation after 10 min`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const repair = c.events.find((e) => e.type === 'repair' && e.instance === victim && e.at >= at);
    if (repair !== undefined) ctx.fact('repairStartedMs', repair.at - at);
  },
  async settle() {
    if (controller !== undefined) await waitServing(controller, 5 * 60_000);
  },
  async cleanup() {
    await controller?.stop();
    controller = undefined;
  },
};
