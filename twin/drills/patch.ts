// Drill `patch`: the Heartbleed path end to end under open-loop load. The
// fleet runs an image one security update behind (libssl3t64/openssl at the
// build before the newest in the archives, looked up when the drill runs);
// the audit, with its minimum raised to the fix, flags every host; the fixed
// image is made; one canary VM gets it (the MIG's canary) and is audited
// alone; the fleet rolls; the audit runs again. Goals: 100 % of hosts
// non-compliant before and 100 % compliant after (the canary too), no failed
// request, the counter exact; the wall time of each step is reported.
// The images are derived from the baked one, not baked twice (twin/patch.ts).
// If the fleet is not on the vulnerable image yet, setup rolls it there
// before the load starts (not measured).

import os from 'node:os';
import path from 'node:path';
import { imageRoot } from '../image.js';
import { readFleet, writeFleet } from '../fleet.js';
import { runAudit, type AuditResult } from '../inventory.js';
import {
  deriveFixed,
  deriveVulnerable,
  FIXED_IMAGE,
  installedVersion,
  PATCH_PACKAGES,
  patchCompliance,
  readPatchVersions,
  VULNERABLE_IMAGE,
  type PatchVersions,
} from '../patch.js';
import { factGoal, maxFailures, noIncrementLostOrDoubled } from './goals.js';
import { RESULTS_DIR, type DrillContext, type DrillSpec } from './harness.js';
import { startController, waitServing, type Controller } from './fleet-control.js';

let controller: Controller | undefined;
let versions: PatchVersions | undefined;

const seconds = (since: number) => Math.round((Date.now() - since) / 100) / 10;

/** The package topic only, its minimum raised to the fix for the patched packages. */
async function auditPatch(name: string, minVersion: string, limit?: readonly string[]): Promise<AuditResult> {
  const audit_min_package_versions = Object.fromEntries(PATCH_PACKAGES.map((p) => [p, minVersion]));
  return runAudit(path.join(RESULTS_DIR, `audit-patch-${name}`), {
    tags: ['audit_packages'],
    extraVars: { audit_min_package_versions },
    limit,
  });
}

function recordAudit(ctx: DrillContext, step: string, audit: AuditResult, minVersion: string) {
  const verdict = patchCompliance(audit.hosts, minVersion);
  ctx.fact(`${step}AuditS`, Math.round(audit.seconds * 10) / 10);
  ctx.fact(`${step}Hosts`, Object.keys(audit.hosts).length);
  ctx.fact(`${step}Compliant`, verdict.compliant.length);
  ctx.fact(`${step}NonCompliant`, verdict.nonCompliant.length);
  ctx.log(
    `audit ${step}: compliant [${verdict.compliant.join(', ')}], non-compliant [${verdict.nonCompliant.join(', ')}]`,
  );
  return verdict;
}

const all = (facts: Record<string, unknown>, step: string, key: 'Compliant' | 'NonCompliant') =>
  typeof facts[`${step}Hosts`] === 'number' &&
  (facts[`${step}Hosts`] as number) > 0 &&
  facts[`${step}${key}`] === facts[`${step}Hosts`];

