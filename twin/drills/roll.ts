// Drill `roll`: a new image to every instance under open-loop load, by the
// MIG's proactive rolling update (surge and unavailability from
// terraform/serving-policy.ts), then the fleet audit over SSH. Goals: no
// failed request, p99 during the roll at most 50 ms, every host on the new
// image by the audit. The new version is TWIN_ROLL_TO, else whichever of
// twin-1/twin-2 the fleet is not on (baked first if not cached).

import path from 'node:path';
import { deriveImage, ensureImage } from '../image.js';
import { readFleet, writeFleet } from '../fleet.js';
import { runAudit } from '../inventory.js';
import { factGoal, maxFailures, p99DuringAtMost } from './goals.js';
import { RESULTS_DIR, type DrillSpec } from './harness.js';
import { startController, waitServing, type Controller } from './fleet-control.js';

let controller: Controller | undefined;
let target = '';

export const drill: DrillSpec = {
  name: 'roll',
  description: 'Proactive rolling update of every instance to a new image (MIG semantics), then the fleet audit.',
  rate: 1000,
  durationS: 240,
  faultAtS: 15,
  goals: [
    maxFailures(0),
    p99DuringAtMost(50),
    factGoal('audit-new-image', 'the audit finds 100 % of hosts on the new image', (f) => ({
      pass: typeof f.auditHosts === 'number' && f.auditHosts > 0 && f.auditOnNewImage === f.auditHosts,
      actual: `${String(f.auditOnNewImage)} of ${String(f.auditHosts)} hosts on ${String(f.newImage)}`,
    })),
  ],
  async setup(ctx) {
    const fleet = await readFleet();
    if (fleet === undefined) throw new Error('the twin is not up (npm run twin:up)');
    target = process.env.TWIN_ROLL_TO ?? (fleet.version === 'twin-2' ? 'twin-1' : 'twin-2');
    // TWIN_ROLL_DERIVE=1 (CI): the new image is a re-stamped copy of the current one, not a second bake.
    const image =
      process.env.TWIN_ROLL_DERIVE === '1'
        ? await deriveImage(fleet.version, target)
        : await ensureImage({ version: target, log: (l) => ctx.log(l) });
    ctx.fact('oldImage', fleet.version);
    ctx.fact('newImage', target);
    ctx.fact('newImageBakeS', Math.round(image.seconds));
    controller = await startController(ctx);
    await waitServing(controller, 10 * 60_000);
    ctx.fact('instances', controller.mig.instances.size);
    ctx.fact('maxSurge', controller.mig.maxSurge);
    ctx.fact('maxUnavailable', controller.mig.maxUnavailable);
    ctx.fact('minReadySec', controller.mig.minReadySec);
  },
  async fault(ctx) {
    const c = controller;
    if (c === undefined) throw new Error('no controller');
    const started = Date.now();
    c.mig.setTemplate(target);
    // The instance template is the MIG's setting first: a controller started later rolls on, not back.
    const fleet = await readFleet();
    if (fleet !== undefined) await writeFleet({ ...fleet, version: target });
    await waitServing(c, 15 * 60_000);
    ctx.fact('rollMs', Date.now() - started);
    ctx.log(`roll to ${target} done in ${Date.now() - started} ms: ${c.mig.describe()}`);
  },
  async settle(ctx) {
    // The image topic is what the goal reads (TWIN_ROLL_FULL_AUDIT=1 runs every topic).
    const tags = process.env.TWIN_ROLL_FULL_AUDIT === '1' ? undefined : ['audit_image'];
    const audit = await runAudit(path.join(RESULTS_DIR, 'audit-roll'), { tags });
    const hosts = Object.keys(audit.hosts).length;
    ctx.fact('auditExit', audit.code ?? -1);
    ctx.fact('auditS', Math.round(audit.seconds));
    ctx.fact('auditHosts', hosts);
    ctx.fact('auditOnNewImage', (audit.fleet.images?.[target] ?? []).length);
    ctx.fact('auditImages', JSON.stringify(audit.fleet.images ?? {}));
  },
  async cleanup() {
    await controller?.stop();
    controller = undefined;
  },
};
