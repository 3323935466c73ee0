// What the fleet drills share: the MIG controller running in the drill's
// process (probing, autohealing, rolling) for the length of the drill, the
// load balancer's view of each backend over time (to measure ejection and
// return), and the fleet's settings kept in step with the MIG's template.

import fs from 'node:fs/promises';
import path from 'node:path';
import { loadMig, readFleet, writeFleet } from '../fleet.js';
import { TWIN_STATE_DIR } from '../image.js';
import { alive } from '../instance.js';
import { listServers } from '../lb.js';
import type { Mig, MigEvent } from '../mig.js';
import type { Zone } from '../topology.js';
import type { DrillContext } from './harness.js';

export interface Controller {
  readonly mig: Mig;
  readonly events: MigEvent[];
  /** LB state changes: time, backend, status. */
  readonly lbChanges: { at: number; name: string; status: string }[];
  /** Zones where GCE creates no VM (a zone outage). */
  readonly unavailableZones: Set<Zone>;
  stop(): Promise<void>;
}

let running: Controller | undefined;

const LOCK = path.join(TWIN_STATE_DIR, 'mig.lock');

/** One MIG controller on the machine: two would fight over the fleet. */
async function takeLock(): Promise<void> {
  const holder = Number((await fs.readFile(LOCK, 'utf8').catch(() => '')).trim());
  if (holder > 0 && holder !== process.pid && alive(holder)) {
    throw new Error(`another MIG controller runs (pid ${holder}); one drill at a time`);
  }
  await fs.writeFile(LOCK, String(process.pid));
}

/** Starts the MIG (and an LB watcher) in this process; one at a time. */
export async function startController(ctx: DrillContext): Promise<Controller> {
  if (running !== undefined) return running;
  await takeLock();
  const events: MigEvent[] = [];
  const unavailableZones = new Set<Zone>();
  const { mig } = await loadMig((e) => {
    events.push(e);
    ctx.log(`mig: ${e.type} ${e.instance ?? ''} ${e.detail ?? ''}`.trimEnd());
  }, unavailableZones);
  const lbChanges: Controller['lbChanges'] = [];
  const last = new Map<string, string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await mig.tick().catch((err: unknown) => ctx.log(`mig tick: ${(err as Error).message}`));
      const servers = await listServers().catch(() => []);
      const seen = new Set<string>();
      for (const s of servers) {
        seen.add(s.name);
        const status = s.status.split(' ')[0] ?? s.status;
        if (last.get(s.name) !== status) {
          lbChanges.push({ at: Date.now(), name: s.name, status });
          last.set(s.name, status);
        }
      }
      for (const name of [...last.keys()]) {
        if (!seen.has(name)) {
          lbChanges.push({ at: Date.now(), name, status: 'REMOVED' });
          last.delete(name);
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  running = {
    mig,
    events,
    lbChanges,
    unavailableZones,
    stop: async () => {
      stopped = true;
      await loop;
      await mig.settle();
      const fleet = await readFleet();
      if (fleet !== undefined) await writeFleet({ ...fleet, version: mig.template });
      await fs.rm(LOCK, { force: true });
      running = undefined;
    },
  };
  return running;
}

/** Waits (bounded) until the MIG is stable and every backend is UP in the load balancer. */
export async function waitServing(c: Controller, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const servers = await listServers().catch(() => []);
    const names = [...c.mig.instances.keys()];
    const up = names.every((n) => servers.find((s) => s.name === n)?.status.startsWith('UP'));
    if (c.mig.isStable() && up && servers.length === names.length) return;
    if (Date.now() > deadline) {
      throw new Error(
        `fleet not serving after ${timeoutMs / 1000} s: ${c.mig.describe()}; lb ${JSON.stringify(servers)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** First LB change of `name` to one of `statuses` at or after `since`. */
export function lbChangeAfter(
  c: Controller,
  name: string,
  statuses: readonly string[],
  since: number,
): { at: number; status: string } | undefined {
  return c.lbChanges.find((e) => e.name === name && e.at >= since && statuses.includes(e.status));
}