export const drill: DrillSpec = {
  name: 'patch',
  description:
    'A fleet one security update behind (libssl3t64/openssl): audit, make the fixed image, canary, audit the canary, roll, audit again.',
  rate: 1000,
  durationS: 420,
  faultAtS: 15,
  goals: [
    maxFailures(0),
    noIncrementLostOrDoubled(),
    factGoal('audit-before', 'the audit flags 100 % of hosts before the patch', (f) => ({
      pass: all(f, 'before', 'NonCompliant'),
      actual: `${String(f.beforeNonCompliant)} of ${String(f.beforeHosts)} hosts non-compliant (minimum ${String(f.fixedVersion)})`,
    })),
    factGoal('audit-canary', 'the canary passes the audit', (f) => ({
      pass: f.canaryHosts === 1 && f.canaryCompliant === 1,
      actual: `${String(f.canaryCompliant)} of ${String(f.canaryHosts)} (${String(f.canary)})`,
    })),
    factGoal('audit-after', 'the audit passes on 100 % of hosts after the roll', (f) => ({
      pass: all(f, 'after', 'Compliant'),
      actual: `${String(f.afterCompliant)} of ${String(f.afterHosts)} hosts compliant`,
    })),
    factGoal('versions-differ', 'the vulnerable and fixed images differ by a real package version', (f) => ({
      pass:
        typeof f.vulnerableVersion === 'string' &&
        f.vulnerableVersion !== f.fixedVersion &&
        f.vulnerableInstalled === f.vulnerableVersion &&
        f.fixedInstalled === f.fixedVersion,
      actual: `${PATCH_PACKAGES.join('/')} ${String(f.vulnerableInstalled)} -> ${String(f.fixedInstalled)}`,
    })),
  ],
  async setup(ctx) {
    ctx.fact(
      'loadAverageAtSetup',
      os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join('/'),
    );
    const fleet = await readFleet();
    if (fleet === undefined) throw new Error('the twin is not up (npm run twin:up)');
    controller = await startController(ctx);
    await waitServing(controller, 10 * 60_000);
    if (fleet.version !== VULNERABLE_IMAGE) {
      const started = Date.now();
      versions = (await deriveVulnerable(fleet.version)).versions;
      ctx.log(
        `vulnerable image ${VULNERABLE_IMAGE} (${versions.vulnerable}) made in ${seconds(started)} s; rolling to it`,
      );
      controller.mig.setTemplate(VULNERABLE_IMAGE);
      await writeFleet({ ...fleet, version: VULNERABLE_IMAGE });
      await waitServing(controller, 15 * 60_000);
      ctx.fact('setupS', seconds(started));
    } else {
      versions = await readPatchVersions();
      if (versions === undefined)
        throw new Error(`${VULNERABLE_IMAGE} has no patch.json (make it with twin/cli.ts patch-image)`);
    }
    ctx.fact('vulnerableVersion', versions.vulnerable);
    ctx.fact('fixedVersion', versions.fixed);
    ctx.fact('candidates', versions.candidates.join(', '));
    ctx.fact('vulnerableInstalled', await installedVersion(imageRoot(VULNERABLE_IMAGE), PATCH_PACKAGES[0]));
    ctx.fact('instances', controller.mig.instances.size);
  },
  async fault(ctx) {
    const c = controller;
    const v = versions;
    if (c === undefined || v === undefined) throw new Error('setup did not finish');
    const total = Date.now();

    let step = Date.now();
    recordAudit(ctx, 'before', await auditPatch('before', v.fixed), v.fixed);

    step = Date.now();
    const fixed = await deriveFixed(v);
    ctx.fact('bakeFixedS', seconds(step));
    ctx.fact('fixedInstalled', await installedVersion(fixed.root, PATCH_PACKAGES[0]));

    step = Date.now();
    c.mig.setCanary(FIXED_IMAGE, 1);
    await waitServing(c, 15 * 60_000);
    const canary = [...c.mig.instances.values()].find((i) => i.version === FIXED_IMAGE)?.name;
    if (canary === undefined) throw new Error('no canary instance');
    ctx.fact('canary', canary);
    ctx.fact('canaryS', seconds(step));

    recordAudit(ctx, 'canary', await auditPatch('canary', v.fixed, [canary]), v.fixed);

    step = Date.now();
    c.mig.setTemplate(FIXED_IMAGE);
    const fleet = await readFleet();
    if (fleet !== undefined) await writeFleet({ ...fleet, version: FIXED_IMAGE });
    await waitServing(c, 15 * 60_000);
    ctx.fact('rollS', seconds(step));

    recordAudit(ctx, 'after', await auditPatch('after', v.fixed), v.fixed);
    ctx.fact('patchTotalS', seconds(total));
  },
  async cleanup() {
    await controller?.stop();
    controller = undefined;
  },
};
