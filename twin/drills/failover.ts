// Drill `failover`: SIGKILL the database primary under load (the whole node,
// Patroni included, as a VM or zone loss; TWIN_KILL_SCOPE=postgres kills only
// the postmaster), wait for the standby's promotion, bring the node back and
// wait until it is the synchronous standby again. Goals: at least 99.99 % of
// requests 2xx, no increment lost or doubled, every answer exact again.

import { databaseStatus, killPrimary, restartNode, waitForStatus, type KillScope } from '../db/index.js';
import { exactAgainWithin, factGoal, min2xxFraction, noIncrementLostOrDoubled } from './goals.js';
import type { DrillSpec } from './harness.js';
import type { Kill } from '../db/index.js';

const scope: KillScope = process.env.TWIN_KILL_SCOPE === 'postgres' ? 'postgres' : 'node';

let killed: Kill | undefined;

export const drill: DrillSpec = {
  name: 'failover',
  description:
    `SIGKILL of the database primary (${scope === 'node' ? 'postmaster and Patroni: a node loss' : 'postmaster only'}) ` +
    'under open-loop load; the synchronous standby is promoted and the old primary rejoins as standby.',
  rate: 1000,
  durationS: 60,
  faultAtS: 10,
  goals: [
    min2xxFraction(0.9999),
    noIncrementLostOrDoubled(),
    exactAgainWithin(45_000),
    factGoal('promoted', 'the standby is promoted within 30 s', (f) => ({
      pass: typeof f.promotedMs === 'number' && f.promotedMs <= 30_000,
      actual: `${String(f.promotedMs)} ms`,
    })),
    factGoal('rejoined', 'the old primary is the synchronous standby again', (f) => ({
      pass: typeof f.rejoinedMs === 'number',
      actual: typeof f.rejoinedMs === 'number' ? `after ${f.rejoinedMs} ms` : 'no',
    })),
  ],
  async setup() {
    killed = undefined;
    const status = await databaseStatus();
    if (status.primary === undefined || status.syncStandby === undefined) {
      throw new Error(`the database pair is not healthy: ${JSON.stringify(status)}`);
    }
  },
  async fault(ctx) {
    const kill = await killPrimary(scope);
    ctx.fact('killed', `${kill.node} (${kill.scope})`);
    const promoted = await waitForStatus(
      (s) => s.primary !== undefined && s.primary !== kill.node,
      60_000,
      'the standby to be promoted',
    );
    ctx.fact('promotedMs', Date.now() - kill.at);
    ctx.fact('newPrimary', promoted.primary ?? '');
    ctx.log(`${promoted.primary} promoted after ${Date.now() - kill.at} ms`);
    killed = kill;
    restartNode(kill.node);
  },
  async settle(ctx) {
    const kill = killed;
    if (kill === undefined) return;
    await waitForStatus((s) => s.syncStandby === kill.node, 90_000, 'the old primary to rejoin as sync standby')
      .then(() => ctx.fact('rejoinedMs', Date.now() - kill.at))
      .catch((err: unknown) => ctx.log(`rejoin: ${(err as Error).message}`));
  },
};
